"""String builtins: concat, split, join, format, string_template, uppercase, lowercase, trim, substring,
length, contains, replace. Each outputs ``result``.

Pin conventions found in the example flows: ``concat`` reads pins ``a``, ``b``, ``c``... in declared order and
joins them with ``data.concatConfig.separator``; ``split`` reads ``text``/``delimiter``; ``join`` reads
``items``/``delimiter``; ``format`` reads ``template``/``values`` (``{name}`` placeholders);
``string_template`` reads ``template``/``vars`` (``{{name}}`` or ``{{a.b}}`` placeholders). Separators and
delimiters typed as ``\\n`` in an editor are decoded to real newlines.
"""

from __future__ import annotations

import re
from typing import Any

from ._common import PureFn, decode_escapes, get_path, input_pin_ids, to_number, to_text, with_defaults

__all__ = ["STRING_BUILTINS"]


def _concat(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    config = node_data.get("concatConfig")
    separator = ""
    if isinstance(config, dict) and isinstance(config.get("separator"), str):
        separator = decode_escapes(config["separator"])
    elif isinstance(data.get("separator"), str):
        separator = decode_escapes(data["separator"])
    pins = [p for p in input_pin_ids(node_data, data) if p != "separator"]
    parts = [to_text(data.get(pin)) for pin in pins if data.get(pin) is not None]
    return {"result": separator.join(parts)}


def _split(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    text = to_text(data.get("text"))
    delimiter = data.get("delimiter")
    if not isinstance(delimiter, str) or delimiter == "":
        return {"result": text.split()}
    limit = data.get("max_splits", data.get("limit"))
    max_splits = int(to_number(limit, -1)) if limit is not None else -1
    return {"result": text.split(decode_escapes(delimiter), max_splits)}


def _join(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    items = data.get("items", data.get("array"))
    delimiter = data.get("delimiter", data.get("separator"))
    sep = decode_escapes(delimiter) if isinstance(delimiter, str) else ""
    if items is None:
        return {"result": ""}
    if not isinstance(items, (list, tuple)):
        return {"result": to_text(items)}
    return {"result": sep.join(to_text(item) for item in items if item is not None)}


_FORMAT_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
_TEMPLATE_FIELD = re.compile(r"\{\{\s*([A-Za-z0-9_.\[\]-]+)\s*\}\}")


def _format(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    template = to_text(data.get("template"))
    values = data.get("values")
    if not isinstance(values, dict):
        values = {k: v for k, v in data.items() if k not in ("template", "values")}

    def sub(match: re.Match[str]) -> str:
        sentinel = object()
        value = get_path(values, match.group(1), sentinel)
        return match.group(0) if value is sentinel else to_text(value)

    return {"result": _FORMAT_FIELD.sub(sub, template)}


def _string_template(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    template = to_text(data.get("template"))
    variables = data.get("vars", data.get("values"))
    if not isinstance(variables, dict):
        variables = {k: v for k, v in data.items() if k not in ("template", "vars", "values")}
    return {"result": _TEMPLATE_FIELD.sub(lambda m: to_text(get_path(variables, m.group(1))), template)}


def _text_fn(transform: Any) -> PureFn:
    def fn(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
        data = with_defaults(inputs, node_data)
        return {"result": transform(to_text(data.get("text", data.get("value"))))}

    return fn


def _substring(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    text = to_text(data.get("text"))
    start = int(to_number(data.get("start"), 0))
    end_raw = data.get("end")
    if end_raw is None and data.get("length") is not None:
        return {"result": text[start : start + int(to_number(data.get("length"), 0))]}
    end = int(to_number(end_raw, len(text))) if end_raw is not None else None
    return {"result": text[start:end]}


def _length(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    value = data.get("text", data.get("value", data.get("array")))
    if isinstance(value, (list, tuple, dict, str)):
        return {"result": len(value)}
    return {"result": len(to_text(value))}


def _contains(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    text = data.get("text", data.get("array"))
    pattern = data.get("pattern", data.get("item"))
    if isinstance(text, (list, tuple)):
        return {"result": pattern in text}
    if isinstance(text, dict):
        return {"result": to_text(pattern) in text}
    if pattern is None:
        return {"result": False}
    return {"result": to_text(pattern) in to_text(text)}


def _replace(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    text = to_text(data.get("text"))
    pattern = to_text(data.get("pattern"))
    replacement = to_text(data.get("replacement"))
    mode = str(data.get("mode") or "all").strip().lower()
    if pattern == "":
        return {"result": text}
    if mode == "regex":
        try:
            return {"result": re.sub(pattern, replacement, text)}
        except re.error:
            return {"result": text}
    if mode == "first":
        return {"result": text.replace(pattern, replacement, 1)}
    return {"result": text.replace(pattern, replacement)}


STRING_BUILTINS: dict[str, PureFn] = {
    "concat": _concat,
    "split": _split,
    "join": _join,
    "format": _format,
    "string_template": _string_template,
    "uppercase": _text_fn(str.upper),
    "lowercase": _text_fn(str.lower),
    "trim": _text_fn(str.strip),
    "substring": _substring,
    "length": _length,
    "contains": _contains,
    "replace": _replace,
}
