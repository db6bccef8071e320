"""Literal nodes: literal_string, literal_number, literal_boolean, literal_json, literal_array, json_schema,
tools_allowlist.

The value comes from ``data.literalValue``. A literal outputs ``{"value": v}``; when the node declares a single
output pin with another id (``json_schema`` sometimes uses ``schema``, ``tools_allowlist`` uses ``tools``), the
value is also published under that id.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ._common import PureFn, output_pin_ids, to_number

__all__ = ["LITERAL_BUILTINS"]


def _publish(value: Any, node_data: dict[str, Any], main: str = "value") -> dict[str, Any]:
    out = {main: value}
    for pin in output_pin_ids(node_data):
        out.setdefault(pin, copy.deepcopy(value))
    return out


def _raw(node_data: dict[str, Any]) -> Any:
    return copy.deepcopy(node_data.get("literalValue"))


def _parse_maybe(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _literal_string(_inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    raw = _raw(node_data)
    text = "" if raw is None else raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    return _publish(text, node_data)


def _literal_number(_inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    return _publish(to_number(_raw(node_data), 0), node_data)


def _literal_boolean(_inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    raw = _raw(node_data)
    value = raw.strip().lower() in ("true", "1", "yes", "on") if isinstance(raw, str) else bool(raw)
    return _publish(value, node_data)


def _literal_json(_inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    value = _parse_maybe(_raw(node_data))
    return _publish({} if value is None else value, node_data)


def _literal_array(_inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    value = _parse_maybe(_raw(node_data))
    if value is None:
        value = []
    elif not isinstance(value, list):
        value = [value]
    return _publish(value, node_data)


def _tools_allowlist(_inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    value = _parse_maybe(_raw(node_data))
    items = value if isinstance(value, list) else ([] if value in (None, "") else [value])
    tools: list[str] = []
    for item in items:
        name = str(item).strip()
        if name and name not in tools:
            tools.append(name)
    out = _publish(tools, node_data, main="tools")
    out.setdefault("value", list(tools))
    return out


LITERAL_BUILTINS: dict[str, PureFn] = {
    "literal_string": _literal_string,
    "literal_number": _literal_number,
    "literal_boolean": _literal_boolean,
    "literal_json": _literal_json,
    "literal_array": _literal_array,
    "json_schema": _literal_json,
    "tools_allowlist": _tools_allowlist,
}
