"""The built-in ReAct agent with the real TOOL_CALLS handler: an approval wait inside the tool loop,
approved from a new Runtime on the same SQLite store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from abstractruntime import EffectType, RunStatus, Runtime, WaitReason
from abstractruntime.agents import react_agent_spec
from abstractruntime.integrations.abstractcore.tool_executor import ApprovalToolExecutor, MappingToolExecutor
from abstractruntime.integrations.abstractcore.tool_handler import make_tool_calls_handler
from abstractruntime.storage import open_stores
from abstractruntime.testing import ScriptedLLM

WRITE = {"content": "writing", "tool_calls": [{"name": "write_file", "arguments": {"file_path": "a.txt"}}]}


def _runtime(db: Path, llm: ScriptedLLM, written: list[str]) -> tuple[Runtime, Any]:
    def write_file(file_path: str) -> str:
        written.append(file_path)
        return f"wrote {file_path}"

    executor = ApprovalToolExecutor(
        delegate=MappingToolExecutor({"write_file": write_file}), wait_key_factory=lambda: "tool_approval:a1"
    )
    stores = open_stores(f"sqlite:///{db}")
    runtime = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        effect_handlers={
            EffectType.LLM_CALL: llm,
            EffectType.TOOL_CALLS: make_tool_calls_handler(tools=executor),
        },
    )
    runtime.set_tool_executor_for_resume(executor)
    return runtime, stores


def test_approval_wait_inside_the_loop_resumes_from_a_new_runtime(tmp_path: Path) -> None:
    db, spec, written = tmp_path / "runs.db", react_agent_spec("visual_react_agent_f_n"), []
    llm1 = ScriptedLLM([WRITE])
    runtime, stores = _runtime(db, llm1, written)
    try:
        run_id = runtime.start(workflow=spec, vars={"task": "write a.txt", "tools": ["write_file"]})
        state = runtime.tick(workflow=spec, run_id=run_id)
    finally:
        stores.close()
    assert state.status == RunStatus.WAITING and state.waiting is not None
    assert (state.waiting.reason, state.waiting.wait_key) == (WaitReason.USER, "tool_approval:a1")
    assert written == []

    llm2 = ScriptedLLM(["done: a.txt written"])
    runtime2, stores2 = _runtime(db, llm2, written)
    try:
        state = runtime2.resume(
            workflow=spec, run_id=run_id, wait_key="tool_approval:a1", payload={"approved": True}
        )
    finally:
        stores2.close()
    assert state.status == RunStatus.COMPLETED and state.output is not None, state.error
    assert written == ["a.txt"] and len(llm1.calls) == 1 and len(llm2.calls) == 1
    assert state.output["answer"] == "done: a.txt written"
    assert state.output["tool_results"][0]["output"] == "wrote a.txt"
    assert llm2.calls[0]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": state.output["tool_calls"][0]["call_id"],
        "name": "write_file",
        "content": "wrote a.txt",
    }
