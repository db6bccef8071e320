"""Crash recovery through the library: leases, ``Runtime.recover_runs``/``recover_run``, attempt limits,
the LeaseKeeper heartbeat and the scheduler's recovery pass (in one process; time from a FakeClock)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunState, RunStatus, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.clock import SYSTEM_CLOCK
from abstractruntime.core.leases import LeaseKeeper
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.errors import CapabilityError
from abstractruntime.scheduler import Scheduler, WorkflowRegistry
from abstractruntime.storage.in_memory import InMemoryLeaseStore, InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.storage.urls import Stores, open_stores
from abstractruntime.testing import FakeClock

TTL = 30.0


class Crash(BaseException):
    """Stands in for the process dying inside a step (not an Exception: nothing catches it)."""


class Host:
    """Host effect handlers counting their executions, able to 'kill the process' once."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.crash_in: set[str] = set()

    def __call__(self, run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        op = str(effect.payload["op"])
        self.calls[op] = self.calls.get(op, 0) + 1
        if op in self.crash_in:
            self.crash_in.discard(op)
            raise Crash(op)  # after the side effect, before the step commits
        return EffectOutcome.completed({"op": op})


def _flow(*, boom: dict[str, int] | None = None) -> WorkflowSpec:
    def call(op: str, nxt: str) -> Any:
        def node(run: RunState, ctx: Any) -> StepPlan:
            effect = Effect(EffectType.LLM_CALL, {"op": op}, result_key=op)
            return StepPlan(node_id=op, effect=effect, next_node=nxt)

        return node

    def check(run: RunState, ctx: Any) -> StepPlan:
        if boom is not None and boom["left"] != 0:
            boom["left"] -= 1
            raise ValueError("node check is broken")
        return StepPlan(node_id="check", next_node="b")

    def done(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"a": run.vars["a"], "b": run.vars["b"]})

    nodes = {"a": call("a", "check"), "check": check, "b": call("b", "done"), "done": done}
    return WorkflowSpec(workflow_id="rec", entry_node="a", nodes=nodes)


@pytest.fixture(params=["memory", "file", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    url = {
        "memory": "memory://",
        "file": (tmp_path / "store").as_uri(),
        "sqlite": f"sqlite:///{tmp_path / 'runs.db'}",
    }[request.param]
    opened = open_stores(url)
    yield opened
    opened.close()


def _runtime(stores: Stores, clock: FakeClock, host: Host, flow: WorkflowSpec) -> Runtime:
    registry = WorkflowRegistry()
    registry.register(flow)
    return Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        effect_handlers={EffectType.LLM_CALL: host},
        workflow_registry=registry,
        clock=clock,
        lease_store=stores.lease_store,
        lease_ttl_s=TTL,
    )


def _crash_in_b(stores: Stores, clock: FakeClock, flow: WorkflowSpec) -> tuple[Runtime, Host, str]:
    """A driver that held the lease and died inside effect ``b`` (its intent recorded, not its end)."""
    host = Host()
    runtime = _runtime(stores, clock, host, flow)
    run_id = runtime.start(workflow=flow)
    assert stores.lease_store.acquire_lease(run_id, owner="dead-driver", ttl_s=TTL, now=clock.now())
    host.crash_in.add("b")
    with pytest.raises(Crash):
        runtime.tick(workflow=flow, run_id=run_id)
    return runtime, host, run_id


def test_a_dead_drivers_run_is_recovered_after_its_lease_lapses(stores: Stores) -> None:
    clock = FakeClock()
    flow = _flow()
    runtime, host, run_id = _crash_in_b(stores, clock, flow)
    assert runtime.get_state(run_id).status == RunStatus.RUNNING
    assert host.calls == {"a": 1, "b": 1}

    outcome = runtime.recover_run(run_id)  # the dead driver's lease is still live: not taken over
    assert (outcome.action, outcome.detail.startswith("leased by dead-driver")) == ("skipped", True)

    clock.advance(TTL)
    (outcome,) = runtime.recover_runs()
    assert outcome.action == "recovered" and outcome.attempt == 1, outcome
    state = runtime.get_state(run_id)
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"a": {"op": "a"}, "b": {"op": "b"}}
    # "b" had an intent and no completion: executed again (at-least-once); "a" was committed: never again
    assert host.calls == {"a": 1, "b": 2}
    ledger = runtime.get_ledger(run_id)
    b_records = [r["status"] for r in ledger if (r["effect"] or {}).get("payload", {}).get("op") == "b"]
    assert b_records == ["started", "started", "completed"]
    assert stores.lease_store.get_lease(run_id) is None  # recovery forgot the lease of a finished run


