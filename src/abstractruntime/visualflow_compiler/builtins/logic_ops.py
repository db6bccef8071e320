"""Logic builtins: compare, not, and, or, coalesce. Each outputs ``result``.

``compare`` reads ``a``, ``op`` and ``b``; ``op`` is one of ``== != < <= > >=`` (also ``eq ne lt le gt ge``,
``contains``, ``in``, ``startswith``, ``endswith``). When one side is a number and the other a numeric string,
both compare as numbers; incomparable values give False. ``and``/``or``/``coalesce`` read every input pin
(``a``, ``b``...) in declared order.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from ._common import BuiltinError, PureFn, input_pin_ids, to_text, with_defaults

__all__ = ["LOGIC_BUILTINS"]

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ALIASES = {"eq": "==", "=": "==", "ne": "!=", "<>": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _as_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def _compare(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    a, b = data.get("a"), data.get("b")
    op = str(data.get("op") or "==").strip().lower()
    op = _ALIASES.get(op, op)
    if op == "contains":
        return {"result": (b in a) if isinstance(a, (list, dict)) else to_text(b) in to_text(a)}
    if op == "in":
        return {"result": (a in b) if isinstance(b, (list, dict)) else to_text(a) in to_text(b)}
    if op == "startswith":
        return {"result": to_text(a).startswith(to_text(b))}
    if op == "endswith":
        return {"result": to_text(a).endswith(to_text(b))}
    fn = _OPS.get(op)
    if fn is None:
        raise BuiltinError(f"compare: unknown operator {op!r}")
    numeric = (int, float)
    if isinstance(a, numeric) and not isinstance(a, bool) and isinstance(b, str):
        b = _as_number(b)
    elif isinstance(b, numeric) and not isinstance(b, bool) and isinstance(a, str):
        a = _as_number(a)
    if op in ("<", "<=", ">", ">=") and (a is None or b is None):
        return {"result": False}
    try:
        return {"result": bool(fn(a, b))}
    except TypeError:
        return {"result": False}


def _not(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    return {"result": not bool(data.get("value", data.get("a")))}


def _values(inputs: dict[str, Any], node_data: dict[str, Any]) -> list[Any]:
    data = with_defaults(inputs, node_data)
    return [data.get(pin) for pin in input_pin_ids(node_data, data)]


def _and(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    values = _values(inputs, node_data)
    return {"result": bool(values) and all(bool(v) for v in values)}


def _or(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    return {"result": any(bool(v) for v in _values(inputs, node_data))}


def _coalesce(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    for value in _values(inputs, node_data):
        if value is not None:
            return {"result": value}
    return {"result": None}


LOGIC_BUILTINS: dict[str, PureFn] = {
    "compare": _compare,
    "not": _not,
    "and": _and,
    "or": _or,
    "coalesce": _coalesce,
}
