"""Helpers shared by the pure builtin families: pins, paths, coercion and injectable clock/randomness."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

from abstractruntime.errors import AbstractRuntimeError

__all__ = [
    "BuiltinError",
    "PureFn",
    "decode_escapes",
    "get_clock",
    "get_path",
    "get_rng",
    "input_pin_ids",
    "output_pin_ids",
    "set_clock",
    "set_path",
    "set_random_source",
    "to_number",
    "to_text",
    "with_defaults",
]

PureFn = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
"""A pure builtin: ``fn(inputs_by_pin_id, node_data) -> {output_pin_id: value}``."""


class BuiltinError(AbstractRuntimeError, ValueError):
    """A pure builtin was used in a genuinely invalid way (for example a division by zero)."""


_RNG: random.Random = random.Random()
_CLOCK: Callable[[], datetime] = lambda: datetime.now().astimezone()  # noqa: E731


def set_random_source(rng: random.Random | None) -> None:
    """Replace the module-wide random source (``None`` restores a fresh unseeded one). For tests."""
    global _RNG  # noqa: PLW0603
    _RNG = rng if rng is not None else random.Random()


def get_rng(node_data: dict[str, Any]) -> random.Random:
    """The random source for a node: ``node_data["_rng"]`` when it is a ``random.Random``, else the module one."""
    rng = node_data.get("_rng")
    return rng if isinstance(rng, random.Random) else _RNG


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the module-wide clock used by ``system_datetime`` (``None`` restores the local clock)."""
    global _CLOCK  # noqa: PLW0603
    _CLOCK = clock if clock is not None else (lambda: datetime.now().astimezone())


def get_clock(node_data: dict[str, Any]) -> datetime:
    """The current time for a node: ``node_data["_now"]`` (a datetime or a callable) wins over the module clock."""
    now = node_data.get("_now")
    if isinstance(now, datetime):
        return now
    if callable(now):
        value = now()
        if isinstance(value, datetime):
            return value
    return _CLOCK()


def _pins(node_data: dict[str, Any], key: str) -> list[str]:
    pins = node_data.get(key)
    out: list[str] = []
    if isinstance(pins, list):
        for pin in pins:
            if isinstance(pin, dict) and isinstance(pin.get("id"), str) and pin.get("type") != "execution":
                out.append(pin["id"])
    return out


def input_pin_ids(node_data: dict[str, Any], inputs: dict[str, Any] | None = None) -> list[str]:
    """Declared non-execution input pin ids in order; without declarations, the sorted keys of ``inputs``."""
    declared = _pins(node_data, "inputs")
    if declared:
        return declared
    return sorted(k for k in (inputs or {}) if k not in ("exec-in", "exec-out"))


def output_pin_ids(node_data: dict[str, Any]) -> list[str]:
    """Declared non-execution output pin ids in order."""
    return _pins(node_data, "outputs")


def with_defaults(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` completed with deep copies of ``node_data["pinDefaults"]`` for absent pins (present ones win)."""
    merged = dict(inputs or {})
    defaults = node_data.get("pinDefaults")
    if isinstance(defaults, dict):
        for key, value in defaults.items():
            if key not in merged:
                merged[key] = copy.deepcopy(value)
    return merged


def decode_escapes(text: str) -> str:
    """Turn literal ``\\n``, ``\\t`` and ``\\r`` typed in an editor field into the real characters."""
    return text.replace("\\r\\n", "\r\n").replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")


def to_text(value: Any) -> str:
    """A value as text: ``None`` → ``""``, containers → compact JSON, everything else ``str()``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def to_number(value: Any, default: float | int = 0) -> float | int:
    """A value as a number: bools as 0/1, numeric strings parsed, anything else → ``default``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return default
    return default


def _split_path(path: Any) -> list[str]:
    if path is None:
        return []
    text = str(path).strip()
    if not text:
        return []
    return [part for part in text.replace("[", ".").replace("]", "").split(".") if part != ""]


def get_path(obj: Any, path: Any, default: Any = None) -> Any:
    """Read a dotted path (``a.b.0.c`` or ``a.b[0].c``) from dicts and lists; ``default`` when it is missing.

    A key that exists literally (``"usage.output_tokens"`` as one key) wins over the dotted reading.
    """
    if isinstance(obj, dict) and isinstance(path, str) and path in obj:
        return obj[path]
    parts = _split_path(path)
    if not parts:
        return obj if path in (None, "") else default
    current = obj
    for part in parts:
        if isinstance(current, dict):
            if part not in current:
                return default
            current = current[part]
        elif isinstance(current, (list, tuple)):
            try:
                current = current[int(part)]
            except (ValueError, IndexError):
                return default
        else:
            return default
    return current


def set_path(obj: Any, path: Any, value: Any) -> Any:
    """A deep copy of ``obj`` (a dict, else ``{}``) with ``value`` written at the dotted ``path``."""
    root: Any = copy.deepcopy(obj) if isinstance(obj, (dict, list)) else {}
    parts = _split_path(path)
    if not parts:
        return root
    current = root
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(current, list):
            try:
                pos = int(part)
            except ValueError:
                return root
            while len(current) <= pos:
                current.append(None)
            if last:
                current[pos] = value
            else:
                if not isinstance(current[pos], (dict, list)):
                    current[pos] = {}
                current = current[pos]
        elif isinstance(current, dict):
            if last:
                current[part] = value
            else:
                if not isinstance(current.get(part), (dict, list)):
                    current[part] = {}
                current = current[part]
    return root
