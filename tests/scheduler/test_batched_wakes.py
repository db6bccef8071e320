"""Event fan-out and timer wake-ups, batched on stores with ``group_commit`` (SPEC §4.11, §8.2).

Every waiting listener is resumed exactly once (one ``resume`` ledger record, the envelope at its
``result_key``), whether through the EMIT_EVENT effect or ``Scheduler.emit_event``; on SQLite the
resumes share one transaction per batch, a listener that cannot be resumed is left out alone, and due
timers are woken in batches too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from scheduler_support import make_timer_flow

from abstractruntime import Effect, EffectType, RunState, RunStatus, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.effects.events import deliver_to_listeners, event_envelope, find_listeners
from abstractruntime.core.effects.wake import group_commit_of
from abstractruntime.errors import RunNotWaitingError, RunPausedError
from abstractruntime.scheduler import ScheduledRuntime, Scheduler, WorkflowRegistry, create_scheduled_runtime
from abstractruntime.storage.urls import Stores, open_stores
from abstractruntime.testing import FakeClock

LISTENERS = 1000
KEY = "evt:global:global:go"


def _wait(run: RunState, ctx: Any) -> StepPlan:
    effect = Effect(
        type=EffectType.WAIT_EVENT,
        payload={"scope": "global", "name": "go", "resume_to_node": "done"},
        result_key="event",
    )
    return StepPlan(node_id="wait", effect=effect, next_node="done")


def _done(run: RunState, ctx: Any) -> StepPlan:
    if run.vars["event"]["payload"].get("boom"):
        raise RuntimeError("listener node bug")
    return StepPlan(node_id="done", complete_output={"n": run.vars["event"]["payload"]["n"]})


LISTENER = WorkflowSpec(workflow_id="listener", entry_node="wait", nodes={"wait": _wait, "done": _done})


def _emitter(max_steps: int) -> WorkflowSpec:
    def emit(run: RunState, ctx: Any) -> StepPlan:
        payload = {"scope": "global", "name": "go", "payload": {"n": 7}, "max_steps": max_steps}
        effect = Effect(type=EffectType.EMIT_EVENT, payload=payload, result_key="report")
        return StepPlan(node_id="emit", effect=effect, next_node="end")

    def end(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="end", complete_output={"report": run.vars["report"]})

    return WorkflowSpec(
        workflow_id=f"emitter{max_steps}", entry_node="emit", nodes={"emit": emit, "end": end}
    )


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'rt.db'}?synchronous=NORMAL"
    opened = open_stores(url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_stores(tmp_path: Path) -> Iterator[Stores]:
    opened = open_stores(f"sqlite:///{tmp_path / 'rt.db'}?synchronous=NORMAL")
    yield opened
    opened.close()


def _runtime(stores: Stores, *flows: WorkflowSpec) -> Runtime:
    registry = WorkflowRegistry()
    for flow in (LISTENER, *flows):
        registry.register(flow)
    return Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store, workflow_registry=registry)


def _park(runtime: Runtime, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        run_id = runtime.start(workflow=LISTENER)
        assert runtime.tick(workflow=LISTENER, run_id=run_id).status == RunStatus.WAITING
        ids.append(run_id)
    return ids


def _resume_records(runtime: Runtime, run_id: str) -> list[dict[str, Any]]:
    return [r for r in runtime.get_ledger(run_id) if (r.get("effect") or {}).get("type") == "resume"]


def _assert_resumed_once(runtime: Runtime, ids: list[str], n: int = 7) -> None:
    for run_id in ids:
        assert len(_resume_records(runtime, run_id)) == 1, run_id
        assert runtime.get_state(run_id).vars["event"]["payload"] == {"n": n}


@contextmanager
def _commits(stores: Stores) -> Iterator[list[str]]:
    """The COMMIT statements this thread's SQLite connection runs inside the block."""
    seen: list[str] = []
    conn = stores.run_store.db.connection()  # type: ignore[attr-defined]
    conn.set_trace_callback(
        lambda sql: seen.append(sql) if sql.strip().upper().startswith("COMMIT") else None
    )
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def _require_group_commit(stores: Stores) -> None:
    if group_commit_of(stores.run_store) is None:
        pytest.skip("this run store has no group_commit(): wakes commit one run at a time")


def test_emit_event_effect_resumes_each_of_1000_listeners_exactly_once(stores: Stores) -> None:
    emitter = _emitter(0)
    runtime = _runtime(stores, emitter)
    ids = _park(runtime, LISTENERS)
    state = runtime.tick(workflow=emitter, run_id=runtime.start(workflow=emitter))
    report = state.output["report"] if state.output else {}
    assert state.status == RunStatus.COMPLETED, state.error
    assert report["delivered"] == LISTENERS
    assert sorted(report["delivered_to"]) == sorted(ids)
    assert {r["status"] for r in report["resumed"]} == {"running"}  # max_steps 0: left for the host
    _assert_resumed_once(runtime, ids)
    again = runtime.tick(workflow=emitter, run_id=runtime.start(workflow=emitter))
    assert again.output is not None and again.output["report"]["delivered"] == 0  # nobody waits now
    for run_id in ids:
        assert runtime.tick(workflow=LISTENER, run_id=run_id).output == {"n": 7}
    _assert_resumed_once(runtime, ids)


def test_scheduler_emit_event_resumes_and_completes_each_of_1000_listeners_once(stores: Stores) -> None:
    runtime = _runtime(stores)
    ids = _park(runtime, LISTENERS)
    registry = runtime.workflow_registry
    resumed: list[str] = []
    scheduler = Scheduler(
        runtime=runtime, registry=registry, on_run_resumed=lambda s: resumed.append(s.run_id)
    )
    states = scheduler.emit_event(name="go", payload={"n": 7}, scope="global")
    assert sorted(s.run_id for s in states) == sorted(ids) == sorted(resumed)
    assert {s.status for s in states} == {RunStatus.COMPLETED}
    _assert_resumed_once(runtime, ids)
    assert scheduler.emit_event(name="go", payload={"n": 8}, scope="global") == []


