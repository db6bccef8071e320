"""Run the Python of VisualFlow ``code`` nodes, restricted by default.

A flow file can come from anywhere, so loading and running it must not run arbitrary Python. By default a code
node runs in a **restricted** mode:

* the source is parsed with :mod:`ast` and every syntax node is checked against a whitelist (functions, loops,
  ``if``/``try``/``except``, assignments, comprehensions, f-strings, literals and operators; no classes, no
  ``with``, no ``global``, no ``finally``, no bare ``except``, no async, no decorators);
* names starting with ``__`` are refused, as are ``eval``/``exec``/``open``/``getattr``/... ; the only
  builtins are a safe list (``len``, ``str``, ``int``, ``isinstance``, ``sorted``, ``range`` ...);
  ``import json``/``import math`` bind small safe namespaces, any other import is refused;
* every attribute access goes through a checker that allows only a list of plain methods of ``str``,
  ``list``, ``dict``, ``set``, ``tuple`` and numbers (``str.format`` refuses attribute lookups in fields);
* ``*``, ``**``, ``<<`` and ``+`` refuse results that would exceed size limits (memory bombs);
* the code runs under a step budget and a wall-clock budget enforced by a trace function.

``allow_unsafe=True`` is an explicit opt-in for trusted flows: the code runs as plain Python via ``exec``
with the normal builtins and no budget. See ``docs/visualflow-code-nodes.md``.
"""

from __future__ import annotations

import ast
import copy
import inspect
import keyword
import re
from collections.abc import Callable
from typing import Any

from .code_errors import CodeNodeError
from .code_guards import _Budget, _restricted_globals
from .code_limits import DEFAULT_MAX_STEPS, DEFAULT_TIMEOUT_S
from .code_policy import _FILENAME, _BudgetExceeded, _Forbidden, _Rewriter, _validate

__all__ = [
    "DEFAULT_MAX_STEPS",
    "DEFAULT_TIMEOUT_S",
    "code_from_node_data",
    "evaluate_expression",
    "run_code_node",
    "validate_code",
]


# ---------------------------------------------------------------------------------------------- parsing
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _parse(source: str, mode: str = "exec") -> ast.AST:
    """Parse, retrying once with ``\\uXXXX`` escapes decoded: f-strings with backslashes inside ``{...}``
    (valid from Python 3.12, used by some published flows) then parse on 3.10/3.11 too."""
    try:
        return ast.parse(source, filename=_FILENAME, mode=mode)
    except SyntaxError as first:
        fixed = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), source)
        if fixed != source:
            try:
                return ast.parse(fixed, filename=_FILENAME, mode=mode)
            except SyntaxError:
                pass
        raise first


def _wrap_body(body: str, inputs: dict[str, Any]) -> str:
    """Turn a bare function body (the editor's ``codeBody``) into ``def transform(_input): ...``."""
    lines = ["def transform(_input):", "    _input = _input if isinstance(_input, dict) else {}"]
    for key in inputs:
        if (
            isinstance(key, str)
            and key.isidentifier()
            and not keyword.iskeyword(key)
            and not key.startswith("_")
        ):
            lines.append(f"    {key} = _input.get({key!r})")
    stripped = body.strip("\n")
    try:
        tree = ast.parse(stripped)
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
            stripped = "return " + stripped.strip()
    except SyntaxError:
        pass
    lines.extend("    " + line for line in stripped.splitlines())
    return "\n".join(lines) + "\n"


def code_from_node_data(node_data: dict[str, Any]) -> str:
    """The source of a code node: ``data.code`` (full source), else ``data.codeBody``, else ``""``."""
    for key in ("code", "codeBody"):
        value = node_data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def _prepare(code: str, inputs: dict[str, Any]) -> ast.Module:
    try:
        tree = _parse(code)
    except SyntaxError:
        tree = None
    if not (isinstance(tree, ast.Module) and any(isinstance(s, ast.FunctionDef) for s in tree.body)):
        try:
            tree = _parse(_wrap_body(code, inputs))
        except SyntaxError as exc:
            raise CodeNodeError(f"code node has a syntax error: {exc}", kind="syntax") from exc
    assert isinstance(tree, ast.Module)
    return tree


def validate_code(code: str) -> None:
    """Check that ``code`` parses and uses only what the restricted mode allows; raise CodeNodeError if not."""
    tree = _prepare(code, {})
    try:
        _validate(tree)
    except _Forbidden as exc:
        raise CodeNodeError(str(exc), kind="forbidden") from exc


