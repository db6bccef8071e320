"""Scheduler.emit_event (SPEC §8.2): external events to exact-key listeners, ticked with max_steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunState, StepPlan, WorkflowSpec
from abstractruntime.errors import WorkflowNotRegisteredError
from abstractruntime.scheduler import ScheduledRuntime
from abstractruntime.testing import FakeClock


def _listener(workflow_id: str = "listener", **wait: Any) -> WorkflowSpec:
    def listen(run: RunState, ctx: Any) -> StepPlan:
        payload = wait or {"name": "order.paid"}
        return StepPlan(
            node_id="listen",
            effect=Effect(type=EffectType.WAIT_EVENT, payload=payload, result_key="evt"),
            next_node="got",
        )

    def got(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="got", complete_output={"event": run.vars["evt"]})

    return WorkflowSpec(workflow_id=workflow_id, entry_node="listen", nodes={"listen": listen, "got": got})


def _park(sr: ScheduledRuntime, flow: WorkflowSpec, session_id: str | None = "s1") -> str:
    if flow.workflow_id not in sr.registry:
        sr.registry.register(flow)
    run_id = sr.runtime.start(workflow=flow, session_id=session_id)
    state = sr.tick(run_id)
    assert state.status.value == "waiting"
    return run_id


def test_exact_key_listeners_are_resumed_and_ticked(
    make_sr: Callable[..., ScheduledRuntime], clock: FakeClock
) -> None:
    resumed: list[str] = []
    sr = make_sr(on_run_resumed=lambda s: resumed.append(s.run_id))
    flow = _listener()
    a, b = _park(sr, flow), _park(sr, flow)
    other_session = _park(sr, flow, session_id="s2")
    other_name = _park(sr, _listener("other", name="order.shipped"))
    wildcard = _park(sr, _listener("wild", wait_key="evt:session:s1:*"))

    states = sr.emit_event(name="order.paid", payload={"amount": 3}, session_id="s1")

    assert sorted(s.run_id for s in states) == sorted([a, b])
    assert sorted(resumed) == sorted([a, b])
    envelope = {
        "event_id": None,
        "name": "order.paid",
        "scope": "session",
        "session_id": "s1",
        "payload": {"amount": 3},
        "emitted_at": clock.iso(),
        "emitter": {"source": "external"},
    }
    for state in states:
        assert state.status.value == "completed"
        assert state.output == {"event": envelope}
    for untouched in (other_session, other_name, wildcard):
        assert sr.get_state(untouched).status.value == "waiting"
    assert sr.stats.runs_resumed == 2


def test_non_dict_payload_is_wrapped_and_max_steps_zero_leaves_listeners_running(
    make_sr: Callable[..., ScheduledRuntime],
) -> None:
    sr = make_sr()
    run_id = _park(sr, _listener())
    [state] = sr.emit_event(name="order.paid", payload=42, session_id="s1", max_steps=0)
    assert state.status.value == "running"
    assert state.current_node == "got"
    assert state.vars["evt"]["payload"] == {"value": 42}
    assert sr.tick(run_id).status.value == "completed"


def test_other_scopes_build_their_own_keys(make_sr: Callable[..., ScheduledRuntime]) -> None:
    sr = make_sr()
    by_workflow = _park(sr, _listener("wf-scoped", wait_key="evt:workflow:billing:tick"))
    global_run = _park(sr, _listener("global-scoped", wait_key="evt:global:global:tick"))
    assert [
        s.run_id for s in sr.emit_event(name="tick", payload={}, scope="workflow", workflow_id="billing")
    ] == [by_workflow]
    [state] = sr.emit_event(name="tick", payload={}, scope="GLOBAL")
    assert state.run_id == global_run
    assert state.output["event"]["scope"] == "global"  # type: ignore[index]


def test_paused_listeners_are_skipped(make_sr: Callable[..., ScheduledRuntime]) -> None:
    sr = make_sr()
    flow = _listener()
    paused, live = _park(sr, flow), _park(sr, flow)
    sr.runtime.pause_run(paused)
    assert [s.run_id for s in sr.emit_event(name="order.paid", payload={}, session_id="s1")] == [live]
    assert sr.get_state(paused).status.value == "waiting"


def test_no_listener_returns_an_empty_list(make_sr: Callable[..., ScheduledRuntime]) -> None:
    sr = make_sr()
    assert sr.emit_event(name="nobody.listens", payload={}, session_id="s1") == []


def test_missing_scope_id_or_name_is_a_value_error(make_sr: Callable[..., ScheduledRuntime]) -> None:
    sr = make_sr()
    with pytest.raises(ValueError):
        sr.emit_event(name="order.paid", payload={})  # session scope without session_id
    with pytest.raises(ValueError):
        sr.emit_event(name="  ", payload={}, session_id="s1")
    with pytest.raises(ValueError):
        sr.emit_event(name="x", payload={}, scope="galaxy", session_id="s1")


def test_unknown_workflow_raises_key_error(make_sr: Callable[..., ScheduledRuntime]) -> None:
    sr = make_sr()
    run_id = _park(sr, _listener())
    sr.registry.unregister("listener")
    with pytest.raises(KeyError) as info:
        sr.emit_event(name="order.paid", payload={}, session_id="s1")
    assert isinstance(info.value, WorkflowNotRegisteredError)
    assert sr.get_state(run_id).status.value == "waiting"


def test_a_listener_whose_node_raises_is_recorded_and_the_others_still_get_the_event(
    make_sr: Callable[..., ScheduledRuntime],
) -> None:
    failures: list[str] = []
    sr = make_sr(on_run_failed=lambda run_id, exc: failures.append(run_id))

    def boom(run: RunState, ctx: Any) -> StepPlan:
        raise RuntimeError("listener bug")

    broken = WorkflowSpec(
        workflow_id="broken", entry_node="listen", nodes={"listen": _listener().nodes["listen"], "got": boom}
    )
    bad, good = _park(sr, broken), _park(sr, _listener())
    states = sr.emit_event(name="order.paid", payload={}, session_id="s1")
    assert [s.run_id for s in states] == [good]
    assert failures == [bad]
    assert sr.stats.runs_failed == 1
    assert "listener bug" in sr.stats.errors[0]
    assert sr.get_state(bad).status.value == "running"  # delivered; its node raised (SPEC §4.3 b)
