"""Scheduler / ScheduledRuntime operations (SPEC §8.2-§8.3): cancel trees, queries, respond, resume_event."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from scheduler_support import make_timer_flow

from abstractruntime import InMemoryRunStore, RunState, StepPlan, WaitReason, WorkflowSpec
from abstractruntime.errors import ResumeError, RunNotWaitingError, WorkflowNotRegisteredError
from abstractruntime.scheduler import ScheduledRuntime, Scheduler, WorkflowRegistry, create_scheduled_runtime
from abstractruntime.storage.base import RunStore
from abstractruntime.testing import FakeClock


def test_cancel_with_children_is_breadth_first_and_skips_ended_runs(
    make_sr: Callable[..., ScheduledRuntime], flow: WorkflowSpec, clock: FakeClock
) -> None:
    sr = make_sr(workflows=[flow])
    rt = sr.runtime

    def spawn(parent: str | None) -> str:
        clock.advance(1)  # siblings are listed by created_at, then run_id
        run_id = rt.start(workflow=flow, parent_run_id=parent)
        rt.tick(workflow=flow, run_id=run_id)  # WAITING on the question
        return run_id

    root = spawn(None)
    child_a, child_b = spawn(root), spawn(root)
    done = spawn(root)
    sr.respond(done, {"text": "yes"})  # COMPLETED: must stay so
    clock.advance(1)
    grandchild_running = rt.start(workflow=flow, parent_run_id=child_a)  # RUNNING, never ticked
    great_grandchild = spawn(grandchild_running)

    cancelled = sr.cancel_with_children(root, reason="shutdown")

    assert [s.run_id for s in cancelled] == [root, child_a, child_b, grandchild_running, great_grandchild]
    for state in cancelled:
        assert state.status.value == "cancelled"
        assert state.error == "shutdown"
        assert state.waiting is None
    assert sr.get_state(done).status.value == "completed"
    assert sr.cancel_with_children("no-such-run") == []


def test_cancel_with_children_of_an_ended_root_still_cancels_live_children(
    make_sr: Callable[..., ScheduledRuntime], flow: WorkflowSpec
) -> None:
    sr = make_sr(workflows=[flow])
    root, _state = sr.run(flow)
    sr.respond(root, {"text": "no"})
    child = sr.runtime.start(workflow=flow, parent_run_id=root)
    assert [s.run_id for s in sr.cancel_with_children(root)] == [child]
    assert sr.get_state(child).error == "Cancelled"


def test_find_waiting_runs_filters(make_sr: Callable[..., ScheduledRuntime], flow: WorkflowSpec) -> None:
    sr = make_sr()
    asked, _ = sr.run(flow)
    timer, _ = sr.run(make_timer_flow())
    finished, _ = sr.run(flow)
    sr.respond(finished, {"text": "yes"})

    assert {r.run_id for r in sr.find_waiting_runs()} == {asked, timer}
    assert [r.run_id for r in sr.find_waiting_runs(wait_reason=WaitReason.USER)] == [asked]
    assert [r.run_id for r in sr.find_waiting_runs(wait_reason=WaitReason.UNTIL)] == [timer]
    assert [r.run_id for r in sr.find_waiting_runs(workflow_id="timer")] == [timer]
    assert len(sr.find_waiting_runs(limit=1)) == 1


def test_respond_errors(make_sr: Callable[..., ScheduledRuntime], flow: WorkflowSpec) -> None:
    sr = make_sr()
    timer, _ = sr.run(make_timer_flow())
    with pytest.raises(ValueError, match="without a wait_key") as info:
        sr.respond(timer, {})
    assert isinstance(info.value, ResumeError)
    run_id, _ = sr.run(flow)
    sr.respond(run_id, {"text": "yes"})
    with pytest.raises(RunNotWaitingError):
        sr.respond(run_id, {"text": "again"})
    with pytest.raises(KeyError):
        sr.respond("no-such-run", {})


def test_resume_event(make_sr: Callable[..., ScheduledRuntime], flow: WorkflowSpec) -> None:
    sr = make_sr()
    run_id, state = sr.run(flow)
    assert state.waiting is not None
    with pytest.raises(ValueError, match="wait_key mismatch"):
        sr.resume_event(run_id=run_id, wait_key="user:other", payload={})
    done = sr.resume_event(run_id=run_id, wait_key=state.waiting.wait_key, payload={"text": "yes"})
    assert done.output == {"shipped": True}
    with pytest.raises(ValueError, match="not waiting"):
        sr.resume_event(run_id=run_id, wait_key=None, payload={})

    other, _ = sr.run(flow)
    sr.registry.unregister("ship")
    with pytest.raises(WorkflowNotRegisteredError):
        sr.resume_event(run_id=other, wait_key=None, payload={"text": "yes"})


def test_start_and_tick_use_the_registry(
    make_sr: Callable[..., ScheduledRuntime], flow: WorkflowSpec
) -> None:
    sr = make_sr()
    run_id = sr.start(workflow=flow, vars={"x": 1})
    assert "ship" in sr.registry
    assert sr.get_state(run_id).status.value == "running"
    state = sr.tick(run_id)
    assert state.status.value == "waiting"
    assert state.vars["x"] == 1
    assert [r["status"] for r in sr.get_ledger(run_id)][-1] == "waiting"


def test_run_keeps_an_already_registered_spec_and_warns(
    make_sr: Callable[..., ScheduledRuntime], flow: WorkflowSpec, caplog: pytest.LogCaptureFixture
) -> None:
    sr = make_sr(workflows=[flow])
    sr.run(flow)  # the same spec: silently fine
    assert "already registered" not in caplog.text

    def finish_no(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="finish", complete_output={"shipped": "never"})

    rival = WorkflowSpec(workflow_id="ship", entry_node="confirm", nodes={**flow.nodes, "finish": finish_no})
    with caplog.at_level(logging.WARNING, logger="abstractruntime.scheduler"):
        run_id, state = sr.run(rival)
    assert "already registered" in caplog.text
    assert sr.registry.get("ship") is flow
    # The call ran the spec it was given; the resume uses the registered one.
    assert state.status.value == "waiting"
    assert sr.respond(run_id, {"text": "yes"}).output == {"shipped": True}


def test_run_passes_vars_and_actor(make_sr: Callable[..., ScheduledRuntime], flow: WorkflowSpec) -> None:
    sr = make_sr()
    _run_id, state = sr.run(flow, vars={"k": "v"}, actor_id="ar_1", max_steps=0)
    assert state.status.value == "running"
    assert state.vars["k"] == "v"
    assert state.actor_id == "ar_1"


def test_duplicate_workflows_are_rejected_up_front(flow: WorkflowSpec) -> None:
    with pytest.raises(ValueError, match="already registered"):
        create_scheduled_runtime(workflows=[flow, flow], auto_start=False)


def test_a_store_without_queries_is_a_type_error(flow: WorkflowSpec) -> None:
    class PlainStore(RunStore):
        def save(self, run: RunState) -> None: ...

        def load(self, run_id: str) -> RunState | None:
            return None

    with pytest.raises(TypeError, match="QueryableRunStore"):
        create_scheduled_runtime(run_store=PlainStore(), auto_start=False)


def test_constructor_validation(make_sr: Callable[..., ScheduledRuntime]) -> None:
    sr = make_sr()
    with pytest.raises(ValueError):
        Scheduler(runtime=sr.runtime, registry=WorkflowRegistry(), poll_interval_s=0)
    with pytest.raises(ValueError):
        Scheduler(runtime=sr.runtime, registry=WorkflowRegistry(), batch_size=0)
    scheduler = Scheduler(runtime=sr.runtime, registry=sr.registry)
    assert scheduler.clock is sr.runtime.clock
    assert scheduler.poll_interval_s == 1.0
    assert scheduler.runtime is sr.runtime
    assert scheduler.registry is sr.registry
    assert isinstance(sr.runtime.run_store, InMemoryRunStore)
    assert sr.runtime.workflow_registry is sr.registry