def _pick_function(
    tree: ast.Module, namespace: dict[str, Any], function_name: str | None
) -> Callable[..., Any]:
    defs = [s.name for s in tree.body if isinstance(s, ast.FunctionDef)]
    for candidate in (function_name, "transform"):
        if candidate and candidate in defs and callable(namespace.get(candidate)):
            fn: Callable[..., Any] = namespace[candidate]
            return fn
    if len(defs) == 1 or (defs and not function_name):
        return namespace[defs[-1]]  # type: ignore[no-any-return]
    raise CodeNodeError(
        f"code node defines no function named {function_name or 'transform'!r} (found: {defs})",
        kind="missing_function",
    )


def _call(fn: Callable[..., Any], inputs: dict[str, Any]) -> Any:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return fn(inputs)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not params:
        return fn()
    if len(positional) == 1 or (any(p.kind == p.VAR_POSITIONAL for p in params) and len(positional) <= 1):
        return fn(inputs)
    kwargs = {p.name: inputs[p.name] for p in params if p.name in inputs and p.kind != p.VAR_POSITIONAL}
    return fn(**kwargs)


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 - an uncopyable host value: fall back to a shallow copy
        return dict(value)


# ----------------------------------------------------------------------------------------------- public
def run_code_node(
    *,
    code: str,
    function_name: str | None,
    inputs: dict[str, Any],
    allow_unsafe: bool = False,
    max_steps: int = DEFAULT_MAX_STEPS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    node_id: str | None = None,
) -> Any:
    """Run a code node's function with ``inputs`` and return what it returns.

    The function is ``function_name`` when the code defines it, else ``transform`` (what the published flows
    use), else the last top-level ``def``. It is called with one argument, the dict of input pins (a deep
    copy); a function with no parameter is called without arguments, one with several named parameters gets
    them by name. Code without any ``def`` (a bare body) runs as ``transform(_input)`` with each input pin also
    bound as a local variable; a single bare expression is returned.

    Restricted by default (see the module docstring). ``allow_unsafe=True`` runs the code as real Python,
    unchecked and unbounded: only for flows you trust. Every failure raises :class:`CodeNodeError`.
    """
    if not isinstance(code, str) or not code.strip():
        raise CodeNodeError("code node has no code", kind="syntax", node_id=node_id)
    args = _copy(inputs if isinstance(inputs, dict) else {})
    try:
        tree = _prepare(code, args)
        if allow_unsafe:
            namespace: dict[str, Any] = {"__name__": "code_node"}
            exec(compile(tree, _FILENAME, "exec"), namespace)
            return _call(_pick_function(tree, namespace, function_name), args)
        _validate(tree)
        rewritten = ast.fix_missing_locations(_Rewriter().visit(tree))
        compiled = compile(rewritten, _FILENAME, "exec")
        namespace = _restricted_globals()
        budget = _Budget(max_steps, timeout_s)
        budget.run(lambda: exec(compiled, namespace))
        fn = _pick_function(tree, namespace, function_name)
        return budget.run(lambda: _call(fn, args))
    except CodeNodeError as exc:
        exc.node_id = exc.node_id or node_id
        raise
    except _Forbidden as exc:
        raise CodeNodeError(str(exc), kind="forbidden", node_id=node_id) from exc
    except _BudgetExceeded as exc:
        raise CodeNodeError(f"code node stopped: {exc}", kind="budget", node_id=node_id) from None
    except SyntaxError as exc:
        raise CodeNodeError(f"code node has a syntax error: {exc}", kind="syntax", node_id=node_id) from exc
    except Exception as exc:
        raise CodeNodeError(f"code node failed: {type(exc).__name__}: {exc}", node_id=node_id) from exc


def evaluate_expression(
    expression: str,
    variables: dict[str, Any],
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """Evaluate one restricted Python expression (same rules as restricted code nodes) over ``variables``.

    Variables whose names start with ``__`` are ignored. Raises :class:`CodeNodeError` on any failure.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise CodeNodeError("empty expression", kind="syntax")
    try:
        tree = _parse(expression.strip(), mode="eval")
        _validate(tree)
        rewritten = ast.fix_missing_locations(_Rewriter().visit(tree))
        compiled = compile(rewritten, _FILENAME, "eval")
        namespace = _restricted_globals()
        for key, value in _copy(variables if isinstance(variables, dict) else {}).items():
            if isinstance(key, str) and not key.startswith("__"):
                namespace[key] = value
        return _Budget(max_steps, timeout_s).run(lambda: eval(compiled, namespace))
    except _Forbidden as exc:
        raise CodeNodeError(str(exc), kind="forbidden") from exc
    except _BudgetExceeded as exc:
        raise CodeNodeError(f"expression stopped: {exc}", kind="budget") from None
    except SyntaxError as exc:
        raise CodeNodeError(f"expression has a syntax error: {exc}", kind="syntax") from exc
    except Exception as exc:
        raise CodeNodeError(f"expression failed: {type(exc).__name__}: {exc}") from exc