def test_a_released_lease_is_recovered_at_once_and_a_missing_one_after_the_idle_grace(
    stores: Stores,
) -> None:
    clock = FakeClock()
    flow = _flow()
    runtime, host, run_id = _crash_in_b(stores, clock, flow)
    assert stores.lease_store.release_lease(run_id, owner="dead-driver") is True  # Ctrl-C: released
    (outcome,) = runtime.recover_runs()
    assert outcome.action == "recovered"

    other = runtime.start(workflow=flow)  # RUNNING, no lease row: maybe a driver about to take it
    (outcome,) = runtime.recover_runs()
    assert outcome.action == "skipped" and "updated less than" in outcome.detail
    clock.advance(TTL + 1)
    (outcome,) = runtime.recover_runs()
    assert outcome.action == "recovered"
    assert runtime.get_state(other).status == RunStatus.COMPLETED
    assert host.calls == {"a": 2, "b": 3}


def test_a_node_that_keeps_raising_fails_the_run_after_the_attempt_limit(stores: Stores) -> None:
    clock = FakeClock()
    boom = {"left": -1}  # raise forever
    flow = _flow(boom=boom)
    host = Host()
    runtime = _runtime(stores, clock, host, flow)
    run_id = runtime.start(workflow=flow)
    with pytest.raises(ValueError):
        runtime.tick(workflow=flow, run_id=run_id)  # a driver without recovery: the run stays RUNNING
    assert runtime.get_state(run_id).status == RunStatus.RUNNING

    first = runtime.recover_run(run_id)
    assert (first.action, first.attempt) == ("error", 1)
    assert "ValueError: node check is broken" in first.detail
    # the failed attempt leaves its lease to lapse: no retry before one TTL (time to fix the code)
    assert runtime.recover_runs()[0].action == "skipped"
    clock.advance(TTL)
    second = runtime.recover_run(run_id)
    assert (second.action, second.attempt) == ("error", 2)
    clock.advance(TTL)
    (third,) = runtime.recover_runs()
    assert (third.action, third.attempt) == ("failed", 3)
    state = runtime.get_state(run_id)
    assert state.status == RunStatus.FAILED
    assert state.error == (
        "Recovery gave up after 3 attempts at node 'check': ValueError: node check is broken"
    )
    failure, status = runtime.get_ledger(run_id)[-2:]
    assert failure["status"] == "failed" and failure["error"] == state.error
    assert failure["effect"] == {"type": "recovery", "payload": {"attempts": 3, "max_attempts": 3}}
    assert status["idempotency_key"] == "system:terminal_status:failed"
    assert host.calls == {"a": 1}
    assert runtime.recover_run(run_id).action == "skipped"  # a failed run is not running


def test_progress_resets_the_attempt_count(stores: Stores) -> None:
    clock = FakeClock()
    boom = {"left": 2}  # raises twice, then works
    flow = _flow(boom=boom)
    host = Host()
    runtime = _runtime(stores, clock, host, flow)
    run_id = runtime.start(workflow=flow)
    with pytest.raises(ValueError):
        runtime.tick(workflow=flow, run_id=run_id)
    assert runtime.recover_run(run_id).action == "error"
    clock.advance(TTL)
    outcome = runtime.recover_run(run_id, max_attempts=3)
    assert (outcome.action, outcome.attempt) == ("recovered", 2)
    assert runtime.get_state(run_id).status == RunStatus.COMPLETED


