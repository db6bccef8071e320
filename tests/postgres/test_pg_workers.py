"""Many worker processes on one PostgreSQL database: crash recovery, fencing, exactly-once commits.

``AR_PG_WORKER_RUNS`` sizes the multi-worker test (default 300 runs, well under a minute on a 2-core
box; the issue's figure is 2,000).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

from pg_workers import answer_waits, enqueue_runs, spawn_worker, status_counts

from abstractruntime.storage.commands import CommandRecord
from abstractruntime.storage.ledger_chain import verify_ledger_store
from abstractruntime.storage.urls import open_stores

RUNS = int(os.environ.get("AR_PG_WORKER_RUNS", "300"))
WORKERS = 4
DEADLINE_S = 240.0


def _wait_for(predicate, timeout_s: float, stores) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        answer_waits(stores)
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out; runs by status: {status_counts(stores)}")


def test_four_workers_one_killed_every_run_completes_once(pg_url: str, tmp_path: Path) -> None:
    log = tmp_path / "effects.log"
    stores = open_stores(pg_url)
    enqueue_runs(stores.command_store, RUNS)
    workers = [spawn_worker(pg_url, log) for _ in range(WORKERS)]
    try:
        _wait_for(lambda: status_counts(stores).get("completed", 0) >= RUNS // 3, DEADLINE_S, stores)
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        workers[0] = spawn_worker(pg_url, log)
        _wait_for(lambda: status_counts(stores).get("completed", 0) == RUNS, DEADLINE_S, stores)
        # every run completed; nothing is left leased (completed runs forget their lease rows)
        assert status_counts(stores) == {"completed": RUNS}
        with stores.database.connection() as conn:
            assert conn.execute("SELECT COUNT(*) FROM run_leases WHERE owner IS NOT NULL").fetchone()[0] == 0
            assert conn.execute("SELECT COUNT(*) FROM commands WHERE done_at IS NULL").fetchone()[0] == 0
            run_ids = [r[0] for r in conn.execute("SELECT run_id FROM runs").fetchall()]
        for run_id in run_ids:
            records = stores.ledger_store.list(run_id)
            assert verify_ledger_store(stores.ledger_store, run_id)["ok"], run_id
            completed_effects = [
                r
                for r in records
                if r["status"] == "completed" and (r.get("effect") or {}).get("type") == "llm_call"
            ]
            assert len(completed_effects) == 1, run_id  # the effect committed exactly once
        # the side-effect log: one line per run, except a retry of an effect the killed worker ran
        # but never committed (at most one per worker thread it had)
        lines = [line.split() for line in log.read_text().splitlines()]
        per_run = Counter(run_id for _, run_id in lines)
        assert set(per_run) == set(run_ids)
        extra = [(pid, run_id) for pid, run_id in lines if per_run[run_id] > 1]
        assert len([run for run, n in per_run.items() if n > 1]) <= 1
        assert all(n <= 2 for n in per_run.values())
        assert len({pid for pid, _ in extra}) <= 2 and (not extra or str(victim.pid) in {p for p, _ in extra})
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
        stores.close()


def test_a_worker_paused_past_its_lease_cannot_commit(pg_url: str, tmp_path: Path) -> None:
    log = tmp_path / "effects.log"
    stores = open_stores(pg_url)
    stores.command_store.append(
        CommandRecord("slow-1", "-", "start", {"workflow_id": "slow", "vars": {"sleep_s": 1.0}}, "")
    )
    stale = spawn_worker(pg_url, log, ttl_s=1.0, name="stale")
    fresh = None
    try:
        _wait_for(lambda: log.exists() and log.read_text().strip() != "", 60, stores)
        stale.send_signal(signal.SIGSTOP)  # mid-effect: the step is executed, not committed
        with stores.database.connection() as conn:
            (run_id,) = conn.execute("SELECT run_id FROM runs").fetchone()
        held = stores.lease_store.get_lease(run_id)
        assert held is not None and held.owner is not None
        fresh = spawn_worker(pg_url, log, ttl_s=1.0, name="fresh")
        _wait_for(lambda: status_counts(stores).get("completed", 0) == 1, 60, stores)
        stale.send_signal(signal.SIGCONT)  # finishes its effect, then tries to commit
        time.sleep(1.5)
        stale.send_signal(signal.SIGTERM)
        assert stale.wait(timeout=30) == 0
        err = "".join(p.read_text() for p in tmp_path.glob("stale.*.err"))
        assert "fenced_out=1" in err, err
        state = stores.run_store.load(run_id)
        assert state is not None and state.output == {"by": str(fresh.pid)}
        records = stores.ledger_store.list(run_id)
        assert verify_ledger_store(stores.ledger_store, run_id)["ok"]
        results = [
            r["result"]
            for r in records
            if r["status"] == "completed" and (r.get("effect") or {}).get("type") == "llm_call"
        ]
        assert results == [{"content": str(fresh.pid)}]  # nothing of the stale worker's step landed
        assert stores.lease_store.get_lease(run_id) is None
    finally:
        for worker in (stale, fresh):
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGCONT)
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)
        stores.close()
