"""Start/stop of the scheduler thread (SPEC §8.2 "Lifecycle"): clean, idempotent, context managers."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from scheduler_support import make_timer_flow, scheduler_threads, wait_for

from abstractruntime import RunState, StepPlan
from abstractruntime.scheduler import ScheduledRuntime, Scheduler, create_scheduled_runtime
from abstractruntime.testing import FakeClock


def test_start_twice_raises_and_stop_is_idempotent(make_sr: Callable[..., ScheduledRuntime]) -> None:
    sr = make_sr()
    scheduler = sr.scheduler
    assert not scheduler.is_running
    scheduler.stop()  # not running: a no-op
    scheduler.start()
    assert scheduler.is_running
    [thread] = scheduler_threads()
    assert thread.daemon
    with pytest.raises(RuntimeError, match="already running"):
        scheduler.start()
    scheduler.stop()
    assert not thread.is_alive()
    assert scheduler_threads() == []
    assert not scheduler.is_running
    scheduler.stop()
    scheduler.stop(timeout=0.1)


def test_restart_after_stop(make_sr: Callable[..., ScheduledRuntime]) -> None:
    sr = make_sr()
    sr.start_scheduler()
    sr.stop()
    sr.start_scheduler()
    assert sr.is_running
    assert len(scheduler_threads()) == 1
    sr.stop()
    assert scheduler_threads() == []


def test_auto_start_and_stop() -> None:
    sr = create_scheduled_runtime(poll_interval_s=60)
    try:
        assert sr.is_running
        wait_for(lambda: sr.stats.poll_cycles >= 1)  # the thread polls at once
    finally:
        sr.stop()
    assert scheduler_threads() == []
    assert not sr.is_running


def test_scheduled_runtime_is_a_context_manager(make_sr: Callable[..., ScheduledRuntime]) -> None:
    sr = make_sr()
    with sr as entered:
        assert entered is sr
        assert sr.is_running
    assert not sr.is_running
    assert scheduler_threads() == []

    sr.start_scheduler()
    with sr:  # already running: entering does not start a second thread
        assert len(scheduler_threads()) == 1
    assert scheduler_threads() == []


def test_scheduler_is_a_context_manager_and_stops_on_error(make_sr: Callable[..., ScheduledRuntime]) -> None:
    sr = make_sr()
    scheduler = Scheduler(runtime=sr.runtime, registry=sr.registry, poll_interval_s=60)
    with pytest.raises(ZeroDivisionError), scheduler as entered:
        assert entered is scheduler
        assert scheduler.is_running
        _ = 1 / 0
    assert not scheduler.is_running
    assert scheduler_threads() == []


def test_wake_makes_the_thread_poll_now(make_sr: Callable[..., ScheduledRuntime], clock: FakeClock) -> None:
    sr = make_sr(poll_interval_s=3600)
    with sr:
        wait_for(lambda: sr.stats.poll_cycles >= 1)
        sr.scheduler.wake()
        wait_for(lambda: sr.stats.poll_cycles >= 2)
        sr.scheduler.wake()
        wait_for(lambda: sr.stats.poll_cycles >= 3)


def test_stop_from_a_callback_on_the_scheduler_thread(
    make_sr: Callable[..., ScheduledRuntime], clock: FakeClock
) -> None:
    stopped = threading.Event()
    holder: list[ScheduledRuntime] = []

    def stop_now(state: RunState) -> None:
        holder[0].stop()  # must not deadlock joining its own thread
        stopped.set()

    sr = make_sr(poll_interval_s=3600, on_run_resumed=stop_now)
    holder.append(sr)
    sr.run(make_timer_flow())
    clock.advance(3)
    sr.start_scheduler()
    assert stopped.wait(10)
    wait_for(lambda: not sr.is_running)
    sr.stop()
    assert scheduler_threads() == []


def test_stop_interrupts_a_long_drain_between_runs(clock: FakeClock) -> None:
    """A stop() during a cycle ends it before the next run instead of finishing every due timer."""
    release = threading.Event()
    entered = threading.Event()
    calls: list[str] = []

    def slow_done(run: RunState, ctx: object) -> StepPlan:
        calls.append(run.run_id)
        entered.set()
        release.wait(10)
        return StepPlan(node_id="done", complete_output={})

    sr = create_scheduled_runtime(clock=clock, auto_start=False, poll_interval_s=3600)
    flow = make_timer_flow(after=slow_done)
    for _ in range(5):
        sr.run(flow)
    clock.advance(3)
    sr.start_scheduler()
    assert entered.wait(10)
    stopper = threading.Thread(target=sr.stop)
    stopper.start()
    wait_for(sr.scheduler._stop_event.is_set)
    release.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert scheduler_threads() == []
    assert len(calls) == 1


def test_poll_once_works_without_the_thread(
    make_sr: Callable[..., ScheduledRuntime], clock: FakeClock
) -> None:
    sr = make_sr()
    sr.run(make_timer_flow())
    clock.advance(3)
    assert sr.scheduler.poll_once() == 1
    assert scheduler_threads() == []
