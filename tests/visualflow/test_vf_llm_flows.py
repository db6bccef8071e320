"""Every example flow with llm_call / agent / tool_calls / call_tool nodes runs to completion on SQLite.

LLM and tools are :class:`ScriptedLLM` / :class:`ScriptedTools`; agent nodes run the built-in ReAct agent
that ``compile_visualflow_tree`` returns (the scripted LLM answers without tool calls, so each agent run
ends after one iteration); memory effects use the
built-in handlers over an ``InMemoryArtifactStore`` (MEMORY_KG_* get a stub); ask_user waits are answered
``"stop /q"``; wait_until timers are passed by advancing a FakeClock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from vf_llm_support import FlowHarness, load_flows, uses_llm
from vf_support import EXAMPLES_DIR

from abstractruntime.core.models import RunStatus
from abstractruntime.testing import ScriptedLLM
from abstractruntime.visualflow_compiler import compile_visualflow_tree

_FLOWS: dict[str, dict[str, Any]] = load_flows(EXAMPLES_DIR) if EXAMPLES_DIR.is_dir() else {}
_LLM_FLOWS = sorted(fid for fid, flow in _FLOWS.items() if uses_llm(flow))

# Flows that cannot complete whatever the LLM/tools/user answer, with the reason.
NOT_COMPLETING: dict[str, str] = {
    "ddc466f4": "while loop never ends: the `if index >= 5 -> continue = false` nodes are not on any exec path",
    "67eb9673": "the `if` after ask_user has no condition input, so its false branch recurses into the "
    "flow itself forever",
    "b16c5a46": "chat loop never exits: the `contains '/q'` result is not wired to the `if` condition",
    "d6f30991": "while loop over `tasks` never ends: the array is only ever appended to, never emptied",
}

# Per-flow start vars (merged over the defaults).
FLOW_VARS: dict[str, dict[str, Any]] = {
    # test-search: the while loop stops once its index reaches max_search.
    "4c8e6f48": {"max_search": 1},
}

# Per-flow LLM answers for the loops that only stop on a specific model output.
FLOW_LLM: dict[str, Any] = {
    # test-search: the LLM must request a tool so tool_calls succeeds.
    "4c8e6f48": {
        "content": "",
        "tool_calls": [{"call_id": "c1", "name": "search_files", "arguments": {"pattern": "q"}}],
    },
}

# Flows whose completed output legitimately has ``success`` False (none today).
FAILURE_PATHS: dict[str, str] = {}

_DEFAULT_VARS = {"prompt": "hello", "query": "q", "task": "t", "request": "r"}


def _promise(flows: dict[str, dict[str, Any]], ids: list[str]) -> str | None:
    """The ``<promise>`` literal a ralph-style loop looks for in the agent answer, if any."""
    for fid in ids:
        for node in flows.get(fid, {}).get("nodes", []):
            value = node.get("data", {}).get("literalValue")
            if node.get("type") == "literal_string" and isinstance(value, str) and "<promise>" in value:
                return value
    return None


def _responder(flow_id: str, promise: str | None) -> Any:
    def respond(payload: dict[str, Any]) -> Any:
        if promise is not None and "agent_iteration" in payload:  # an LLM_CALL of the built-in agent
            return promise
        return FLOW_LLM.get(flow_id)

    return respond


def test_llm_flow_selection_is_not_empty() -> None:
    if not _FLOWS:
        pytest.skip("example flows not available")
    assert len(_LLM_FLOWS) > 100
    assert set(NOT_COMPLETING) <= set(_LLM_FLOWS)


@pytest.mark.parametrize("flow_id", _LLM_FLOWS)
def test_llm_flow_runs_to_completion_on_sqlite(flow_id: str, tmp_path: Path) -> None:
    specs = compile_visualflow_tree(root_id=flow_id, flows_by_id=_FLOWS)
    llm = ScriptedLLM(responder=_responder(flow_id, _promise(_FLOWS, sorted(specs))))
    harness = FlowHarness(_FLOWS, specs, tmp_path / "runs.db", llm=llm)
    try:
        workspace = tmp_path / "workspace"
        workspace.mkdir()
        vars = {**_DEFAULT_VARS, "workspace_root": str(workspace), **FLOW_VARS.get(flow_id, {})}
        state = harness.run(flow_id, vars)
    finally:
        harness.close()
    if flow_id in NOT_COMPLETING:
        assert state.status != RunStatus.COMPLETED, f"{flow_id} now completes: drop it from NOT_COMPLETING"
        return
    assert state.status == RunStatus.COMPLETED, (state.status, state.waiting, state.error)
    assert isinstance(state.output, dict)
    json.dumps(state.output)  # JSON-safe after the SQLite round trip
    if flow_id in FAILURE_PATHS:
        assert state.output.get("success") is False
    else:
        assert state.output.get("success") is True, state.output
    for call in llm.calls:
        assert isinstance(call.get("prompt"), str)
