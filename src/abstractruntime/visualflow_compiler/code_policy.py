"""The restricted language of code nodes: allowed syntax, names and methods, and the AST rewrite
that routes attribute access and size-growing operators through runtime guards."""

from __future__ import annotations

import ast
import copy
import json
import math
from typing import Any

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