def test_sqlite_fanout_commits_one_transaction_per_batch(sqlite_stores: Stores) -> None:
    stores = sqlite_stores
    _require_group_commit(stores)
    runtime = _runtime(stores)
    ids = _park(runtime, 450)
    listeners, _ = find_listeners(stores.run_store, (KEY,), limit=10_000)  # type: ignore[arg-type]
    envelope = _envelope()
    with _commits(stores) as commits:
        outcomes = deliver_to_listeners(
            runtime, [(r, LISTENER) for r in listeners], envelope=envelope, max_steps=0, batch_size=200
        )
    assert len(commits) == 3  # 200 + 200 + 50 resumes
    assert [o.status for o in outcomes] == ["advanced"] * 450
    _assert_resumed_once(runtime, ids)


def _envelope(**payload: Any) -> dict[str, Any]:
    return event_envelope(
        event_id=None,
        name="go",
        scope="global",
        session_id=None,
        payload={"n": 7, **payload},
        emitted_at="2026-01-01T00:00:00+00:00",
        emitter={"source": "test"},
    )


def test_listeners_that_cannot_be_resumed_are_left_out_alone(stores: Stores) -> None:
    """Listed, then one paused and one resumed by another driver: the batch delivers to the rest."""
    runtime = _runtime(stores)
    ids = _park(runtime, 5)
    listeners, _ = find_listeners(stores.run_store, (KEY,), limit=100)  # type: ignore[arg-type]
    by_id = {r.run_id: r for r in listeners}
    paused, taken = ids[1], ids[3]
    runtime.pause_run(paused)
    runtime.resume(workflow=LISTENER, run_id=taken, wait_key=KEY, payload=_envelope(n=1), max_steps=0)
    ordered = [(by_id[run_id], LISTENER) for run_id in ids]
    outcomes = deliver_to_listeners(runtime, ordered, envelope=_envelope(), max_steps=0, batch_size=10)
    assert [o.status for o in outcomes] == ["advanced", "conflict", "advanced", "conflict", "advanced"]
    assert isinstance(outcomes[1].error, RunPausedError)
    assert isinstance(outcomes[3].error, RunNotWaitingError)
    _assert_resumed_once(runtime, [ids[0], ids[2], ids[4]])
    assert runtime.get_state(paused).status == RunStatus.WAITING and _resume_records(runtime, paused) == []
    _assert_resumed_once(runtime, [taken], n=1)  # the other driver's resume, and only that one


def test_a_listener_whose_steps_raise_is_reported_and_the_others_complete(stores: Stores) -> None:
    runtime = _runtime(stores)
    ids = _park(runtime, 4)
    listeners, _ = find_listeners(stores.run_store, (KEY,), limit=100)  # type: ignore[arg-type]
    by_id = {r.run_id: r for r in listeners}
    pairs = [(by_id[run_id], LISTENER) for run_id in ids[:3]]
    boom = _envelope(boom=True)
    outcomes = deliver_to_listeners(runtime, pairs[:1], envelope=_envelope(), max_steps=10)
    outcomes += deliver_to_listeners(runtime, pairs[1:2], envelope=boom, max_steps=10)
    outcomes += deliver_to_listeners(runtime, pairs[2:], envelope=_envelope(), max_steps=10)
    assert [o.status for o in outcomes] == ["advanced", "failed", "advanced"]
    assert "listener node bug" in str(outcomes[1].error)
    assert runtime.get_state(ids[1]).status == RunStatus.RUNNING  # delivered; its next node raised
    assert len(_resume_records(runtime, ids[1])) == 1
    assert [runtime.get_state(i).status for i in (ids[0], ids[2])] == [RunStatus.COMPLETED] * 2
    assert runtime.get_state(ids[3]).status == RunStatus.WAITING  # not given: untouched


def _timer_sr(stores: Stores, clock: FakeClock, resumed: list[str]) -> ScheduledRuntime:
    return create_scheduled_runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        clock=clock,
        auto_start=False,
        on_run_resumed=lambda s: resumed.append(s.run_id),
    )


def test_due_timers_are_woken_once_each_in_batches(stores: Stores) -> None:
    clock = FakeClock()
    resumed: list[str] = []
    sr = _timer_sr(stores, clock, resumed)
    flow = make_timer_flow("timer", delay_s=5)
    ids = [sr.run(flow)[0] for _ in range(250)]
    groups = _count_groups(stores)
    clock.advance(6)
    assert sr.scheduler.poll_once() == 250
    assert sorted(resumed) == sorted(ids)
    for run_id in ids:
        state = sr.get_state(run_id)
        assert state.status == RunStatus.COMPLETED
        completions = [r for r in sr.get_ledger(run_id) if (r.get("result") or {}).get("completed")]
        assert len(completions) == 1
    if groups is not None:
        assert groups == [1, 1, 1]  # batches of 100, 100, 50 (the scheduler's batch_size)
    assert sr.scheduler.poll_once() == 0


def _count_groups(stores: Stores) -> list[int] | None:
    """Record each ``group_commit`` block the run store opens (None: the store has none)."""
    group: Callable[[], Any] | None = group_commit_of(stores.run_store)
    if group is None:
        return None
    opened: list[int] = []

    @contextmanager
    def counting() -> Iterator[None]:
        assert group is not None
        opened.append(1)
        with group():
            yield

    stores.run_store.group_commit = counting  # type: ignore[attr-defined]
    return opened
