"""Turn any value into JSON text for display (SPEC §10.3).

:func:`stringify_json` is the one place reports and UIs format structured values:

* ``mode`` ``beautify`` (default) indents, ``minified`` writes the compact form, ``none`` writes the
  default one-line ``json.dumps`` form and leaves strings untouched;
* with ``parse_strings`` (default), a string that looks like JSON (``{...}`` or ``[...]``, optionally
  inside a Markdown code fence such as ```` ```json ... ``` ````) is parsed first, so a tool output that
  is JSON *text* is re-formatted like any other structure.  Parsing is best effort: strict JSON first,
  then a Python literal (``{'a': True, 'b': None}``, what ``str(dict)`` prints) through
  :func:`ast.literal_eval`, which evaluates literals only and never runs code.  A string that parses as
  neither is kept as it is;
* the value is made JSON-safe first (``abstractruntime.core.jsonable.to_jsonable``: dataclasses,
  ``model_dump()``, enums, sets ... ; anything else becomes ``str(x)``), so it never raises;
* a string that is not parsed is returned as is (no surrounding quotes): the output is for people.
"""

from __future__ import annotations

import ast
import json
import re
from enum import Enum
from typing import Any

from ..core.jsonable import to_jsonable

__all__ = ["JsonStringifyMode", "stringify_json"]


class JsonStringifyMode(str, Enum):
    """How :func:`stringify_json` lays JSON out."""

    NONE = "none"
    BEAUTIFY = "beautify"
    MINIFIED = "minified"


LITERAL_EVAL_MAX_CHARS = 1_000_000
"""Longest text tried as a Python literal (``ast.literal_eval`` builds a syntax tree: bounded work)."""

_FENCE = re.compile(r"^```[A-Za-z0-9_+-]*[ \t]*\r?\n(?P<body>.*?)\r?\n?```$", re.DOTALL)


def _normalize_mode(mode: JsonStringifyMode | str | None) -> JsonStringifyMode:
    """``mode`` as a member; unknown values (and None) fall back to BEAUTIFY."""
    if isinstance(mode, JsonStringifyMode):
        return mode
    text = str(mode or "").strip().lower()
    for member in JsonStringifyMode:
        if member.value == text:
            return member
    return JsonStringifyMode.BEAUTIFY


def _strip_fence(text: str) -> str:
    match = _FENCE.match(text)
    return match.group("body").strip() if match else text


def _parse_json_text(text: str) -> tuple[bool, Any]:
    """``(True, value)`` when ``text`` (fences stripped) is a JSON object or array, or a Python literal
    dict/list, else ``(False, None)``."""
    body = _strip_fence(text.strip())
    if not body or body[0] not in "{[" or body[-1] not in "}]":
        return False, None
    try:
        return True, json.loads(body)
    except ValueError:
        pass
    if len(body) > LITERAL_EVAL_MAX_CHARS:
        return False, None
    try:  # literals only: names, calls and operators are refused by literal_eval
        value = ast.literal_eval(body)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    return (True, value) if isinstance(value, (dict, list)) else (False, None)


def stringify_json(
    value: Any,
    *,
    mode: JsonStringifyMode | str = JsonStringifyMode.BEAUTIFY,
    beautify_indent: int = 2,
    sort_keys: bool = False,
    parse_strings: bool = True,
) -> str:
    """Format ``value`` as JSON text.

    Args:
        value: anything; non-JSON values are converted (never raises).
        mode: ``"beautify"`` (indented), ``"minified"`` (``separators=(",", ":")``) or ``"none"``
            (``json.dumps`` defaults, one line); a :class:`JsonStringifyMode` or its value, case
            insensitive.  Unknown values fall back to ``beautify``.
        beautify_indent: spaces per level in ``beautify`` mode (negative values count as 0).
        sort_keys: sort object keys.
        parse_strings: parse a JSON-looking string (``{...}``/``[...]``, code fences stripped; strict
            JSON, else a Python-literal dict or list via ``ast.literal_eval``) before formatting;
            ignored in ``none`` mode.

    Returns:
        The JSON text; a string value that is not parsed is returned unchanged.
    """
    chosen = _normalize_mode(mode)
    if isinstance(value, str):
        if chosen == JsonStringifyMode.NONE or not parse_strings:
            return value
        parsed, data = _parse_json_text(value)
        if not parsed:
            return value
        value = data
    safe = to_jsonable(value)
    if chosen == JsonStringifyMode.MINIFIED:
        return json.dumps(safe, ensure_ascii=False, sort_keys=sort_keys, separators=(",", ":"))
    if chosen == JsonStringifyMode.NONE:
        return json.dumps(safe, ensure_ascii=False, sort_keys=sort_keys)
    return json.dumps(safe, ensure_ascii=False, sort_keys=sort_keys, indent=max(0, int(beautify_indent)))
