"""Data builtins: get, set, merge, make_object, make_array, array_concat, array_append, array_length,
array_map, array_filter, array_dedup, get_element, get_random_element, has_tools, break_object.

Pin conventions from the example flows: ``get`` reads ``object``/``key``/``default`` and outputs ``value``
(``key`` is a dotted path); ``set`` reads ``object``/``key``/``value`` and outputs ``result`` (a copy);
``get_element``/``get_random_element`` output ``result`` and ``found``; ``break_object`` outputs one pin per
path of ``data.breakConfig.selectedPaths`` (pin id == the dotted path), falling back to its declared outputs.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ._common import (
    PureFn,
    get_path,
    get_rng,
    input_pin_ids,
    output_pin_ids,
    set_path,
    to_number,
    with_defaults,
)

__all__ = ["DATA_BUILTINS"]


def _as_object(value: Any) -> Any:
    """A JSON-looking string is parsed, so ``get``/``break_object`` work on raw LLM JSON text."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    parsed = _as_object(value)
    return parsed if isinstance(parsed, list) else [value]


def _get(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    default = data.get("default")
    key = data.get("key", data.get("path"))
    value = get_path(_as_object(data.get("object")), key, default) if key not in (None, "") else default
    if value is None:
        value = default
    return {"value": copy.deepcopy(value)}


def _set(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    return {
        "result": set_path(
            _as_object(data.get("object")), data.get("key", data.get("path")), data.get("value")
        )
    }


def _merge(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    values = [_as_object(data.get(pin)) for pin in input_pin_ids(node_data, data)]
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, list) for v in present):
        return {"result": [item for v in present for item in v]}
    merged: dict[str, Any] = {}
    for value in present:
        if isinstance(value, dict):
            merged.update(copy.deepcopy(value))
    return {"result": merged}


def _make_object(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    return {"result": {pin: copy.deepcopy(data.get(pin)) for pin in input_pin_ids(node_data, data)}}


def _make_array(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    pins = input_pin_ids(node_data, data)
    return {"result": [copy.deepcopy(data[p]) for p in pins if data.get(p) is not None]}


def _array_concat(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    out: list[Any] = []
    for pin in input_pin_ids(node_data, data):
        value = data.get(pin)
        if value is not None:
            out.extend(copy.deepcopy(_as_list(value)))
    return {"result": out}


def _array_append(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    out = copy.deepcopy(_as_list(data.get("array")))
    out.append(copy.deepcopy(data.get("item")))
    return {"result": out}


def _array_length(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    value = _as_object(data.get("array", data.get("items")))
    return {"result": len(value) if isinstance(value, (list, tuple, dict, str)) else 0}


def _array_map(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    items = _as_list(data.get("items", data.get("array")))
    key = data.get("key", data.get("path"))
    if key in (None, ""):
        return {"result": copy.deepcopy(items)}
    return {"result": [copy.deepcopy(get_path(item, key)) for item in items]}


def _array_filter(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    items = _as_list(data.get("items", data.get("array")))
    key = data.get("key", data.get("path"))
    has_value = "value" in data and data.get("value") is not None
    out: list[Any] = []
    for item in items:
        probe = get_path(item, key) if key not in (None, "") else item
        if (probe == data.get("value")) if has_value else bool(probe):
            out.append(copy.deepcopy(item))
    return {"result": out}


def _array_dedup(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    items = _as_list(data.get("array", data.get("items")))
    key = data.get("key")
    seen: set[str] = set()
    out: list[Any] = []
    for item in items:
        probe = get_path(item, key) if key not in (None, "") else item
        marker = json.dumps(probe, sort_keys=True, default=str)
        if marker not in seen:
            seen.add(marker)
            out.append(copy.deepcopy(item))
    return {"result": out}


def _get_element(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    items = _as_list(data.get("array", data.get("items")))
    index = int(to_number(data.get("index"), 0))
    if -len(items) <= index < len(items):
        return {"result": copy.deepcopy(items[index]), "found": True}
    return {"result": data.get("default"), "found": False}


def _get_random_element(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    items = _as_list(data.get("array", data.get("items")))
    if not items:
        return {"result": data.get("default"), "found": False}
    return {"result": copy.deepcopy(get_rng(node_data).choice(items)), "found": True}


def _has_tools(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    value = _as_object(data.get("array", data.get("tools", data.get("tool_calls"))))
    return {"result": isinstance(value, (list, tuple, dict)) and len(value) > 0}


def _break_object(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    obj = _as_object(data.get("object"))
    config = node_data.get("breakConfig")
    paths: list[str] = []
    if isinstance(config, dict) and isinstance(config.get("selectedPaths"), list):
        paths = [p for p in config["selectedPaths"] if isinstance(p, str)]
    for pin in output_pin_ids(node_data):
        if pin not in paths:
            paths.append(pin)
    if not paths and isinstance(obj, dict):
        paths = list(obj)
    return {path: copy.deepcopy(get_path(obj, path)) for path in paths}


DATA_BUILTINS: dict[str, PureFn] = {
    "get": _get,
    "set": _set,
    "merge": _merge,
    "make_object": _make_object,
    "make_array": _make_array,
    "array_concat": _array_concat,
    "array_append": _array_append,
    "array_length": _array_length,
    "array_map": _array_map,
    "array_filter": _array_filter,
    "array_dedup": _array_dedup,
    "get_element": _get_element,
    "get_random_element": _get_random_element,
    "has_tools": _has_tools,
    "break_object": _break_object,
}
