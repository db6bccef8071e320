"""Runtime guards for restricted code nodes: checked attribute access, bounded sequence growth,
safe ``range``, the restricted globals and the step/time budget."""

from __future__ import annotations

import string
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from .code_limits import MAX_SEQUENCE_LEN
from .code_policy import (
    _DICT_METHODS,
    _FILENAME,
    _LIST_METHODS,
    _MODULES,
    _NUMBER_METHODS,
    _SAFE_EXCEPTIONS,
    _SET_METHODS,
    _STR_METHODS,
    _TUPLE_METHODS,
    _BudgetExceeded,
    _Namespace,
)


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
