"""A Markdown report of what an agent did, built from its node traces (SPEC §10.3, §5.3).

Input is what the runtime records in ``vars._runtime.node_traces`` (or what an agent copies into its
scratchpad): ``{"node_traces": {node_id: {"node_id", "steps": [entry, ...]}}}``.  Also accepted: a
bare ``{node_id: trace}`` mapping (the value of ``Runtime.get_node_traces``) and a single trace
``{"node_id", "steps"}``.  Each trace entry has the SPEC §5.3 shape ``{"ts", "node_id", "status",
"idempotency_key", "reused_prior_result", "effect": {"type", "payload", "result_key"},
"duration_ms"?, "result" | "error" | "wait"}``.

Layout::

    # Agent Trace Report
    - Workflow: `<workflow_id>`          (when the scratchpad has one)
    - Sub-run: `<sub_run_id>`            (idem)
    - Steps: N

    ## Timeline

    ### 1. `<node_id>` · <effect type> · <status>
    (time, duration, "reused prior result", sub-run / workflow of a subworkflow step)
    LLM calls: the response text and the tool calls the model asked for.
    Tool calls: one item per call, ``Tool: `<name>` (call_id=<id>) → ok|error|no result``, with the
    call's arguments and its result (the output, or the error), matched by ``call_id`` and else by
    position.
    Other effects: payload and result as JSON.  Failures show the error, waits the wait.

Steps from every node are merged in ``ts`` order (steps without a timestamp keep their order at the
end).  Structured values are formatted with :func:`~abstractruntime.rendering.stringify_json` in the
configured mode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .json_stringify import JsonStringifyMode, stringify_json

__all__ = ["AgentTraceMarkdownReportConfig", "render_agent_trace_markdown"]


@dataclass(frozen=True)
class AgentTraceMarkdownReportConfig:
    """Options of :func:`render_agent_trace_markdown`.

    Attributes:
        include_timestamps: add each step's ``ts`` to its section.
        json_mode: how structured values are laid out (see :func:`stringify_json`).
    """

    include_timestamps: bool = False
    json_mode: JsonStringifyMode = JsonStringifyMode.BEAUTIFY


def render_agent_trace_markdown(
    scratchpad: Mapping[str, Any] | None, *, config: AgentTraceMarkdownReportConfig | None = None
) -> str:
    """Render the node traces held by ``scratchpad`` as a Markdown report.

    Args:
        scratchpad: ``{"node_traces": {...}, "workflow_id"?, "sub_run_id"?}``, a ``{node_id: trace}``
            mapping, or a single trace ``{"node_id", "steps"}``.  Anything else renders an empty
            timeline.
        config: report options (default :class:`AgentTraceMarkdownReportConfig`).

    Returns:
        The Markdown text, ending with a newline.  Never raises for malformed entries: what cannot be
        read is skipped.
    """
    cfg = config or AgentTraceMarkdownReportConfig()
    source: Mapping[str, Any] = scratchpad if isinstance(scratchpad, Mapping) else {}
    steps = _collect_steps(source)
    lines = ["# Agent Trace Report", ""]
    for label, key in (("Workflow", "workflow_id"), ("Sub-run", "sub_run_id")):
        value = source.get(key)
        if isinstance(value, str) and value:
            lines.append(f"- {label}: `{value}`")
    lines.append(f"- Steps: {len(steps)}")
    lines += ["", "## Timeline", ""]
    if not steps:
        lines += ["_No steps recorded._", ""]
    for number, entry in enumerate(steps, start=1):
        lines += _render_step(number, entry, cfg)
    return "\n".join(lines).rstrip("\n") + "\n"


# -- collecting ------------------------------------------------------------------------------------
def _traces(source: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if isinstance(source.get("steps"), list):
        return [source]
    traces = source.get("node_traces")
    if not isinstance(traces, Mapping):
        candidates = [v for v in source.values() if isinstance(v, Mapping)]
        if not candidates or not all(isinstance(v.get("steps"), list) for v in candidates):
            return []
        traces = {k: v for k, v in source.items() if isinstance(v, Mapping)}
    return [t for t in traces.values() if isinstance(t, Mapping) and isinstance(t.get("steps"), list)]


def _collect_steps(source: Mapping[str, Any]) -> list[dict[str, Any]]:
    entries: list[tuple[int, str, int, dict[str, Any]]] = []
    for trace in _traces(source):
        for raw in trace["steps"]:
            if not isinstance(raw, dict):
                continue
            step = raw if raw.get("node_id") else {**raw, "node_id": trace.get("node_id")}
            ts = step.get("ts")
            stamp = ts if isinstance(ts, str) else ""
            entries.append((0 if stamp else 1, stamp, len(entries), step))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    return [e[3] for e in entries]


# -- one step --------------------------------------------------------------------------------------
def _render_step(number: int, entry: dict[str, Any], cfg: AgentTraceMarkdownReportConfig) -> list[str]:
    effect = _mapping(entry.get("effect"))
    effect_type = str(effect.get("type") or "effect")
    status = str(entry.get("status") or "unknown")
    lines = [f"### {number}. `{entry.get('node_id') or '?'}` · {effect_type} · {status}", ""]
    facts: list[str] = []
    if cfg.include_timestamps and entry.get("ts"):
        facts.append(f"- Time: {entry['ts']}")
    duration = entry.get("duration_ms")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        facts.append(f"- Duration: {duration:.1f} ms")
    if entry.get("reused_prior_result"):
        facts.append("- Reused prior result (not executed again)")
    payload = _mapping(effect.get("payload"))
    result = entry.get("result")
    facts += _subworkflow_facts(payload, result)
    if status == "waiting":
        facts += _wait_facts(entry.get("wait"))
    if facts:
        lines += [*facts, ""]
    if status == "failed" or (entry.get("error") and status != "completed"):
        lines += ["**Error**", "", *_block(str(entry.get("error") or "unknown error"), cfg), ""]
        return lines
    if status == "waiting":
        return lines
    if effect_type == "llm_call":
        return lines + _render_llm(result, cfg)
    if effect_type == "tool_calls" or _is_tool_shaped(result):
        return lines + _render_tools(payload, result, cfg)
    if payload:
        lines += ["**Payload**", "", *_block(payload, cfg), ""]
    if result is not None:
        lines += ["**Result**", "", *_block(result, cfg), ""]
    return lines


def _subworkflow_facts(payload: Mapping[str, Any], result: Any) -> list[str]:
    facts = []
    workflow_id = payload.get("workflow_id")
    if isinstance(workflow_id, str) and workflow_id:
        facts.append(f"- Workflow: `{workflow_id}`")
    sub_run_id = result.get("sub_run_id") if isinstance(result, dict) else None
    if isinstance(sub_run_id, str) and sub_run_id:
        facts.append(f"- Sub-run: `{sub_run_id}`")
    return facts


def _wait_facts(wait: Any) -> list[str]:
    if not isinstance(wait, dict):
        return []
    facts = [f"- Waiting for: {wait.get('reason') or '?'}"]
    for label, key in (("Wait key", "wait_key"), ("Until", "until")):
        if wait.get(key):
            facts.append(f"- {label}: `{wait[key]}`")
    if wait.get("prompt"):
        facts.append(f"- Prompt: {wait['prompt']}")
    return facts


def _render_llm(result: Any, cfg: AgentTraceMarkdownReportConfig) -> list[str]:
    if not isinstance(result, dict):
        return [] if result is None else ["**Result**", "", *_block(result, cfg), ""]
    lines: list[str] = []
    content = result.get("content")
    if isinstance(content, str) and content.strip():
        lines += ["**Response**", "", content.strip(), ""]
    calls = result.get("tool_calls")
    if isinstance(calls, list) and calls:
        lines += ["**Tool calls requested**", ""]
        for call in calls:
            if not isinstance(call, dict):
                continue
            lines.append(f"- {_call_label(call)}")
            if call.get("arguments") not in (None, {}, ""):
                lines += _indent(_block(call.get("arguments"), cfg))
        lines.append("")
    return lines


def _render_tools(payload: Mapping[str, Any], result: Any, cfg: AgentTraceMarkdownReportConfig) -> list[str]:
    calls = [c for c in payload.get("tool_calls") or [] if isinstance(c, dict)]
    results = result.get("results") if isinstance(result, dict) else None
    results = [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []
    lines = ["**Tool calls**", ""]
    matches = _match_results(calls, results)
    used = {id(r) for r in matches if r is not None}
    for index, (call, found) in enumerate(zip(calls, matches, strict=True)):
        lines += _render_tool_call(index + 1, call, found, cfg)
    extra = [r for r in results if id(r) not in used]
    for offset, orphan in enumerate(extra, start=len(calls) + 1):
        lines += _render_tool_call(
            offset, {"name": orphan.get("name"), "call_id": orphan.get("call_id")}, orphan, cfg
        )
    if not calls and not results:
        lines += ["_No tool calls._", ""]
    return lines


def _match_results(calls: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """The result of each call: the one with its ``call_id``, else the next result not matched by id
    (in order), else None."""
    by_id: dict[Any, dict[str, Any]] = {}
    for r in results:
        if r.get("call_id"):
            by_id.setdefault(r["call_id"], r)
    matched = [by_id.get(c.get("call_id")) if c.get("call_id") else None for c in calls]
    taken = {id(r) for r in matched if r is not None}
    spare = iter([r for r in results if id(r) not in taken])
    return [found if found is not None else next(spare, None) for found in matched]


def _render_tool_call(
    number: int, call: dict[str, Any], result: dict[str, Any] | None, cfg: AgentTraceMarkdownReportConfig
) -> list[str]:
    outcome = "no result" if result is None else ("ok" if result.get("success") else "error")
    lines = [f"{number}. {_call_label(call)} → {outcome}", ""]
    if call.get("arguments") not in (None, {}, ""):
        lines += [*_indent(["Arguments:", "", *_block(call.get("arguments"), cfg)]), ""]
    if result is not None:
        if result.get("error"):
            lines += [*_indent(["Error:", "", *_block(str(result["error"]), cfg)]), ""]
        if result.get("output") is not None:
            lines += [*_indent(["Result:", "", *_block(result.get("output"), cfg)]), ""]
        meta = result.get("meta")
        if isinstance(meta, dict) and meta.get("evidence_id"):
            lines += [*_indent([f"Evidence: `{meta['evidence_id']}`"]), ""]
    return lines


# -- formatting helpers ----------------------------------------------------------------------------
def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_tool_shaped(value: Any) -> bool:
    return isinstance(value, dict) and "mode" in value and isinstance(value.get("results"), list)


def _call_label(call: Mapping[str, Any]) -> str:
    """``Tool: `name` (call_id=id)`` (the id part only when the call has one)."""
    label = f"Tool: `{call.get('name') or '?'}`"
    if call.get("call_id"):
        label += f" (call_id={call['call_id']})"
    return label


def _block(value: Any, cfg: AgentTraceMarkdownReportConfig) -> list[str]:
    """``value`` as a fenced block: JSON for structures (and JSON text), plain text otherwise."""
    text = stringify_json(value, mode=cfg.json_mode)
    is_json = not isinstance(value, str) or text != value
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return [f"{fence}{'json' if is_json else 'text'}", *text.splitlines(), fence]


def _longest_backtick_run(text: str) -> int:
    runs = re.findall(r"`+", text)
    return max((len(r) for r in runs), default=0)


def _indent(lines: list[str]) -> list[str]:
    return [f"   {line}" if line else "" for line in lines]
