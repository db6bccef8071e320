"""Example flows with agent nodes run the built-in ReAct agent that ``compile_visualflow_tree`` returns.

Before the agent was built in, every one of them stopped at ``Workflow 'visual_react_agent_…' is not
registered``.  They are driven like the other LLM flows (SQLite, ScriptedLLM answering without tool calls,
ScriptedTools, ask_user answered ``"stop /q"``); the ralph-style loops get the ``<promise>`` they wait for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_vf_llm_flows import _DEFAULT_VARS, _FLOWS, NOT_COMPLETING, _promise, _responder
from vf_llm_support import FlowHarness

from abstractruntime.core.models import RunStatus
from abstractruntime.testing import ScriptedLLM
from abstractruntime.visualflow_compiler import compile_visualflow_tree

_PREFIX = "visual_react_agent_"
_AGENT_FLOWS = sorted(
    fid
    for fid in _FLOWS
    if any(k.startswith(_PREFIX) for k in compile_visualflow_tree(root_id=fid, flows_by_id=_FLOWS))
)
# Agent flows that finish without ever starting an agent: the agent node is not on the path taken.
AGENT_NOT_REACHED: dict[str, str] = {
    "328617a1": "the agent node has no exec edge",
    "tg-agent-main": "the agent only runs from an on_event listener; the start path goes straight to the end",
}
# Start vars a flow needs for its agent to have a task (merged over the defaults).
AGENT_FLOW_VARS: dict[str, dict[str, Any]] = {"e2b570be": {"enriched_request": "summarise the files"}}


def test_agent_flows_complete_with_the_builtin_agent(tmp_path: Path) -> None:
    if not _FLOWS:
        pytest.skip("example flows not available")
    assert len(_AGENT_FLOWS) >= 54
    ran_agent: list[str] = []
    for flow_id in _AGENT_FLOWS:
        specs = compile_visualflow_tree(root_id=flow_id, flows_by_id=_FLOWS)
        llm = ScriptedLLM(responder=_responder(flow_id, _promise(_FLOWS, sorted(specs))))
        harness = FlowHarness(_FLOWS, specs, tmp_path / f"{flow_id}.db", llm=llm)
        workspace = tmp_path / f"ws-{flow_id}"
        workspace.mkdir()
        try:
            state = harness.run(
                flow_id,
                {**_DEFAULT_VARS, "workspace_root": str(workspace), **AGENT_FLOW_VARS.get(flow_id, {})},
            )
        finally:
            harness.close()
        agent_calls: list[dict[str, Any]] = [c for c in llm.calls if "agent_iteration" in c]
        if flow_id in NOT_COMPLETING:
            assert state.status != RunStatus.COMPLETED, flow_id
            continue
        assert state.status == RunStatus.COMPLETED, (flow_id, state.status, state.waiting, state.error)
        assert "not registered" not in str(state.output)
        if agent_calls:
            ran_agent.append(flow_id)
            assert all(c["agent_iteration"] == 1 for c in agent_calls)  # no tool calls: one iteration each
    missing = set(_AGENT_FLOWS) - set(ran_agent) - set(NOT_COMPLETING)
    assert missing == set(AGENT_NOT_REACHED), sorted(missing)


def _tool_agent_flow() -> dict[str, Any]:
    """on_flow_start(prompt) -> agent(task; tools ["search"]) -> on_flow_end(response, tool_results, meta)."""
    exec_in, exec_out = {"id": "exec-in", "type": "execution"}, {"id": "exec-out", "type": "execution"}
    pins = ["response", "tool_results", "meta"]
    data_edges = [("agent", pin, "end", pin) for pin in pins] + [("start", "prompt", "agent", "task")]
    exec_edges = [("start", "exec-out", "agent", "exec-in"), ("agent", "exec-out", "end", "exec-in")]
    return {
        "id": "tool_agent",
        "nodes": [
            {"id": "start", "type": "on_flow_start", "data": {"outputs": [exec_out, {"id": "prompt"}]}},
            {
                "id": "agent",
                "type": "agent",
                "data": {
                    "inputs": [exec_in, {"id": "task"}],
                    "outputs": [exec_out, *({"id": pin} for pin in pins)],
                    "agentConfig": {"tools": ["search"], "system": "use tools"},
                },
            },
            {"id": "end", "type": "on_flow_end", "data": {"inputs": [exec_in, *({"id": p} for p in pins)]}},
        ],
        "edges": [
            {"source": s, "sourceHandle": sh, "target": t, "targetHandle": th}
            for s, sh, t, th in exec_edges + data_edges
        ],
    }


def test_agent_node_runs_tools_through_the_builtin_agent(tmp_path: Path) -> None:
    flows = {"tool_agent": _tool_agent_flow()}
    specs = compile_visualflow_tree(root_id="tool_agent", flows_by_id=flows)
    assert set(specs) == {"tool_agent", "visual_react_agent_tool_agent_agent"}
    call = {"name": "search", "arguments": {"q": "x"}}
    llm = ScriptedLLM([{"content": "", "tool_calls": [call]}, "x is 42"])
    harness = FlowHarness(flows, specs, tmp_path / "runs.db", llm=llm)
    try:
        state = harness.run("tool_agent", {"prompt": "find x"})
    finally:
        harness.close()
    assert state.status == RunStatus.COMPLETED and state.output is not None
    assert state.output["response"] == "x is 42"
    assert [r["name"] for r in state.output["tool_results"]] == ["search"]
    assert state.output["meta"]["iterations"] == 2
    assert [c["name"] for c in harness.tools.calls] == ["search"]
    assert llm.calls[0]["system_prompt"] == "use tools" and llm.calls[0]["tools"] == ["search"]
