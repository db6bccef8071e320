"""QUICKSTART.md, "The zero-config scheduler" (snippet 2) and its WAIT_UNTIL paragraph (SPEC §8.3)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from scheduler_support import make_timer_flow, scheduler_threads, wait_for

from abstractruntime import Effect, EffectType, RunState, StepPlan, WorkflowSpec
from abstractruntime.scheduler import ScheduledRuntime, create_scheduled_runtime
from abstractruntime.testing import FakeClock

# Copied from QUICKSTART.md; ``flow`` comes from snippet 1 (the ``flow`` fixture).
SNIPPET_2 = """\
from abstractruntime import create_scheduled_runtime

sr = create_scheduled_runtime()            # in-memory stores, scheduler thread started
run_id, state = sr.run(flow)               # start + tick in one call
if state.status.value == "waiting":
    state = sr.respond(run_id, {"text": "yes"})   # finds the wait key itself
assert state.status.value == "completed"
sr.stop()
"""


def test_zero_config_snippet(flow: WorkflowSpec) -> None:
    namespace: dict[str, Any] = {"flow": flow}
    exec(compile(SNIPPET_2, "QUICKSTART.md", "exec"), namespace)
    sr, state = namespace["sr"], namespace["state"]
    assert state.status.value == "completed"  # restated for python -O
    assert state.output == {"shipped": True}
    assert isinstance(sr, ScheduledRuntime)
    assert not sr.is_running
    assert scheduler_threads() == []
    assert sr.registry.get("ship") is flow


def test_wait_until_three_seconds_ahead_completes_by_poll_once(
    make_sr: Callable[..., ScheduledRuntime],
) -> None:
    clock: FakeClock = FakeClock()
    sr = make_sr(poll_interval_s=0.5, clock=clock)
    run_id, state = sr.run(make_timer_flow(delay_s=3.0))
    assert state.status.value == "waiting"
    assert state.waiting is not None and state.waiting.wait_key is None

    assert sr.scheduler.poll_once() == 0
    clock.advance(2.999)
    assert sr.scheduler.poll_once() == 0
    assert sr.get_state(run_id).status.value == "waiting"

    clock.advance(0.001)
    assert sr.scheduler.poll_once() == 1
    final = sr.get_state(run_id)
    assert final.status.value == "completed"
    assert final.output == {"woke_at": clock.iso()}
    assert sr.stats.runs_resumed == 1
    assert sr.stats.poll_cycles == 3


def test_wait_until_completes_on_the_thread_after_wake(make_sr: Callable[..., ScheduledRuntime]) -> None:
    clock = FakeClock()
    resumed = threading.Event()
    sr = make_sr(poll_interval_s=3600, clock=clock, on_run_resumed=lambda state: resumed.set())
    run_id, state = sr.run(make_timer_flow(delay_s=3.0))
    assert state.status.value == "waiting"
    with sr:
        wait_for(lambda: sr.stats.poll_cycles >= 1)  # the thread's first cycle found nothing due
        assert sr.get_state(run_id).status.value == "waiting"
        clock.advance(3)
        sr.scheduler.wake()  # without it the thread would wait an hour
        assert resumed.wait(10)
        assert sr.get_state(run_id).status.value == "completed"
    assert not sr.is_running


@pytest.mark.slow
def test_wait_until_completes_by_itself_in_real_time() -> None:
    """The QUICKSTART promise on the real clock: nothing but polling ``get_state``."""

    def wait(run: RunState, ctx: Any) -> StepPlan:
        until = (datetime.now(timezone.utc) + timedelta(seconds=3)).isoformat()
        return StepPlan(
            node_id="wait",
            effect=Effect(type=EffectType.WAIT_UNTIL, payload={"until": until}),
            next_node="done",
        )

    def done(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"ok": True})

    flow = WorkflowSpec(workflow_id="timer", entry_node="wait", nodes={"wait": wait, "done": done})
    sr = create_scheduled_runtime(poll_interval_s=0.5)
    try:
        run_id, state = sr.run(flow)
        seen = [state.status.value]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status = sr.get_state(run_id).status.value
            if status != seen[-1]:
                seen.append(status)
            if status == "completed":
                break
            time.sleep(0.1)
        assert seen == ["waiting", "completed"]
        assert sr.get_state(run_id).output == {"ok": True}
    finally:
        sr.stop()
