"""Bad input gives a typed error that is also the builtin the spec names (SPEC §3, §4.3, §4.6, §4.13),
and the stored state stays untouched and loadable."""

from __future__ import annotations

import copy

import pytest

from abstractruntime import Effect, EffectType, RunStatus, StepPlan, WorkflowSpec
from abstractruntime.errors import (
    AbstractRuntimeError,
    InvalidStepPlanError,
    RunNotFoundError,
    RunNotWaitingError,
    RunPausedError,
    UnknownNodeError,
    WaitKeyMismatchError,
)


def _ask_flow() -> WorkflowSpec:
    ask = Effect(type=EffectType.ASK_USER, payload={"prompt": "?"}, result_key="answer")
    return WorkflowSpec(
        workflow_id="ask",
        entry_node="ask",
        nodes={
            "ask": lambda run, ctx: StepPlan(node_id="ask", effect=ask, next_node="done"),
            "done": lambda run, ctx: StepPlan(node_id="done", complete_output={"a": run.vars["answer"]}),
        },
    )


def _snapshot(runtime, run_id):
    state = runtime.get_state(run_id)
    return copy.deepcopy(state), copy.deepcopy(runtime.get_ledger(run_id))


def test_unknown_node_at_tick_raises_key_error_and_run_stays_running(runtime) -> None:
    flow = WorkflowSpec(
        workflow_id="wf",
        entry_node="a",
        nodes={"a": lambda run, ctx: StepPlan(node_id="a", next_node="ghost")},
    )
    run_id = runtime.start(workflow=flow)
    with pytest.raises(UnknownNodeError) as excinfo:
        runtime.tick(workflow=flow, run_id=run_id)
    error = excinfo.value
    assert isinstance(error, KeyError)
    assert isinstance(error, AbstractRuntimeError)
    assert error.args[0] == "Unknown node_id 'ghost' in workflow 'wf'"
    assert error.node_id == "ghost"

    state = runtime.get_state(run_id)
    assert state.status == RunStatus.RUNNING
    assert state.current_node == "ghost"
    assert state.error is None
    assert runtime.get_ledger(run_id) == []


def test_workflow_spec_get_node_raises_key_error() -> None:
    flow = WorkflowSpec(workflow_id="wf", entry_node="a", nodes={})
    with pytest.raises(KeyError) as excinfo:
        flow.get_node("a")
    assert isinstance(excinfo.value, UnknownNodeError)
    assert excinfo.value.args[0] == "Unknown node_id 'a' in workflow 'wf'"
    assert flow.is_terminal("a") is False


def test_start_with_missing_entry_node_stores_nothing(runtime, run_store) -> None:
    flow = WorkflowSpec(workflow_id="wf", entry_node="missing", nodes={"other": lambda run, ctx: None})
    with pytest.raises(UnknownNodeError) as excinfo:
        runtime.start(workflow=flow)
    assert isinstance(excinfo.value, KeyError)
    assert excinfo.value.node_id == "missing"
    assert run_store.list_runs() == []


def test_node_returning_neither_effect_nor_next_node(runtime) -> None:
    flow = WorkflowSpec(
        workflow_id="wf",
        entry_node="a",
        nodes={
            "a": lambda run, ctx: StepPlan(node_id="a", next_node="empty"),
            "empty": lambda run, ctx: StepPlan(node_id="empty"),
        },
    )
    run_id = runtime.start(workflow=flow)
    with pytest.raises(InvalidStepPlanError) as excinfo:
        runtime.tick(workflow=flow, run_id=run_id)
    assert isinstance(excinfo.value, ValueError)
    assert str(excinfo.value) == "Node 'empty' returned no effect and no next_node"

    state = runtime.get_state(run_id)
    assert state.status == RunStatus.RUNNING
    assert state.current_node == "empty"
    assert runtime.get_ledger(run_id) == []


