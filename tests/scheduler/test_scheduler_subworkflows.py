"""Scenario 9 (SPEC §14.9, §4.10) and the poll cycle's resumption of parents whose child ended."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunState, StepPlan, WaitReason, WorkflowSpec
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.scheduler import ScheduledRuntime
from abstractruntime.testing import FakeClock


def _parent(**payload: Any) -> WorkflowSpec:
    def call(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(
            node_id="call",
            effect=Effect(
                type=EffectType.START_SUBWORKFLOW,
                payload={"workflow_id": "child", **payload},
                result_key="sub",
            ),
            next_node="after",
        )

    def after(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="after", complete_output={"sub": run.vars["sub"]})

    return WorkflowSpec(workflow_id="parent", entry_node="call", nodes={"call": call, "after": after})


def _child(*, then_fail: bool = False) -> WorkflowSpec:
    def ask(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(
            node_id="ask",
            effect=Effect(type=EffectType.ASK_USER, payload={"prompt": "ok?"}, result_key="answer"),
            next_node="end",
        )

    def end(run: RunState, ctx: Any) -> StepPlan:
        if then_fail:
            return StepPlan(
                node_id="end", effect=Effect(type=EffectType.TOOL_CALLS, payload={"tool_calls": []})
            )
        return StepPlan(node_id="end", complete_output={"answer": run.vars["answer"]["text"]})

    return WorkflowSpec(workflow_id="child", entry_node="ask", nodes={"ask": ask, "end": end})


def _failing_tools(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    return EffectOutcome.failed("tools are down")


@pytest.fixture
def family(make_sr: Callable[..., ScheduledRuntime]) -> Callable[..., tuple[ScheduledRuntime, str, str]]:
    """``build(then_fail=False)``: a parent run waiting on its waiting sync child; returns (sr, parent, child)."""

    def build(*, then_fail: bool = False, **kwargs: Any) -> tuple[ScheduledRuntime, str, str]:
        sr = make_sr(
            workflows=[_parent(), _child(then_fail=then_fail)],
            effect_handlers={EffectType.TOOL_CALLS: _failing_tools},
            **kwargs,
        )
        parent_id, state = sr.run(sr.registry.get_or_raise("parent"))
        assert state.status.value == "waiting"
        assert state.waiting is not None and state.waiting.reason == WaitReason.SUBWORKFLOW
        child_id = state.waiting.details["sub_run_id"]  # type: ignore[index]
        assert state.waiting.wait_key == f"subworkflow:{child_id}"
        assert sr.get_state(child_id).parent_run_id == parent_id
        return sr, parent_id, child_id

    return build


def test_scenario_9_parent_waits_until_resume_subworkflow_parent(family: Callable[..., Any]) -> None:
    sr, parent_id, child_id = family()
    child = sr.respond(child_id, {"text": "yes"})
    assert child.status.value == "completed"
    assert child.output == {"answer": "yes"}
    assert sr.get_state(parent_id).status.value == "waiting"  # the kernel does not resume it

    parent = sr.resume_subworkflow_parent(child_run_id=child_id, child_output=child.output)
    assert parent is not None
    assert parent.run_id == parent_id
    assert parent.status.value == "completed"
    assert parent.output == {"sub": {"sub_run_id": child_id, "output": {"answer": "yes"}}}
    assert sr.resume_subworkflow_parent(child_run_id=child_id, child_output=child.output) is None
    assert sr.resume_subworkflow_parent(child_run_id="nobody", child_output={}) is None


def test_resume_subworkflow_parent_finds_the_parent_by_scanning_when_the_child_is_gone(
    family: Callable[..., Any],
) -> None:
    sr, parent_id, child_id = family()
    parent = sr.resume_subworkflow_parent(child_run_id=child_id, child_output={"answer": "early"})
    assert parent is not None and parent.run_id == parent_id
    assert parent.output == {"sub": {"sub_run_id": child_id, "output": {"answer": "early"}}}


def test_poll_cycle_resumes_the_parent_of_a_completed_child(family: Callable[..., Any]) -> None:
    resumed: list[str] = []
    sr, parent_id, child_id = family(on_run_resumed=lambda s: resumed.append(s.run_id))
    assert sr.scheduler.poll_once() == 0  # child still waiting
    assert sr.get_state(parent_id).status.value == "waiting"

    sr.respond(child_id, {"text": "yes"})
    assert sr.scheduler.poll_once() == 1
    parent = sr.get_state(parent_id)
    assert parent.status.value == "completed"
    assert parent.output == {"sub": {"sub_run_id": child_id, "output": {"answer": "yes"}}}
    assert resumed == [parent_id]
    assert sr.stats.runs_resumed == 1
    assert sr.scheduler.poll_once() == 0  # nothing left to do


def test_poll_cycle_resumes_the_parent_of_a_failed_child_with_the_error(family: Callable[..., Any]) -> None:
    sr, parent_id, child_id = family(then_fail=True)
    child = sr.respond(child_id, {"text": "yes"})
    assert child.status.value == "failed"
    assert child.error is not None and "tools are down" in child.error

    assert sr.scheduler.poll_once() == 1
    parent = sr.get_state(parent_id)
    assert parent.status.value == "completed"
    assert parent.output == {
        "sub": {"sub_run_id": child_id, "output": {"success": False, "error": child.error}}
    }


def test_poll_cycle_resumes_the_parent_of_a_cancelled_child(family: Callable[..., Any]) -> None:
    sr, parent_id, child_id = family()
    sr.cancel_run(child_id, reason="operator said no")
    assert sr.scheduler.poll_once() == 1
    parent = sr.get_state(parent_id)
    assert parent.output == {
        "sub": {"sub_run_id": child_id, "output": {"success": False, "error": "operator said no"}}
    }


def test_a_paused_parent_is_left_alone_until_its_pause_is_lifted(family: Callable[..., Any]) -> None:
    sr, parent_id, child_id = family()
    sr.respond(child_id, {"text": "yes"})
    sr.runtime.pause_run(parent_id)
    assert sr.scheduler.poll_once() == 0
    assert sr.get_state(parent_id).status.value == "waiting"
    sr.runtime.resume_run(parent_id)
    assert sr.scheduler.poll_once() == 1
    assert sr.get_state(parent_id).status.value == "completed"


def test_a_parent_whose_workflow_is_not_registered_is_a_recorded_failure(
    family: Callable[..., Any], clock: FakeClock
) -> None:
    failures: list[tuple[str, BaseException]] = []
    sr, parent_id, child_id = family(on_run_failed=lambda run_id, exc: failures.append((run_id, exc)))
    sr.respond(child_id, {"text": "yes"})
    sr.registry.unregister("parent")
    assert sr.scheduler.poll_once() == 0
    assert [run_id for run_id, _ in failures] == [parent_id]
    assert isinstance(failures[0][1], KeyError)
    stats = sr.stats
    assert stats.runs_failed == 1
    assert stats.errors and stats.errors[0].startswith(f"{clock.iso()}: run {parent_id} failed")
    assert sr.get_state(parent_id).status.value == "waiting"


def test_a_parent_resumed_by_the_host_meanwhile_is_skipped_quietly(
    family: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    sr, parent_id, child_id = family()
    sr.respond(child_id, {"text": "yes"})
    stale = sr.find_waiting_runs(wait_reason=WaitReason.SUBWORKFLOW)
    assert [r.run_id for r in stale] == [parent_id]
    sr.resume_subworkflow_parent(child_run_id=child_id, child_output={"answer": "host"})
    # Replay the cycle's view of the now stale parent: the resume loses the race and is not a failure.
    with caplog.at_level(logging.DEBUG, logger="abstractruntime.scheduler"):
        assert sr.scheduler._cycle.resume_parent(stale[0], {"sub_run_id": child_id, "output": None}) is False
    assert sr.stats.runs_failed == 0
    assert "skipped" in caplog.text
    assert sr.get_state(parent_id).output == {"sub": {"sub_run_id": child_id, "output": {"answer": "host"}}}


def test_the_scheduler_thread_resumes_the_parent_by_itself(family: Callable[..., Any]) -> None:
    parent_done = threading.Event()
    holder: list[str] = []
    sr, parent_id, child_id = family(
        poll_interval_s=3600, on_run_resumed=lambda s: parent_done.set() if s.run_id in holder else None
    )
    holder.append(parent_id)
    with sr:
        sr.respond(child_id, {"text": "yes"})
        sr.scheduler.wake()
        assert parent_done.wait(10)
    assert sr.get_state(parent_id).output == {"sub": {"sub_run_id": child_id, "output": {"answer": "yes"}}}
    assert sr.resume_subworkflow_parent(child_run_id=child_id, child_output={}) is None  # already done
