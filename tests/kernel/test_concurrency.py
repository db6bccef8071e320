"""Two Runtime objects over the same stores (SPEC §4.3 a, §4.7): external control wins over a tick,
and a wait is consumed exactly once.

Each test runs over the in-memory run store (which shares live objects, SPEC §7.2) and over a
minimal copying RunStore that behaves like a durable backend.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, InMemoryRunStore, RunStatus, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.errors import RunNotWaitingError


def _in_other_thread(fn, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on another thread and wait for it (an operator acting while the effect runs)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _terminal_events(ledger: list[dict[str, Any]]) -> list[str]:
    return [
        r["idempotency_key"]
        for r in ledger
        if isinstance(r["idempotency_key"], str)
        and r["idempotency_key"].startswith("system:terminal_status:")
    ]


def _long_effect_flow(entered: list[str]) -> WorkflowSpec:
    work = Effect(type=EffectType.TOOL_CALLS, payload={"tool_calls": []}, result_key="tools")

    def after(run, ctx):
        entered.append("after")
        return StepPlan(node_id="after", complete_output={"done": True})

    return WorkflowSpec(
        workflow_id="long",
        entry_node="work",
        nodes={
            "work": lambda run, ctx: StepPlan(node_id="work", effect=work, next_node="after"),
            "after": after,
        },
    )


def test_cancel_during_a_long_effect_is_not_overwritten(shared_run_store, ledger_store, clock) -> None:
    operator = Runtime(run_store=shared_run_store, ledger_store=ledger_store, clock=clock)

    def long_tool(run, effect, default_next_node):
        _in_other_thread(operator.cancel_run, run.run_id, reason="stopped by operator")
        return EffectOutcome.completed({"mode": "executed", "results": []})

    worker = Runtime(
        run_store=shared_run_store,
        ledger_store=ledger_store,
        clock=clock,
        effect_handlers={EffectType.TOOL_CALLS: long_tool},
    )
    entered: list[str] = []
    flow = _long_effect_flow(entered)
    run_id = worker.start(workflow=flow)
    state = worker.tick(workflow=flow, run_id=run_id)

    assert state.status == RunStatus.CANCELLED
    assert state.error == "stopped by operator"
    assert entered == []
    stored = worker.get_state(run_id)
    assert stored.status == RunStatus.CANCELLED
    assert stored.error == "stopped by operator"
    assert stored.output is None
    assert stored.waiting is None
    if not isinstance(shared_run_store, InMemoryRunStore):
        assert "tools" not in stored.vars, "nothing from the interrupted step is saved"

    ledger = worker.get_ledger(run_id)
    assert ledger[0]["status"] == "started"
    assert ledger[0]["node_id"] == "work"
    assert _terminal_events(ledger) == ["system:terminal_status:cancelled"]

    again = worker.tick(workflow=flow, run_id=run_id)
    assert again.status == RunStatus.CANCELLED
    assert entered == []


def test_pause_during_a_long_effect_is_not_overwritten(shared_run_store, ledger_store, clock) -> None:
    operator = Runtime(run_store=shared_run_store, ledger_store=ledger_store, clock=clock)

    def long_tool(run, effect, default_next_node):
        _in_other_thread(operator.pause_run, run.run_id, reason="hold")
        return EffectOutcome.completed({"mode": "executed", "results": []})

    worker = Runtime(
        run_store=shared_run_store,
        ledger_store=ledger_store,
        clock=clock,
        effect_handlers={EffectType.TOOL_CALLS: long_tool},
    )
    entered: list[str] = []
    flow = _long_effect_flow(entered)
    run_id = worker.start(workflow=flow)
    state = worker.tick(workflow=flow, run_id=run_id)

    assert state.status == RunStatus.WAITING
    assert state.waiting.wait_key == f"pause:{run_id}"
    assert state.vars["_runtime"]["control"]["paused"] is True
    stored = worker.get_state(run_id)
    assert stored.status == RunStatus.WAITING
    assert stored.waiting.wait_key == f"pause:{run_id}"
    assert stored.waiting.resume_to_node == "work"
    assert entered == []
    assert _terminal_events(worker.get_ledger(run_id)) == []


def test_cancel_between_steps_stops_the_tick_before_the_next_node(
    shared_run_store, ledger_store, clock
) -> None:
    operator = Runtime(run_store=shared_run_store, ledger_store=ledger_store, clock=clock)
    entered: list[str] = []

    def first(run, ctx):
        entered.append("first")
        _in_other_thread(operator.cancel_run, run.run_id, reason="stop now")
        return StepPlan(node_id="first", next_node="second")

    def second(run, ctx):
        entered.append("second")
        return StepPlan(node_id="second", complete_output={"finished": True})

    worker = Runtime(run_store=shared_run_store, ledger_store=ledger_store, clock=clock)
    flow = WorkflowSpec(workflow_id="two", entry_node="first", nodes={"first": first, "second": second})
    run_id = worker.start(workflow=flow)
    state = worker.tick(workflow=flow, run_id=run_id)

    stored = worker.get_state(run_id)
    assert stored.status == RunStatus.CANCELLED, "the cancellation must not be overwritten"
    assert stored.error == "stop now"
    assert stored.output is None
    assert state.status == RunStatus.CANCELLED
    assert _terminal_events(worker.get_ledger(run_id)) == ["system:terminal_status:cancelled"]
    assert entered == ["first"], "the external-control check runs at the start of every iteration"


def _ask_flow() -> WorkflowSpec:
    ask = Effect(type=EffectType.ASK_USER, payload={"prompt": "?"}, result_key="answer")
    return WorkflowSpec(
        workflow_id="ask",
        entry_node="ask",
        nodes={
            "ask": lambda run, ctx: StepPlan(node_id="ask", effect=ask, next_node="done"),
            "done": lambda run, ctx: StepPlan(node_id="done", complete_output={"answer": run.vars["answer"]}),
        },
    )


@pytest.mark.parametrize("first_max_steps", [100, 0])
def test_second_resume_of_the_same_wait_is_rejected(
    shared_run_store, ledger_store, clock, first_max_steps
) -> None:
    first = Runtime(run_store=shared_run_store, ledger_store=ledger_store, clock=clock)
    second = Runtime(run_store=shared_run_store, ledger_store=ledger_store, clock=clock)
    flow = _ask_flow()
    run_id = first.start(workflow=flow)
    first.tick(workflow=flow, run_id=run_id)
    wait_key = f"user:{run_id}:ask"

    state = first.resume(
        workflow=flow, run_id=run_id, wait_key=wait_key, payload={"n": 1}, max_steps=first_max_steps
    )
    expected_status = RunStatus.COMPLETED if first_max_steps else RunStatus.RUNNING
    assert state.status == expected_status

    with pytest.raises(RunNotWaitingError) as excinfo:
        second.resume(workflow=flow, run_id=run_id, wait_key=wait_key, payload={"n": 2})
    assert isinstance(excinfo.value, ValueError)

    stored = second.get_state(run_id)
    assert stored.status == expected_status
    assert stored.vars["answer"] == {"n": 1}
    resumes = [
        r
        for r in second.get_ledger(run_id)
        if isinstance(r["effect"], dict) and r["effect"]["type"] == "resume"
    ]
    assert len(resumes) == 1
    assert resumes[0]["effect"]["payload"]["payload"] == {"n": 1}


def test_cancel_landing_right_after_a_step_commit_stops_before_the_next_node(
    shared_run_store, ledger_store, clock
) -> None:
    """SPEC §4.3 a: the check runs at the start of every iteration, before the node handler is called."""
    operator = Runtime(run_store=shared_run_store, ledger_store=ledger_store, clock=clock)
    entered: list[str] = []
    armed = {"on": True}

    def after_write(run) -> None:
        if armed["on"] and run.current_node == "second" and run.status == RunStatus.RUNNING:
            armed["on"] = False
            operator.cancel_run(run.run_id, reason="between steps")

    # Fire the operator's cancel right after the worker's step checkpoint is written.
    write_name = "commit" if isinstance(shared_run_store, InMemoryRunStore) else "save"
    original_write = getattr(shared_run_store, write_name)

    def write(run, *args: Any, **kwargs: Any) -> Any:
        result = original_write(run, *args, **kwargs)
        after_write(run)
        return result

    setattr(shared_run_store, write_name, write)

    def second(run, ctx):
        entered.append("second")
        return StepPlan(node_id="second", complete_output={"finished": True})

    say = Effect(type=EffectType.ANSWER_USER, payload={"message": "step one"})
    flow = WorkflowSpec(
        workflow_id="two_steps",
        entry_node="first",
        nodes={
            "first": lambda run, ctx: StepPlan(node_id="first", effect=say, next_node="second"),
            "second": second,
        },
    )
    worker = Runtime(run_store=shared_run_store, ledger_store=ledger_store, clock=clock)
    run_id = worker.start(workflow=flow)
    state = worker.tick(workflow=flow, run_id=run_id)

    assert armed["on"] is False, "the operator's cancel was issued"
    stored = worker.get_state(run_id)
    assert stored.status == RunStatus.CANCELLED
    assert stored.error == "between steps"
    assert state.status == RunStatus.CANCELLED
    assert _terminal_events(worker.get_ledger(run_id)) == ["system:terminal_status:cancelled"]
    assert entered == [], "a cancelled run's next node handler must not be called"