def test_a_driver_that_keeps_dying_gets_the_run_failed(stores: Stores) -> None:
    clock = FakeClock()
    flow = _flow()
    runtime, _host, run_id = _crash_in_b(stores, clock, flow)
    mark = f"rev:{stores.run_store.current_revision(run_id)}"  # type: ignore[attr-defined]
    for n in range(3):  # three recoveries that died before committing anything
        clock.advance(TTL)
        lease = stores.lease_store.acquire_lease(
            run_id, owner=f"recoverer-{n}", ttl_s=TTL, now=clock.now(), recovery_mark=mark
        )
        assert lease is not None and lease.recoveries == n + 1
    clock.advance(TTL)
    (outcome,) = runtime.recover_runs()
    assert outcome.action == "failed" and outcome.attempt == 4
    state = runtime.get_state(run_id)
    assert state.status == RunStatus.FAILED
    assert state.error is not None and "its driver kept dying" in state.error


def test_a_child_ticked_by_its_leased_parent_is_not_taken(stores: Stores) -> None:
    clock = FakeClock()
    flow = _flow()
    host = Host()
    runtime = _runtime(stores, clock, host, flow)
    parent = runtime.start(workflow=flow)
    child = runtime.start(workflow=flow, parent_run_id=parent)
    assert stores.lease_store.acquire_lease(parent, owner="live-driver", ttl_s=TTL * 10, now=clock.now())
    clock.advance(TTL + 1)
    outcomes = {o.run_id: o for o in runtime.recover_runs()}
    assert outcomes[parent].action == "skipped" and outcomes[parent].detail.startswith(
        "leased by live-driver"
    )
    assert outcomes[child].action == "skipped" and "parent run" in outcomes[child].detail


def test_recovery_needs_a_lease_store() -> None:
    runtime = Runtime(run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore())
    assert runtime.leases is None and runtime.lease_store is None
    with pytest.raises(CapabilityError):
        runtime.recover_runs()
    with pytest.raises(TypeError):
        Scheduler(runtime=runtime, registry=WorkflowRegistry(), recover_stranded=True)


# -- LeaseKeeper ---------------------------------------------------------------------------------------
def test_the_heartbeat_keeps_a_lease_alive_and_release_forgets_finished_runs() -> None:
    store = InMemoryLeaseStore()
    statuses = {"r1": RunStatus.RUNNING, "r2": RunStatus.COMPLETED}
    keeper = LeaseKeeper(store, clock=SYSTEM_CLOCK, ttl_s=0.3, heartbeat_s=0.05, status_of=statuses.get)
    try:
        assert keeper.acquire("r1") is not None and keeper.acquire("r2") is not None
        assert keeper.acquire("r1") is not None  # nested hold of the same owner
        time.sleep(0.6)  # two TTLs: only the heartbeat keeps the leases
        lease = store.get_lease("r1")
        assert lease is not None and lease.is_live(SYSTEM_CLOCK.now())
        other = LeaseKeeper(store, clock=SYSTEM_CLOCK, ttl_s=0.3)
        assert other.acquire("r1") is None
        keeper.release("r1")  # one of two holds
        assert keeper.holds("r1")
        keeper.release("r1")
        assert not keeper.holds("r1")
        released = store.get_lease("r1")
        assert released is not None and released.owner is None  # RUNNING: kept for recovery to see
        keeper.release("r2")
        assert store.get_lease("r2") is None  # finished: forgotten
        assert other.acquire("r1") is not None
        other.close()
    finally:
        keeper.close()


def test_a_keeper_notices_a_lease_taken_over() -> None:
    store = InMemoryLeaseStore()
    clock = FakeClock()
    keeper = LeaseKeeper(store, clock=clock, ttl_s=TTL)
    try:
        keeper.acquire("r1")
        clock.advance(TTL)
        assert store.acquire_lease("r1", owner="thief", ttl_s=TTL, now=clock.now()) is not None
        keeper.renew_all()
        assert keeper.lost("r1")
    finally:
        keeper.close()
    lease = store.get_lease("r1")
    assert lease is not None and lease.owner == "thief"  # closing never releases someone else's lease