def test_resume_with_wrong_wait_key(runtime) -> None:
    flow = _ask_flow()
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    before, ledger = _snapshot(runtime, run_id)
    expected = f"user:{run_id}:ask"

    with pytest.raises(WaitKeyMismatchError) as excinfo:
        runtime.resume(workflow=flow, run_id=run_id, wait_key="user:other", payload={"x": 1})
    error = excinfo.value
    assert isinstance(error, ValueError)
    assert error.expected == expected
    assert error.got == "user:other"
    assert str(error) == f"wait_key mismatch: expected '{expected}', got 'user:other'"

    after = runtime.get_state(run_id)
    assert after.status == RunStatus.WAITING
    assert after.waiting == before.waiting
    assert after.vars == before.vars
    assert "answer" not in after.vars
    assert runtime.get_ledger(run_id) == ledger

    done = runtime.resume(workflow=flow, run_id=run_id, wait_key=expected, payload={"x": 1})
    assert done.status == RunStatus.COMPLETED


def test_resume_of_completed_run(runtime) -> None:
    flow = _ask_flow()
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    runtime.resume(workflow=flow, run_id=run_id, wait_key=f"user:{run_id}:ask", payload={"x": 1})
    before, ledger = _snapshot(runtime, run_id)

    with pytest.raises(RunNotWaitingError) as excinfo:
        runtime.resume(workflow=flow, run_id=run_id, wait_key=f"user:{run_id}:ask", payload={"x": 2})
    assert isinstance(excinfo.value, ValueError)
    assert str(excinfo.value) == "Run is not waiting"

    after = runtime.get_state(run_id)
    assert after.status == RunStatus.COMPLETED
    assert after.output == before.output == {"a": {"x": 1}}
    assert after.vars == before.vars
    assert runtime.get_ledger(run_id) == ledger


def test_resume_of_running_run(runtime) -> None:
    flow = _ask_flow()
    run_id = runtime.start(workflow=flow)
    with pytest.raises(RunNotWaitingError):
        runtime.resume(workflow=flow, run_id=run_id, wait_key=None, payload={})
    assert runtime.get_state(run_id).status == RunStatus.RUNNING
    assert runtime.get_ledger(run_id) == []


def test_resume_of_paused_run(runtime) -> None:
    flow = _ask_flow()
    run_id = runtime.start(workflow=flow)
    runtime.pause_run(run_id)
    before, ledger = _snapshot(runtime, run_id)

    with pytest.raises(RunPausedError) as excinfo:
        runtime.resume(workflow=flow, run_id=run_id, wait_key=f"pause:{run_id}", payload={})
    assert isinstance(excinfo.value, ValueError)
    assert str(excinfo.value) == "Run is paused"

    after = runtime.get_state(run_id)
    assert after.status == RunStatus.WAITING
    assert after.waiting == before.waiting
    assert after.vars == before.vars
    assert runtime.get_ledger(run_id) == ledger


def test_unknown_run_ids_raise_key_error(runtime) -> None:
    flow = _ask_flow()
    for call in (
        lambda: runtime.tick(workflow=flow, run_id="nope"),
        lambda: runtime.resume(workflow=flow, run_id="nope", wait_key=None, payload={}),
        lambda: runtime.get_state("nope"),
        lambda: runtime.cancel_run("nope"),
        lambda: runtime.pause_run("nope"),
    ):
        with pytest.raises(RunNotFoundError) as excinfo:
            call()
        assert isinstance(excinfo.value, KeyError)
        assert excinfo.value.args[0] == "Unknown run_id: nope"


def test_node_handler_raising_propagates_and_state_is_loadable(runtime) -> None:
    def bad(run, ctx):
        run.vars["touched"] = True
        raise ZeroDivisionError("bad math")

    answer = Effect(type=EffectType.ANSWER_USER, payload={"message": "hi"}, result_key="said")
    flow = WorkflowSpec(
        workflow_id="wf",
        entry_node="say",
        nodes={
            "say": lambda run, ctx: StepPlan(node_id="say", effect=answer, next_node="bad"),
            "bad": bad,
        },
    )
    run_id = runtime.start(workflow=flow)
    with pytest.raises(ZeroDivisionError, match="bad math"):
        runtime.tick(workflow=flow, run_id=run_id)

    state = runtime.get_state(run_id)
    assert state.status == RunStatus.RUNNING
    assert state.current_node == "bad"
    assert state.error is None
    assert state.vars["said"] == {"message": "hi", "level": "message"}
    assert [r["status"] for r in runtime.get_ledger(run_id)] == ["started", "completed"]

    with pytest.raises(ZeroDivisionError):
        runtime.tick(workflow=flow, run_id=run_id)
    assert runtime.get_state(run_id).status == RunStatus.RUNNING
    assert len(runtime.get_ledger(run_id)) == 2
