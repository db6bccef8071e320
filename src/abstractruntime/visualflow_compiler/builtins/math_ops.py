"""Math builtins: add, subtract, multiply, divide, modulo, power, abs, round, random_int, random_float.

Binary operations read pins ``a`` and ``b``; unary ones read ``value`` (or ``a``). Every one outputs ``result``.
Missing or non-numeric inputs count as 0 (``b`` of multiply/divide/power counts as 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._common import BuiltinError, PureFn, get_rng, to_number, with_defaults

__all__ = ["MATH_BUILTINS"]

_Num = float | int


def _tidy(value: _Num) -> _Num:
    """Integral floats stay floats only when an input was a float; NaN/inf are refused."""
    if isinstance(value, float) and not math.isfinite(value):
        raise BuiltinError("math result is not a finite number")
    return value


def _binary(op: Callable[[_Num, _Num], _Num], b_default: _Num = 0) -> PureFn:
    def fn(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
        data = with_defaults(inputs, node_data)
        a = to_number(data.get("a"), 0)
        b = to_number(data.get("b"), b_default) if data.get("b") is not None else b_default
        return {"result": _tidy(op(a, b))}

    return fn


def _divide(a: _Num, b: _Num) -> _Num:
    if b == 0:
        raise BuiltinError("divide: division by zero")
    result = a / b
    return int(result) if isinstance(a, int) and isinstance(b, int) and result.is_integer() else result


def _modulo(a: _Num, b: _Num) -> _Num:
    if b == 0:
        raise BuiltinError("modulo: modulo by zero")
    return a % b


def _power(a: _Num, b: _Num) -> _Num:
    if isinstance(b, int) and abs(b) > 10_000 and a not in (0, 1, -1):
        raise BuiltinError("power: exponent too large")
    try:
        result = a**b
    except (OverflowError, ZeroDivisionError) as exc:
        raise BuiltinError(f"power: {exc}") from exc
    if isinstance(result, complex):
        raise BuiltinError("power: result is not a real number")
    return result


def _unary_value(data: dict[str, Any]) -> _Num:
    return to_number(data.get("value", data.get("a")), 0)


def _abs(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    return {"result": abs(_unary_value(with_defaults(inputs, node_data)))}


def _round(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    value = _unary_value(data)
    raw_digits = data.get("decimals", data.get("digits", data.get("b")))
    digits = int(to_number(raw_digits, 0)) if raw_digits is not None else 0
    return {"result": round(value) if digits == 0 else round(value, digits)}


def _bounds(data: dict[str, Any], lo: _Num, hi: _Num) -> tuple[_Num, _Num]:
    low = to_number(data.get("min", data.get("a")), lo) if data.get("min", data.get("a")) is not None else lo
    high = to_number(data.get("max", data.get("b")), hi) if data.get("max", data.get("b")) is not None else hi
    return (low, high) if low <= high else (high, low)


def _random_int(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    low, high = _bounds(with_defaults(inputs, node_data), 0, 100)
    return {"result": get_rng(node_data).randint(math.ceil(low), math.floor(high))}


def _random_float(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    low, high = _bounds(with_defaults(inputs, node_data), 0.0, 1.0)
    return {"result": get_rng(node_data).uniform(float(low), float(high))}


MATH_BUILTINS: dict[str, PureFn] = {
    "add": _binary(lambda a, b: a + b),
    "subtract": _binary(lambda a, b: a - b),
    "multiply": _binary(lambda a, b: a * b, 1),
    "divide": _binary(_divide, 1),
    "modulo": _binary(_modulo, 1),
    "power": _binary(_power, 1),
    "abs": _abs,
    "round": _round,
    "random_int": _random_int,
    "random_float": _random_float,
}
