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
import json
import keyword
import math
import re
import string
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from .code_errors import CodeNodeError

__all__ = [
    "DEFAULT_MAX_STEPS",
    "DEFAULT_TIMEOUT_S",
    "code_from_node_data",
    "evaluate_expression",
    "run_code_node",
    "validate_code",
]

DEFAULT_MAX_STEPS = 2_000_000
"""Traced line/call events a restricted run may use."""
DEFAULT_TIMEOUT_S = 10.0
"""Wall-clock seconds a restricted run may use."""
MAX_SEQUENCE_LEN = 10_000_000
"""Largest string/list/tuple that ``*``/``+`` may build, and the longest ``range``."""

_FILENAME = "<code-node>"

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Module,
    ast.Expression,
    ast.FunctionDef,
    ast.Lambda,
    ast.arguments,
    ast.arg,
    ast.keyword,
    ast.Return,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.For,
    ast.While,
    ast.If,
    ast.Break,
    ast.Continue,
    ast.Pass,
    ast.Try,
    ast.ExceptHandler,
    ast.Raise,
    ast.Assert,
    ast.Delete,
    ast.Expr,
    ast.Nonlocal,
    ast.Import,
    ast.alias,
    ast.BoolOp,
    ast.BinOp,
    ast.UnaryOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Name,
    ast.Starred,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Dict,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.comprehension,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.NamedExpr,
    ast.expr_context,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
    ast.boolop,
)

_STR_METHODS = frozenset(
    [
        "capitalize",
        "casefold",
        "center",
        "count",
        "endswith",
        "expandtabs",
        "find",
        "format",
        "format_map",
        "index",
        "isalnum",
        "isalpha",
        "isascii",
        "isdecimal",
        "isdigit",
        "isidentifier",
        "islower",
        "isnumeric",
        "isspace",
        "istitle",
        "isupper",
        "join",
        "ljust",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "replace",
        "rfind",
        "rindex",
        "rjust",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
        "zfill",
    ]
)
_LIST_METHODS = frozenset(
    ["append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse", "sort"]
)
_DICT_METHODS = frozenset(
    ["clear", "copy", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values"]
)
_SET_METHODS = frozenset(
    [
        "add",
        "clear",
        "copy",
        "difference",
        "difference_update",
        "discard",
        "intersection",
        "intersection_update",
        "isdisjoint",
        "issubset",
        "issuperset",
        "pop",
        "remove",
        "symmetric_difference",
        "union",
        "update",
    ]
)
_TUPLE_METHODS = frozenset({"count", "index"})
_NUMBER_METHODS = frozenset({"is_integer", "bit_length", "real", "imag", "conjugate"})
_ALL_METHODS = (
    _STR_METHODS | _LIST_METHODS | _DICT_METHODS | _SET_METHODS | _TUPLE_METHODS | _NUMBER_METHODS | {"args"}
)

_SAFE_EXCEPTIONS: dict[str, type[Exception]] = {
    "Exception": Exception,
    "ValueError": ValueError,
    "TypeError": TypeError,
    "KeyError": KeyError,
    "IndexError": IndexError,
    "LookupError": LookupError,
    "ArithmeticError": ArithmeticError,
    "ZeroDivisionError": ZeroDivisionError,
    "AttributeError": AttributeError,
    "RuntimeError": RuntimeError,
    "NameError": NameError,
    "AssertionError": AssertionError,
}

_BLOCKED_NAMES = frozenset(
    [
        "eval",
        "exec",
        "compile",
        "open",
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "globals",
        "locals",
        "vars",
        "dir",
        "type",
        "object",
        "super",
        "breakpoint",
        "help",
        "memoryview",
        "classmethod",
        "staticmethod",
        "property",
        "input_",
        "exit",
        "quit",
    ]
)


class _Forbidden(Exception):
    """Internal: the validator refused a construct."""


class _BudgetExceeded(BaseException):
    """Internal: the step or time budget ran out (a BaseException so ``except Exception`` cannot catch it)."""


class _Namespace:
    """A read-only module stand-in (``json``, ``math``) exposing only whitelisted callables/constants."""

    def __init__(self, name: str, members: dict[str, Any]) -> None:
        self._name = name
        self._members = members

    def get(self, attr: str) -> Any:
        if attr not in self._members:
            raise AttributeError(f"module {self._name!r} has no allowed attribute {attr!r}")
        return self._members[attr]

    def __repr__(self) -> str:
        return f"<safe module {self._name}>"


_MODULES: dict[str, _Namespace] = {
    "json": _Namespace("json", {"loads": json.loads, "dumps": json.dumps, "JSONDecodeError": ValueError}),
    "math": _Namespace(
        "math",
        {
            name: getattr(math, name)
            for name in [
                "ceil",
                "floor",
                "sqrt",
                "exp",
                "log",
                "log10",
                "log2",
                "fabs",
                "isfinite",
                "isnan",
                "isinf",
                "pi",
                "e",
                "inf",
                "trunc",
            ]
        },
    ),
}


# --------------------------------------------------------------------------------------------- validation
def _bound_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
    return names


def _check_name(name: str, where: ast.AST) -> None:
    if name.startswith("__"):
        raise _Forbidden(f"name {name!r} is not allowed (line {getattr(where, 'lineno', '?')})")


def _validate(tree: ast.AST) -> None:
    bound = _bound_names(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if not isinstance(node, _ALLOWED_NODES):
            raise _Forbidden(f"{type(node).__name__} is not allowed in restricted code (line {line})")
        if isinstance(node, ast.Name):
            _check_name(node.id, node)
            if node.id in _BLOCKED_NAMES and node.id not in bound:
                raise _Forbidden(f"{node.id!r} is not available in restricted code (line {line})")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_") or node.attr not in _ALL_METHODS | {"loads", "dumps"} | set(
                _MODULES["math"]._members
            ):
                raise _Forbidden(f"attribute {node.attr!r} is not allowed (line {line})")
            if not isinstance(node.ctx, ast.Load):
                raise _Forbidden(f"assigning or deleting attributes is not allowed (line {line})")
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
            if isinstance(node, ast.FunctionDef):
                _check_name(node.name, node)
                if node.decorator_list:
                    raise _Forbidden(f"decorators are not allowed (line {line})")
        elif isinstance(node, ast.arg):
            _check_name(node.arg, node)
        elif isinstance(node, ast.keyword):
            if node.arg is not None:
                _check_name(node.arg, node)
        elif isinstance(node, ast.Try):
            if node.finalbody:
                raise _Forbidden(f"'finally' is not allowed in restricted code (line {line})")
        elif isinstance(node, ast.ExceptHandler):
            _check_handler(node)
        elif isinstance(node, ast.comprehension):
            if node.is_async:
                raise _Forbidden(f"async comprehensions are not allowed (line {line})")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in _MODULES:
                    raise _Forbidden(
                        f"import of {alias.name!r} is not allowed (only json, math) (line {line})"
                    )
                if alias.asname is not None:
                    _check_name(alias.asname, node)


def _check_handler(handler: ast.ExceptHandler) -> None:
    line = handler.lineno
    if handler.type is None:
        raise _Forbidden(f"a bare 'except:' is not allowed; use 'except Exception:' (line {line})")
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for item in types:
        if not (isinstance(item, ast.Name) and item.id in _SAFE_EXCEPTIONS):
            raise _Forbidden(f"except clause must name builtin exceptions like Exception (line {line})")
    if handler.name is not None:
        _check_name(handler.name, handler)


# ---------------------------------------------------------------------------------------- transformation
_GUARDED_OPS: dict[type[ast.operator], str] = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Add: "+"}


