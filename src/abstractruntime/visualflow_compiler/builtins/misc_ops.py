"""Agent/context helpers and system builtins: make_context, add_message, make_meta, make_scratchpad,
format_tool_results, agent_trace_report, system_datetime, path_mux.

Output pins follow the example flows: ``make_context`` → ``context``; ``make_meta`` → ``meta``;
``add_message`` → ``message``, ``messages``, ``context``, ``task``; ``format_tool_results`` and
``agent_trace_report`` → ``result``; ``system_datetime`` → ``iso``, ``timezone``, ``utc_offset_minutes``,
``locale``; ``path_mux`` → ``out`` (SPEC §9.2).
"""

from __future__ import annotations

import copy
import locale
from typing import Any

from abstractruntime.rendering import render_agent_trace_markdown

from ._common import PureFn, get_clock, input_pin_ids, to_number, to_text, with_defaults

__all__ = ["MISC_BUILTINS"]


def _make_context(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    extra = data.get("context_extra", data.get("extra"))
    context: dict[str, Any] = copy.deepcopy(extra) if isinstance(extra, dict) else {}
    if data.get("task") is not None or "task" not in context:
        context["task"] = to_text(data.get("task"))
    messages = data.get("messages")
    if isinstance(messages, list) or "messages" not in context:
        context["messages"] = copy.deepcopy(messages) if isinstance(messages, list) else []
    return {"context": context}


def _add_message(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    message = {"role": to_text(data.get("role")) or "user", "content": to_text(data.get("content"))}
    raw_context = data.get("context")
    context: dict[str, Any] = copy.deepcopy(raw_context) if isinstance(raw_context, dict) else {}
    base = data.get("messages", context.get("messages"))
    messages = [*copy.deepcopy(base), message] if isinstance(base, list) else [message]
    context["messages"] = messages
    task = data.get("task", context.get("task"))
    return {"message": message, "messages": messages, "context": context, "task": to_text(task)}


def _collect(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    return {
        pin: copy.deepcopy(data[pin]) for pin in input_pin_ids(node_data, data) if data.get(pin) is not None
    }


def _make_meta(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    return {"meta": _collect(inputs, node_data)}


def _make_scratchpad(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    return {"scratchpad": _collect(inputs, node_data)}


def _format_tool_results(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    results = data.get("tool_results", data.get("results"))
    if isinstance(results, dict):
        results = results.get("results", [results])
    if not isinstance(results, list):
        return {"result": to_text(results)}
    lines: list[str] = []
    for item in results:
        if not isinstance(item, dict):
            lines.append(to_text(item))
            continue
        name = to_text(item.get("name") or item.get("tool") or "tool")
        if item.get("success") is False or item.get("error"):
            lines.append(f"[{name}] error: {to_text(item.get('error') or item.get('output'))}")
        else:
            lines.append(f"[{name}] {to_text(item.get('output', item.get('result')))}")
    return {"result": "\n\n".join(lines)}


def _agent_trace_report(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    scratchpad = data.get("scratchpad")
    return {"result": render_agent_trace_markdown(scratchpad if isinstance(scratchpad, dict) else None)}


def _system_datetime(_inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    now = get_clock(node_data)
    if now.tzinfo is None:
        now = now.astimezone()
    offset = now.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    lang = node_data.get("_locale")
    if not isinstance(lang, str):
        lang = locale.getlocale()[0] or "en_US"
    return {
        "iso": now.isoformat(),
        "timezone": now.tzname() or "UTC",
        "utc_offset_minutes": minutes,
        "locale": lang,
    }


def _path_mux(inputs: dict[str, Any], node_data: dict[str, Any]) -> dict[str, Any]:
    data = with_defaults(inputs, node_data)
    select = int(to_number(data.get("select"), 0))
    key = f"in{select}"
    if data.get(key) is not None:
        return {"out": data[key]}
    return {"out": data.get("fallback")}


MISC_BUILTINS: dict[str, PureFn] = {
    "make_context": _make_context,
    "add_message": _add_message,
    "make_meta": _make_meta,
    "make_scratchpad": _make_scratchpad,
    "format_tool_results": _format_tool_results,
    "agent_trace_report": _agent_trace_report,
    "system_datetime": _system_datetime,
    "path_mux": _path_mux,
}
