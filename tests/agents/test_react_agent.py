"""The built-in ReAct agent (``abstractruntime.agents.react_agent_spec``) on SQLite with scripted doubles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Runtime
from abstractruntime.agents import AgentSettings, react_agent_spec
from abstractruntime.core.models import Effect, EffectType, RunState, RunStatus, WaitReason, WaitState
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.core.spec import WorkflowSpec
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import open_stores
from abstractruntime.testing import FakeClock, ScriptedLLM, ScriptedTools, scripted_handlers

AGENT_ID = "visual_react_agent_f_n"
SEARCH = {"content": "I will search", "tool_calls": [{"name": "search", "arguments": {"q": "x"}}]}


def _runtime(db: Path, spec: WorkflowSpec, handlers: dict[EffectType, Any]) -> tuple[Runtime, Any]:
    stores = open_stores(f"sqlite:///{db}")
    registry = WorkflowRegistry()
    registry.register(spec)
    runtime = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        workflow_registry=registry,
        effect_handlers=handlers,
    )
    return runtime, stores


def _vars(**extra: Any) -> dict[str, Any]:
    return {"task": "find x", "tools": ["search"], "system": "be brief", **extra}


def test_two_tool_rounds_then_answer_resumed_by_a_new_runtime(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    spec = react_agent_spec(AGENT_ID, defaults={"provider": "p", "model": "m"})
    llm1, tools1 = ScriptedLLM([SEARCH, SEARCH]), ScriptedTools({"search": lambda q: f"found {q}"})
    runtime, stores = _runtime(db, spec, scripted_handlers(llm1, tools1))
    run_id = runtime.start(workflow=spec, vars=_vars())
    # reason -> act (tool call 1) -> reason (LLM call 2): stop in the middle of the tool loop.
    state = runtime.tick(workflow=spec, run_id=run_id, max_steps=3)
    assert state.status == RunStatus.RUNNING
    assert (len(llm1.calls), len(tools1.calls)) == (2, 1)
    stores.close()

    # Another "process": new stores, registry, runtime and doubles on the same SQLite file.
    llm2 = ScriptedLLM(["x is 42"])
    tools2 = ScriptedTools({"search": lambda q: f"found {q} again"})
    runtime2, stores2 = _runtime(db, react_agent_spec(AGENT_ID), scripted_handlers(llm2, tools2))
    try:
        state = runtime2.tick(workflow=spec, run_id=run_id, max_steps=50)
    finally:
        stores2.close()
    assert state.status == RunStatus.COMPLETED, state.error
    # Nothing ran twice; the identical second tool call really ran (distinct idempotency key).
    assert (len(llm2.calls), len(tools2.calls)) == (1, 1)
    out = state.output
    assert out is not None and out["success"] is True
    assert out["answer"] == out["response"] == out["result"] == "x is 42"
    assert out["meta"]["iterations"] == 3 and out["meta"]["stop_reason"] == "answered"
    assert [c["name"] for c in out["tool_calls"]] == ["search", "search"]
    assert [r["output"] for r in out["tool_results"]] == ["found x", "found x again"]
    roles = [m["role"] for m in out["scratchpad"]["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert state.vars["_limits"]["current_iteration"] == 3

    first, last = llm1.calls[0], llm2.calls[0]
    assert first["prompt"] == "find x" and first["system_prompt"] == "be brief"
    assert (first["provider"], first["model"], first["tools"]) == ("p", "m", ["search"])
    assert last["prompt"] == "" and [m["role"] for m in last["messages"]][-2:] == ["assistant", "tool"]
    assert [c["agent_iteration"] for c in (*llm1.calls, last)] == [1, 2, 3]
    assert tools1.calls[0]["name"] == "search"


def test_tool_wait_resumed_by_a_new_runtime(tmp_path: Path) -> None:
    """A TOOL_CALLS wait (passthrough/approval) resumes the loop from another Runtime on the same store."""
    db = tmp_path / "runs.db"
    spec = react_agent_spec(AGENT_ID)

    def passthrough(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        wait = WaitState(
            reason=WaitReason.EVENT,
            wait_key=f"tools:{run.run_id}",
            resume_to_node=default_next_node,
            result_key=effect.result_key,
            details={"tool_calls": effect.payload["tool_calls"]},
        )
        return EffectOutcome.waiting(wait)

    llm = ScriptedLLM([SEARCH])
    runtime, stores = _runtime(db, spec, {EffectType.LLM_CALL: llm, EffectType.TOOL_CALLS: passthrough})
    run_id = runtime.start(workflow=spec, vars=_vars())
    state = runtime.tick(workflow=spec, run_id=run_id)
    stores.close()
    assert state.status == RunStatus.WAITING and state.waiting is not None
    call_id = state.waiting.details["tool_calls"][0]["call_id"]

    llm2 = ScriptedLLM(["done"])
    runtime2, stores2 = _runtime(db, spec, scripted_handlers(llm2, ScriptedTools()))
    try:
        result = {
            "call_id": call_id,
            "name": "search",
            "success": True,
            "output": "host ran it",
            "error": None,
        }
        state = runtime2.resume(
            workflow=spec,
            run_id=run_id,
            wait_key=f"tools:{run_id}",
            payload={"mode": "executed", "results": [result]},
        )
    finally:
        stores2.close()
    assert state.status == RunStatus.COMPLETED and state.output is not None
    assert state.output["answer"] == "done"
    assert state.output["tool_results"][0]["output"] == "host ran it"
    assert llm2.calls[0]["messages"][-1]["content"] == "host ran it"


def test_max_iterations_stops_a_model_that_keeps_calling_tools(tmp_path: Path) -> None:
    spec = react_agent_spec(AGENT_ID, defaults={"max_iterations": 2})
    llm, tools = ScriptedLLM(responder=lambda payload: SEARCH), ScriptedTools({"search": "r"})
    runtime, stores = _runtime(tmp_path / "runs.db", spec, scripted_handlers(llm, tools))
    try:
        run_id = runtime.start(workflow=spec, vars={"task": "loop", "tools": ["search"]})
        state = runtime.tick(workflow=spec, run_id=run_id)
    finally:
        stores.close()
    assert state.status == RunStatus.COMPLETED and state.output is not None
    assert state.output["success"] is False and "max_iterations (2)" in state.output["error"]
    assert state.output["meta"]["stop_reason"] == "max_iterations"
    assert (len(llm.calls), len(tools.calls)) == (2, 1)


def test_limits_max_iterations_and_token_budget(tmp_path: Path) -> None:
    assert AgentSettings.from_vars({"_limits": {"max_iterations": 7}}).max_iterations == 7
    assert (
        AgentSettings.from_vars({"max_iterations": 3, "_limits": {"max_iterations": 7}}).max_iterations == 3
    )
    assert AgentSettings.from_vars({}).max_iterations == 25
    spec = react_agent_spec(AGENT_ID)
    big = {**SEARCH, "usage": {"input_tokens": 900, "output_tokens": 200}}
    llm, tools = ScriptedLLM(responder=lambda payload: big), ScriptedTools({"search": "r"})
    runtime, stores = _runtime(tmp_path / "runs.db", spec, scripted_handlers(llm, tools))
    try:
        run_id = runtime.start(workflow=spec, vars=_vars(_limits={"max_tokens": 1000}))
        state = runtime.tick(workflow=spec, run_id=run_id)
    finally:
        stores.close()
    assert state.output is not None and state.output["meta"]["stop_reason"] == "max_tokens"
    assert state.output["meta"]["usage"]["total_tokens"] == 1100
    assert state.vars["_limits"]["estimated_tokens_used"] == 900
    assert len(tools.calls) == 0


def test_allowed_tools_block_calls_outside_the_agent_tool_list(tmp_path: Path) -> None:
    spec = react_agent_spec(AGENT_ID)
    rogue = {"content": "", "tool_calls": [{"name": "rm", "arguments": {}}]}
    llm, tools = ScriptedLLM([rogue, "ok"]), ScriptedTools({"rm": "deleted", "search": "r"})
    runtime, stores = _runtime(tmp_path / "runs.db", spec, scripted_handlers(llm, tools))
    try:
        run_id = runtime.start(workflow=spec, vars=_vars())
        state = runtime.tick(workflow=spec, run_id=run_id)
    finally:
        stores.close()
    assert state.output is not None and state.output["answer"] == "ok"
    assert state.output["tool_results"][0]["success"] is False
    assert llm.calls[1]["messages"][-1]["content"] == "Error: tool not allowed"


def test_no_task_completes_with_an_error(tmp_path: Path) -> None:
    spec = react_agent_spec(AGENT_ID)
    llm = ScriptedLLM()
    runtime, stores = _runtime(tmp_path / "runs.db", spec, scripted_handlers(llm))
    try:
        state = runtime.tick(workflow=spec, run_id=runtime.start(workflow=spec, vars={}))
    finally:
        stores.close()
    assert state.output is not None and state.output["success"] is False
    assert state.output["meta"]["stop_reason"] == "no_task" and llm.calls == []


def test_tool_using_agent_with_a_schema_gets_a_final_structured_call(tmp_path: Path) -> None:
    spec = react_agent_spec(AGENT_ID)
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    llm, tools = ScriptedLLM([SEARCH, "x is 42"]), ScriptedTools({"search": "r"})
    runtime, stores = _runtime(tmp_path / "runs.db", spec, scripted_handlers(llm, tools))
    try:
        run_id = runtime.start(workflow=spec, vars=_vars(response_schema=schema))
        state = runtime.tick(workflow=spec, run_id=run_id)
    finally:
        stores.close()
    assert state.output is not None and state.output["data"] == {"answer": "example"}
    assert [("tools" in c, "response_schema" in c) for c in llm.calls] == [
        (True, False),
        (True, False),
        (False, True),
    ]
    assert llm.calls[2]["agent_phase"] == "final" and llm.calls[2]["messages"][-2]["content"] == "x is 42"
    assert state.output["meta"]["iterations"] == 2


class Crash(BaseException):
    """Stands in for the process dying inside a step (not an Exception: nothing catches it)."""


def test_crash_inside_the_second_tool_call_is_recovered_by_a_new_process(tmp_path: Path) -> None:
    """The tool with an intent but no completion runs again (at-least-once); committed LLM calls do not."""
    db, clock, spec = tmp_path / "runs.db", FakeClock(), react_agent_spec(AGENT_ID)
    ran: list[str] = []

    def search(q: str) -> str:
        ran.append(q)
        if len(ran) == 2:
            raise Crash("killed after the side effect, before the commit")
        return f"found {q}"

    llm1 = ScriptedLLM([SEARCH, SEARCH])
    stores = open_stores(f"sqlite:///{db}")
    runtime = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        effect_handlers=scripted_handlers(llm1, ScriptedTools({"search": search})),
        clock=clock,
        lease_store=stores.lease_store,
        lease_ttl_s=30.0,
    )
    run_id = runtime.start(workflow=spec, vars=_vars())
    with pytest.raises(Crash):
        runtime.tick(workflow=spec, run_id=run_id)
    stores.close()

    clock.advance(31.0)
    llm2 = ScriptedLLM(["x is 42"])
    stores2 = open_stores(f"sqlite:///{db}")
    registry = WorkflowRegistry()
    registry.register(spec)
    runtime2 = Runtime(
        run_store=stores2.run_store,
        ledger_store=stores2.ledger_store,
        workflow_registry=registry,
        effect_handlers=scripted_handlers(llm2, ScriptedTools({"search": search})),
        clock=clock,
        lease_store=stores2.lease_store,
        lease_ttl_s=30.0,
    )
    try:
        outcome = runtime2.recover_run(run_id)
        state = runtime2.get_state(run_id)
    finally:
        stores2.close()
    assert outcome.action == "recovered", outcome
    assert state.status == RunStatus.COMPLETED and state.output is not None
    assert state.output["answer"] == "x is 42" and state.output["meta"]["iterations"] == 3
    assert (len(llm1.calls), len(llm2.calls), len(ran)) == (2, 1, 3)
    assert [r["output"] for r in state.output["tool_results"]] == ["found x", "found x"]
