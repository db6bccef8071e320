"""JSON builtins: parse_json (``text`` → ``result``) and stringify_json (``value``/``mode`` → ``result``).

``parse_json`` strips Markdown code fences and, failing a direct parse, tries the first ``{...}``/``[...]``
block of the text; text that holds no JSON gives ``None`` (an LLM answer that is not JSON is ordinary data).
``stringify_json`` reuses :func:`abstractruntime.rendering.stringify_json`; the legacy ``pretty`` boolean
maps to ``beautify``/``minified`` and ``indent``/``sort_keys`` pins are honoured.
"""

from __future__ import annotations

import json
import re
from typing import Any

from abstractruntime.rendering import stringify_json

from ._common import PureFn, to_number, with_defaults

__all__ = ["JSON_BUILTINS", "parse_json_text"]

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def parse_json_text(text: Any) -> Any:
    """Parse JSON from ``text`` tolerantly; non-strings are returned unchanged, unparseable text → None."""
    if not isinstance(text, str):
        return text
    body = text.strip()
    fence = _FENCE.match(body)
    if fence:
        body = fence.group(1).strip()
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        pass
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = body.find(opener), body.rfind(closer)
        if 0 <= start < end:
            try:
                return json.loads(body[start : end + 1])
            except ValueError:
                continue
    return None


def _parse_json(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    return {"result": parse_json_text(data.get("text", data.get("value")))}


def _stringify_json(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    mode = data.get("mode")
    if not isinstance(mode, str) or not mode.strip():
        pretty = data.get("pretty")
        mode = "minified" if pretty is False else "beautify"
    indent = int(to_number(data.get("indent"), 2)) if data.get("indent") is not None else 2
    text = stringify_json(
        data.get("value"),
        mode=mode.strip().lower(),
        beautify_indent=max(0, indent),
        sort_keys=bool(data.get("sort_keys", False)),
    )
    return {"result": text}


JSON_BUILTINS: dict[str, PureFn] = {
    "parse_json": _parse_json,
    "stringify_json": _stringify_json,
}
