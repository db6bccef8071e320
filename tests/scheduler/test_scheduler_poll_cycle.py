"""The poll cycle (SPEC §8.2): due timers on the injected clock, isolation of failures, stats, draining."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scheduler_support import make_timer_flow

from abstractruntime import InMemoryLedgerStore, InMemoryRunStore, RunState, Runtime, StepPlan
from abstractruntime.core.effects.wake import group_commit_of
from abstractruntime.errors import ConcurrencyError
from abstractruntime.scheduler import ScheduledRuntime, Scheduler, WorkflowRegistry, create_scheduled_runtime
from abstractruntime.storage.urls import open_stores
from abstractruntime.testing import FakeClock


def _boom(run: RunState, ctx: Any) -> StepPlan:
    raise RuntimeError("node bug")


def test_a_raising_node_in_one_run_does_not_stop_another_runs_timer(
    make_sr: Callable[..., ScheduledRuntime], clock: FakeClock
) -> None:
    failures: list[tuple[str, BaseException]] = []
    resumed: list[RunState] = []
    sr = make_sr(
        on_run_failed=lambda run_id, exc: failures.append((run_id, exc)), on_run_resumed=resumed.append
    )
    broken, _ = sr.run(make_timer_flow("broken", delay_s=5, after=_boom))
    healthy, _ = sr.run(make_timer_flow("healthy", delay_s=10))
    clock.advance(10)

    assert sr.scheduler.poll_once() == 1

    assert sr.get_state(healthy).status.value == "completed"
    assert [s.run_id for s in resumed] == [healthy]
    assert [(run_id, str(exc)) for run_id, exc in failures] == [(broken, "node bug")]
    broken_state = sr.get_state(broken)
    assert broken_state.status.value == "running"  # SPEC §4.3 b: the run stays RUNNING at that node
    assert broken_state.current_node == "done"
    stats = sr.stats
    assert (stats.runs_resumed, stats.runs_failed, stats.poll_cycles) == (1, 1, 1)
    assert stats.last_poll_at == clock.iso()
    assert stats.errors == [f"{clock.iso()}: run {broken} failed: RuntimeError: node bug"]
    assert sr.scheduler.poll_once() == 0  # the broken run is no longer due: it is not retried


def test_callback_exceptions_are_logged_not_raised(
    make_sr: Callable[..., ScheduledRuntime], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def bad_resumed(state: RunState) -> None:
        raise ValueError("callback bug 1")

    def bad_failed(run_id: str, exc: BaseException) -> None:
        raise ValueError("callback bug 2")

    sr = make_sr(on_run_resumed=bad_resumed, on_run_failed=bad_failed)
    good, _ = sr.run(make_timer_flow("good"))
    bad, _ = sr.run(make_timer_flow("bad", after=_boom))
    clock.advance(3)
    with caplog.at_level(logging.ERROR, logger="abstractruntime.scheduler"):
        assert sr.scheduler.poll_once() == 1
    assert "on_run_resumed callback raised for run " + good in caplog.text
    assert "on_run_failed callback raised for run " + bad in caplog.text
    assert sr.get_state(good).status.value == "completed"


def test_paused_timers_are_skipped_until_resumed(
    make_sr: Callable[..., ScheduledRuntime], clock: FakeClock
) -> None:
    sr = make_sr()
    run_id, _ = sr.run(make_timer_flow())
    sr.runtime.pause_run(run_id)
    clock.advance(60)
    assert sr.scheduler.poll_once() == 0
    assert sr.get_state(run_id).status.value == "waiting"
    sr.runtime.resume_run(run_id)
    assert sr.scheduler.poll_once() == 1
    assert sr.get_state(run_id).status.value == "completed"


def test_unregistered_workflow_is_a_recorded_failure(
    make_sr: Callable[..., ScheduledRuntime], clock: FakeClock
) -> None:
    sr = make_sr()
    run_id, _ = sr.run(make_timer_flow())
    sr.registry.unregister("timer")
    clock.advance(3)
    assert sr.scheduler.poll_once() == 0
    assert sr.stats.runs_failed == 1
    assert "WorkflowNotRegisteredError" in sr.stats.errors[0]
    assert sr.get_state(run_id).status.value == "waiting"


def test_one_cycle_drains_more_due_timers_than_a_batch_each_once(clock: FakeClock) -> None:
    runtime = Runtime(run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore(), clock=clock)
    registry = WorkflowRegistry()
    flow = make_timer_flow(delay_s=1)
    registry.register(flow)
    woken: list[str] = []
    scheduler = Scheduler(
        runtime=runtime, registry=registry, batch_size=7, on_run_resumed=lambda s: woken.append(s.run_id)
    )
    ids = []
    for _ in range(50):
        run_id = runtime.start(workflow=flow)
        runtime.tick(workflow=flow, run_id=run_id)
        ids.append(run_id)
    clock.advance(1)
    assert scheduler.poll_once() == 50
    assert sorted(woken) == sorted(ids)  # every run exactly once
    assert scheduler.poll_once() == 0


def test_runs_that_stay_due_do_not_starve_the_runs_behind_them(
    make_sr: Callable[..., ScheduledRuntime], clock: FakeClock
) -> None:
    sr = make_sr()
    early = make_timer_flow("early", delay_s=1)
    late = make_timer_flow("late", delay_s=2)
    paused = []
    for _ in range(250):  # more than two batches of stuck (paused) runs, all due first
        run_id, _ = sr.run(early)
        sr.runtime.pause_run(run_id)
        paused.append(run_id)
    behind = [sr.run(late)[0] for _ in range(30)]
    clock.advance(5)
    assert sr.scheduler.poll_once() == 30
    assert all(sr.get_state(r).status.value == "completed" for r in behind)
    assert all(sr.get_state(r).status.value == "waiting" for r in paused)


def test_a_tick_that_loses_a_concurrency_race_is_skipped_then_retried(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Real race on SQLite: while the scheduler ticks a run, another runtime writes it.

    With ``group_commit`` (batched wakes) the commit ending the UNTIL wait stays committed and only the
    step after it lost the race: the run is RUNNING at its resume node.  Without it the whole tick is
    undone and the run stays due.  Either way it is not counted, and the next cycle ticks it again."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    ours, theirs = open_stores(url), open_stores(url)
    try:
        host = Runtime(run_store=theirs.run_store, ledger_store=theirs.ledger_store, clock=clock)
        meddled: list[str] = []

        def meddle(run: RunState, ctx: Any) -> StepPlan:
            if not meddled:  # the host writes the run meanwhile, once
                meddled.append(run.run_id)
                host.update_limits(run.run_id, {"max_iterations": 7})
            return StepPlan(node_id="done", complete_output={"ok": True})

        failures: list[str] = []
        resumed: list[str] = []
        sr = _sr_over(
            ours,
            clock,
            on_run_failed=lambda run_id, exc: failures.append(run_id),
            on_run_resumed=lambda s: resumed.append(s.run_id),
        )
        raced, _ = sr.run(make_timer_flow("raced", after=meddle))
        fine, _ = sr.run(make_timer_flow("fine", delay_s=4))
        clock.advance(4)
        with caplog.at_level(logging.DEBUG, logger="abstractruntime.scheduler"):
            assert sr.scheduler.poll_once() == 1
        assert resumed == [fine]
        assert failures == []
        assert sr.stats.runs_failed == 0 and sr.stats.errors == []
        assert f"run {raced} was advanced by another driver; skipped" in caplog.text
        state = sr.get_state(raced)
        batched = group_commit_of(ours.run_store) is not None
        assert (state.status.value, state.current_node) == (
            ("running", "done") if batched else ("waiting", "wait")
        )
        assert state.vars["_limits"]["max_iterations"] == 7  # the host's write was kept
        assert sr.scheduler.poll_once() == 1  # the next cycle ticks it again
        assert resumed == [fine, raced]
        assert sr.get_state(raced).status.value == "completed"
        assert sr.scheduler.poll_once() == 0
    finally:
        ours.close()
        theirs.close()


def test_a_failing_query_is_recorded_and_the_parent_pass_still_runs(
    make_sr: Callable[..., ScheduledRuntime], clock: FakeClock
) -> None:
    class FlakyStore(InMemoryRunStore):
        def list_due_wait_until(self, *, now_iso: str, limit: int = 100) -> list[RunState]:
            raise OSError("disk on fire")

        def list_runs(self, **kwargs: Any) -> list[RunState]:
            self.parent_queries = getattr(self, "parent_queries", 0) + 1
            return super().list_runs(**kwargs)

    store = FlakyStore()
    sr = make_sr(run_store=store)
    assert sr.scheduler.poll_once() == 0
    assert store.parent_queries == 1
    [error] = sr.stats.errors
    assert error == f"{clock.iso()}: due-timer query failed: OSError: disk on fire"


def test_errors_kept_are_bounded_and_stats_are_snapshots(clock: FakeClock) -> None:
    runtime = Runtime(run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore(), clock=clock)
    registry = WorkflowRegistry()
    flow = make_timer_flow(after=_boom)
    registry.register(flow)
    scheduler = Scheduler(runtime=runtime, registry=registry, max_errors_kept=2)
    ids = []
    for _ in range(3):
        run_id = runtime.start(workflow=flow)
        runtime.tick(workflow=flow, run_id=run_id)
        ids.append(run_id)
    before = scheduler.stats
    clock.advance(3)
    scheduler.poll_once()
    after = scheduler.stats
    assert before.runs_failed == 0 and before.errors == []
    assert after.runs_failed == 3
    assert len(after.errors) == 2
    assert {e.split(" run ", 1)[1].split(" ", 1)[0] for e in after.errors} < set(ids)
    after.errors.clear()
    assert len(scheduler.stats.errors) == 2


def test_a_clock_given_to_the_scheduler_decides_what_is_due(make_sr: Callable[..., ScheduledRuntime]) -> None:
    sr = make_sr()
    run_id, _ = sr.run(make_timer_flow())
    behind = FakeClock()
    scheduler = Scheduler(runtime=sr.runtime, registry=sr.registry, clock=behind)
    sr.runtime.clock.advance(3)  # type: ignore[attr-defined]
    assert scheduler.poll_once() == 0  # its own clock says nothing is due yet
    behind.advance(3)
    assert scheduler.poll_once() == 1
    assert sr.get_state(run_id).status.value == "completed"


def test_concurrency_error_from_tick_is_not_a_failure(
    make_sr: Callable[..., ScheduledRuntime], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sr = make_sr()
    run_id, _ = sr.run(make_timer_flow())
    real_tick = sr.runtime.tick

    def losing_tick(**kwargs: Any) -> RunState:
        raise ConcurrencyError(run_id=kwargs["run_id"], expected_revision=1, actual_revision=2)

    monkeypatch.setattr(sr.runtime, "tick", losing_tick)
    clock.advance(3)
    assert sr.scheduler.poll_once() == 0
    assert sr.stats.runs_failed == 0 and sr.stats.errors == []
    monkeypatch.setattr(sr.runtime, "tick", real_tick)
    assert sr.scheduler.poll_once() == 1  # the next cycle wakes it
    assert sr.get_state(run_id).status.value == "completed"


def _sr_over(stores: Any, clock: FakeClock, **kwargs: Any) -> ScheduledRuntime:
    return create_scheduled_runtime(
        run_store=stores.run_store, ledger_store=stores.ledger_store, clock=clock, auto_start=False, **kwargs
    )
