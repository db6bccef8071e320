"""Helpers for the observability tests (SPEC §10): a fake TOOL_CALLS handler and small flows.

The fake handler answers ``fetch_url``, ``execute_command`` and ``web_search`` with results shaped like
the AbstractCore tools' (large text fields included), and echoes any other tool.
"""

from __future__ import annotations

import json
from typing import Any

from abstractruntime import (
    Effect,
    EffectType,
    RunState,
    StepPlan,
    WorkflowSpec,
)
from abstractruntime.core.runtime import EffectOutcome

RAW_HTML = "<html><body>" + "x" * 5000 + "</body></html>"
NORMALIZED = "Example Domain. " * 200
STDOUT = "line\n" * 1000
SEARCH_RESULTS = [{"title": "AbstractRuntime", "url": "https://example.org/ar", "snippet": "durable"}]


def fake_tool_output(name: str, arguments: dict[str, Any]) -> Any:
    """What the fake tools return for one call."""
    if name == "fetch_url":
        url = arguments.get("url", "https://example.org")
        return {
            "url": url,
            "final_url": url + "/final",
            "content_type": "text/html",
            "size_bytes": len(RAW_HTML),
            "raw_text": RAW_HTML,
            "normalized_text": NORMALIZED,
        }
    if name == "execute_command":
        return {
            "command": arguments.get("command"),
            "return_code": 0,
            "stdout": STDOUT,
            "stderr": "warning: fake\n",
            "duration_s": 0.25,
            "working_directory": "/tmp/work",
            "platform": "linux",
        }
    if name == "web_search":
        return json.dumps(SEARCH_RESULTS)
    return {"echo": arguments}


def fake_tool_calls_handler(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    """A TOOL_CALLS handler executing every call with :func:`fake_tool_output`."""
    results = []
    for call in effect.payload.get("tool_calls", []):
        results.append(
            {
                "call_id": call.get("call_id"),
                "runtime_call_id": call.get("runtime_call_id"),
                "name": call["name"],
                "success": True,
                "output": fake_tool_output(call["name"], call.get("arguments") or {}),
                "error": None,
            }
        )
    return EffectOutcome.completed({"mode": "executed", "results": results})


STANDARD_CALLS = [
    {"name": "fetch_url", "arguments": {"url": "https://example.org"}, "call_id": "c1"},
    {"name": "execute_command", "arguments": {"command": "ls -la"}, "call_id": "c2"},
    {"name": "web_search", "arguments": {"query": "durable workflows"}, "call_id": "c3"},
]


def tool_flow(
    calls: list[dict[str, Any]] | None = None, *, workflow_id: str = "wf_tools", loops: int = 1
) -> WorkflowSpec:
    """``act`` issues one TOOL_CALLS batch (``loops`` times, same payload), then ``done`` completes."""
    batch = calls if calls is not None else STANDARD_CALLS

    def act(run: RunState, ctx: Any) -> StepPlan:
        run.vars["visits"] = run.vars.get("visits", 0) + 1
        nxt = "act" if run.vars["visits"] < loops else "done"
        effect = Effect(type=EffectType.TOOL_CALLS, payload={"tool_calls": batch}, result_key="tool_results")
        return StepPlan(node_id="act", effect=effect, next_node=nxt)

    def done(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"answer": "finished"})

    return WorkflowSpec(workflow_id=workflow_id, entry_node="act", nodes={"act": act, "done": done})