class _Rewriter(ast.NodeTransformer):
    """Route attribute reads and size-sensitive operators through runtime guards; turn imports into lookups."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        call = ast.Call(
            func=ast.Name(id="__rt_attr", ctx=ast.Load()),
            args=[node.value, ast.Constant(value=node.attr)],
            keywords=[],
        )
        return ast.copy_location(call, node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        symbol = _GUARDED_OPS.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(
            func=ast.Name(id="__rt_binop", ctx=ast.Load()),
            args=[ast.Constant(value=symbol), node.left, node.right],
            keywords=[],
        )
        return ast.copy_location(call, node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        symbol = _GUARDED_OPS.get(type(node.op))
        if symbol is None or not isinstance(node.target, (ast.Name, ast.Subscript)):
            return node
        load_target = copy.deepcopy(node.target)
        load_target.ctx = ast.Load()
        value = ast.Call(
            func=ast.Name(id="__rt_binop", ctx=ast.Load()),
            args=[ast.Constant(value=symbol), load_target, node.value],
            keywords=[],
        )
        return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)

    def visit_Import(self, node: ast.Import) -> ast.AST:
        assigns: list[ast.stmt] = []
        for alias in node.names:
            target = ast.Name(id=alias.asname or alias.name, ctx=ast.Store())
            value = ast.Call(
                func=ast.Name(id="__rt_module", ctx=ast.Load()),
                args=[ast.Constant(value=alias.name)],
                keywords=[],
            )
            assigns.append(ast.copy_location(ast.Assign(targets=[target], value=value), node))
        if len(assigns) == 1:
            return assigns[0]
        return ast.copy_location(ast.If(test=ast.Constant(value=True), body=assigns, orelse=[]), node)


# ------------------------------------------------------------------------------------------ runtime guards
def _checked_format(template: str, attr: str) -> Callable[..., str]:
    def check(fmt: str, depth: int = 0) -> None:
        for _literal, field, spec, _conv in string.Formatter().parse(fmt):
            if field is not None and ("." in field or "__" in field):
                raise ValueError("attribute lookups are not allowed in format fields")
            if spec and depth < 2:
                check(spec, depth + 1)

    check(template)
    method: Callable[..., str] = getattr(template, attr)
    return method


def _rt_attr(obj: Any, name: str) -> Any:
    if isinstance(obj, _Namespace):
        return obj.get(name)
    allowed: frozenset[str]
    if isinstance(obj, str):
        if name in ("format", "format_map"):
            return _checked_format(obj, name)
        allowed = _STR_METHODS
    elif isinstance(obj, dict):
        allowed = _DICT_METHODS
    elif isinstance(obj, list):
        allowed = _LIST_METHODS
    elif isinstance(obj, (set, frozenset)):
        allowed = _SET_METHODS
    elif isinstance(obj, tuple):
        allowed = _TUPLE_METHODS
    elif isinstance(obj, (int, float)):
        allowed = _NUMBER_METHODS
    elif isinstance(obj, BaseException):
        allowed = frozenset({"args"})
    else:
        allowed = frozenset()
    if name not in allowed:
        raise AttributeError(f"attribute {name!r} of {type(obj).__name__} is not allowed in restricted code")
    return getattr(obj, name)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else 0


def _rt_binop(symbol: str, left: Any, right: Any) -> Any:
    if symbol == "+":
        if _size(left) + _size(right) > MAX_SEQUENCE_LEN:
            raise MemoryError("result of '+' is too large")
        return left + right
    if symbol == "*":
        for seq, count in ((left, right), (right, left)):
            if _size(seq) and isinstance(count, int) and _size(seq) * count > MAX_SEQUENCE_LEN:
                raise MemoryError("result of '*' is too large")
        return left * right
    if symbol == "**":
        if (
            isinstance(right, int)
            and isinstance(left, int)
            and abs(right) > 10_000
            and left not in (0, 1, -1)
        ):
            raise MemoryError("exponent of '**' is too large")
        return left**right
    if isinstance(right, int) and right > 100_000:
        raise MemoryError("shift of '<<' is too large")
    return left << right


def _rt_module(name: str) -> _Namespace:
    return _MODULES[name]


def _safe_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_SEQUENCE_LEN:
        raise MemoryError("range is too long for restricted code")
    return result


_SAFE_BUILTINS: dict[str, Any] = {
    "abs": abs,
    "all": all,
    "any": any,
    "bool": bool,
    "chr": chr,
    "dict": dict,
    "divmod": divmod,
    "enumerate": enumerate,
    "filter": filter,
    "float": float,
    "frozenset": frozenset,
    "int": int,
    "isinstance": isinstance,
    "len": len,
    "list": list,
    "map": map,
    "max": max,
    "min": min,
    "ord": ord,
    "range": _safe_range,
    "repr": repr,
    "reversed": reversed,
    "round": round,
    "set": set,
    "sorted": sorted,
    "str": str,
    "sum": sum,
    "tuple": tuple,
    "zip": zip,
    "None": None,
    "True": True,
    "False": False,
    **_SAFE_EXCEPTIONS,
}


def _restricted_globals() -> dict[str, Any]:
    return {
        "__builtins__": dict(_SAFE_BUILTINS),
        "__name__": "code_node",
        "__rt_attr": _rt_attr,
        "__rt_binop": _rt_binop,
        "__rt_module": _rt_module,
        "json": _MODULES["json"],
        "math": _MODULES["math"],
    }


# ------------------------------------------------------------------------------------------------- budget
class _Budget:
    """A ``sys.settrace`` hook counting call/line events of the node's code and checking the clock."""

    def __init__(self, max_steps: int, timeout_s: float) -> None:
        self.max_steps = max_steps
        self.deadline = time.monotonic() + timeout_s
        self.steps = 0

    def _tick(self) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise _BudgetExceeded(f"step budget exhausted ({self.max_steps} steps)")
        if self.steps % 256 == 0 and time.monotonic() > self.deadline:
            raise _BudgetExceeded("time budget exhausted")

    def global_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        self._tick()
        return self.local_trace if frame.f_code.co_filename == _FILENAME else None

    def local_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            self._tick()
        return self.local_trace

    def run(self, fn: Callable[[], Any]) -> Any:
        previous = sys.gettrace()
        sys.settrace(self.global_trace)
        try:
            return fn()
        finally:
            sys.settrace(previous)


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
