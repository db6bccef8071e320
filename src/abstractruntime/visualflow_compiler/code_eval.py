"""Evaluate one code-node snippet or expression in the current process (what the code worker runs).

This is the first line of defence only: the restricted language (``code_policy``), the runtime guards and
the step/time budget (``code_guards``).  It runs inside the child process of ``code_sandbox``, under OS
limits; never call it in a host process on code from a flow.

It imports nothing outside the standard library and its sibling ``code_*`` modules (the worker loads it
without the rest of the package) and reports every failure as :class:`CodeFailure`.
"""

from __future__ import annotations

import ast
import functools
import inspect
import keyword
import re
from collections.abc import Callable, Iterable
from types import CodeType
from typing import Any

from .code_guards import _Budget, _restricted_globals
from .code_policy import _FILENAME, _BudgetExceeded, _Forbidden, _Rewriter, _validate

__all__ = ["CodeFailure", "evaluate_snippet", "prepare", "run_snippet", "validate_tree"]


class CodeFailure(Exception):
    """A snippet failed; ``kind`` is a ``CodeNodeErrorKind``, ``limit`` names an exhausted budget."""

    def __init__(self, message: str, *, kind: str = "runtime", limit: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.limit = limit


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


def _wrap_body(body: str, inputs: Iterable[Any]) -> str:
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


def prepare(code: str, inputs: Iterable[Any]) -> ast.Module:
    """The module of ``code``; a source without a top-level ``def`` is wrapped as ``transform(_input)``
    (``inputs``: the input names, bound as locals of the wrapper)."""
    try:
        tree = _parse(code)
    except SyntaxError:
        tree = None
    if not (isinstance(tree, ast.Module) and any(isinstance(s, ast.FunctionDef) for s in tree.body)):
        try:
            tree = _parse(_wrap_body(code, inputs))
        except SyntaxError as exc:
            raise CodeFailure(f"code node has a syntax error: {exc}", kind="syntax") from exc
    assert isinstance(tree, ast.Module)
    return tree


def validate_tree(tree: ast.AST) -> None:
    """Check ``tree`` against the restricted language; raise CodeFailure(kind="forbidden") if it is not."""
    try:
        _validate(tree)
    except _Forbidden as exc:
        raise CodeFailure(str(exc), kind="forbidden") from exc


# ---------------------------------------------------------------------------------------------- calling
def _pick_function(
    defs: list[str], namespace: dict[str, Any], function_name: str | None
) -> Callable[..., Any]:
    for candidate in (function_name, "transform"):
        if candidate and candidate in defs and callable(namespace.get(candidate)):
            fn: Callable[..., Any] = namespace[candidate]
            return fn
    if len(defs) == 1 or (defs and not function_name):
        return namespace[defs[-1]]  # type: ignore[no-any-return]
    raise CodeFailure(
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


def _guarded(what: str, work: Callable[[], Any]) -> Any:
    """Run ``work``, turning every failure but MemoryError into a CodeFailure (``what``: message prefix)."""
    try:
        return work()
    except (CodeFailure, MemoryError):
        raise
    except _Forbidden as exc:
        raise CodeFailure(str(exc), kind="forbidden") from exc
    except _BudgetExceeded as exc:
        limit = "steps" if "step" in str(exc) else "time"
        raise CodeFailure(f"{what} stopped: {exc}", kind="budget", limit=limit) from None
    except SyntaxError as exc:
        raise CodeFailure(f"{what} has a syntax error: {exc}", kind="syntax") from exc
    except Exception as exc:
        raise CodeFailure(f"{what} failed: {type(exc).__name__}: {exc}") from exc


@functools.lru_cache(maxsize=64)
def _compile_module(code: str, names: tuple[Any, ...], unsafe: bool) -> tuple[list[str], CodeType]:
    """Parse, check, rewrite and compile a snippet once (the top-level ``def`` names and the code object);
    the worker serves the same node many times, so this is cached (failures are not)."""
    tree = prepare(code, names)
    defs = [s.name for s in tree.body if isinstance(s, ast.FunctionDef)]
    if unsafe:
        return defs, compile(tree, _FILENAME, "exec")
    validate_tree(tree)
    return defs, compile(ast.fix_missing_locations(_Rewriter().visit(tree)), _FILENAME, "exec")


@functools.lru_cache(maxsize=64)
def _compile_expression(expression: str) -> CodeType:
    tree = _parse(expression.strip(), mode="eval")
    validate_tree(tree)
    return compile(ast.fix_missing_locations(_Rewriter().visit(tree)), _FILENAME, "eval")


def run_snippet(
    *,
    code: str,
    function_name: str | None,
    inputs: dict[str, Any],
    unsafe: bool,
    max_steps: int,
    timeout_s: float,
) -> Any:
    """Run a code node's function on ``inputs`` (see ``code_runner.run_code_node``) and return its result.

    ``timeout_s`` is the in-process time budget in seconds; ``max_steps`` the traced-step budget.  Both
    apply to restricted code only.  Raises CodeFailure (or MemoryError, left to the worker).
    """

    def work() -> Any:
        defs, compiled = _compile_module(code, tuple(inputs), unsafe)
        if unsafe:
            namespace: dict[str, Any] = {"__name__": "code_node"}
            exec(compiled, namespace)
            return _call(_pick_function(defs, namespace, function_name), inputs)
        namespace = _restricted_globals()
        budget = _Budget(max_steps, timeout_s)
        budget.run(lambda: exec(compiled, namespace))
        fn = _pick_function(defs, namespace, function_name)
        return budget.run(lambda: _call(fn, inputs))

    return _guarded("code node", work)


def evaluate_snippet(expression: str, variables: dict[str, Any], *, max_steps: int, timeout_s: float) -> Any:
    """Evaluate one restricted expression over ``variables`` (names starting with ``__`` are ignored)."""

    def work() -> Any:
        compiled = _compile_expression(expression)
        namespace = _restricted_globals()
        for key, value in variables.items():
            if isinstance(key, str) and not key.startswith("__"):
                namespace[key] = value
        return _Budget(max_steps, timeout_s).run(lambda: eval(compiled, namespace))

    return _guarded("expression", work)