def test_keeper_rejects_bad_timings() -> None:
    with pytest.raises(ValueError):
        LeaseKeeper(InMemoryLeaseStore(), clock=SYSTEM_CLOCK, ttl_s=0)
    with pytest.raises(ValueError):
        LeaseKeeper(InMemoryLeaseStore(), clock=SYSTEM_CLOCK, ttl_s=1, heartbeat_s=2)


# -- the scheduler -----------------------------------------------------------------------------------
def test_scheduler_recovers_stranded_runs_and_leases_what_it_ticks(stores: Stores) -> None:
    clock = FakeClock()
    seen_owners: list[str | None] = []

    def wait(run: RunState, ctx: Any) -> StepPlan:
        until = (clock.now() + timedelta(seconds=5)).isoformat()
        return StepPlan(
            node_id="wait", effect=Effect(EffectType.WAIT_UNTIL, {"until": until}), next_node="look"
        )

    def look(run: RunState, ctx: Any) -> StepPlan:
        lease = stores.lease_store.get_lease(run.run_id)
        seen_owners.append(lease.owner if lease is not None else None)
        return StepPlan(node_id="look", complete_output={"ok": True})

    timer_flow = WorkflowSpec("timer", "wait", {"wait": wait, "look": look})
    flow = _flow()
    host = Host()
    runtime = _runtime(stores, clock, host, flow)
    runtime.workflow_registry.register(timer_flow)
    scheduler = Scheduler(
        runtime=runtime, registry=runtime.workflow_registry, clock=clock, recover_stranded=True
    )
    timed = runtime.start(workflow=timer_flow)
    runtime.tick(workflow=timer_flow, run_id=timed)
    stranded = runtime.start(workflow=flow)
    live = runtime.start(workflow=flow)
    assert stores.lease_store.acquire_lease(live, owner="live-driver", ttl_s=TTL * 10, now=clock.now())
    clock.advance(TTL + 1)
    assert scheduler.poll_once() == 2  # the stranded run and the due timer
    assert runtime.get_state(stranded).status == RunStatus.COMPLETED
    assert runtime.get_state(live).status == RunStatus.RUNNING  # a live driver's run is never taken
    assert runtime.get_state(timed).status == RunStatus.COMPLETED
    assert runtime.leases is not None and seen_owners == [runtime.leases.owner]
    assert stores.lease_store.get_lease(timed) is None
    runtime.leases.close()


def test_scheduler_fails_a_run_whose_node_keeps_raising(stores: Stores) -> None:
    clock = FakeClock()
    flow = _flow(boom={"left": -1})
    runtime = _runtime(stores, clock, Host(), flow)
    failures: list[str] = []
    scheduler = Scheduler(
        runtime=runtime,
        registry=runtime.workflow_registry,
        clock=clock,
        recover_stranded=True,
        on_run_failed=lambda run_id, exc: failures.append(str(exc)),
    )
    run_id = runtime.start(workflow=flow)
    with pytest.raises(ValueError):
        runtime.tick(workflow=flow, run_id=run_id)
    clock.advance(TTL + 1)  # no lease row: stranded once idle for a TTL
    for _cycle in range(3):
        assert scheduler.poll_once() == 0
        assert runtime.get_state(run_id).status == RunStatus.RUNNING or _cycle == 2
        assert scheduler.poll_once() == 0  # the attempt's lease has not lapsed: no retry yet
        clock.advance(TTL)
    state = runtime.get_state(run_id)
    assert state.status == RunStatus.FAILED
    assert len(failures) == 3 and failures[-1] == state.error
    assert scheduler.stats.runs_failed == 3
    assert runtime.leases is not None
    runtime.leases.close()
