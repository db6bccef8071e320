"""A worker whose connections are cut by the server reconnects and finishes every run exactly once."""

from __future__ import annotations

import threading
import time

import psycopg

from abstractruntime.core.models import RunState, StepPlan
from abstractruntime.core.runtime import Runtime
from abstractruntime.core.spec import RunContext, WorkflowSpec
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.storage.postgres.worker import PostgresWorker
from abstractruntime.storage.urls import Stores, open_stores

APP = "ar_conn_loss_test"


def _flow() -> WorkflowSpec:
    def step(run: RunState, ctx: RunContext) -> StepPlan:
        time.sleep(0.01)
        run.vars["n"] = int(run.vars.get("n", 0)) + 1
        if run.vars["n"] >= 4:
            return StepPlan(node_id="step", complete_output={"n": run.vars["n"]})
        return StepPlan(node_id="step", next_node="step")

    return WorkflowSpec(workflow_id="loop", entry_node="step", nodes={"step": step})


def _cut(base: str) -> int:
    with psycopg.connect(base, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (APP,)
        ).fetchall()
    return len(rows)


def test_cut_connections_are_replaced_and_no_step_commits_twice(pg_url: str) -> None:
    url = f"{pg_url}&application_name={APP}"
    stores = open_stores(url)
    flow = _flow()
    registry = WorkflowRegistry()
    registry.register(flow)

    def make(s: Stores) -> Runtime:
        return Runtime(run_store=s.run_store, ledger_store=s.ledger_store)

    reference = Runtime(run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore())
    reference_id = reference.start(workflow=flow)
    reference.tick(workflow=flow, run_id=reference_id)
    expected_records = len(reference.ledger_store.list(reference_id))
    checker = open_stores(pg_url)  # the test's own connections are not cut
    runtime = make(checker)
    run_ids = [runtime.start(workflow=flow) for _ in range(40)]
    worker = PostgresWorker(
        stores, registry=registry, make_runtime=make, concurrency=2, ttl_s=2.0, poll_s=0.05
    )

    def all_done() -> bool:
        return all(s.status.value == "completed" for s in checker.run_store.list_runs(limit=100))

    def cutter() -> None:
        for _ in range(3):
            time.sleep(0.3)
            _cut(pg_url.split("?", maxsplit=1)[0])

    thread = threading.Thread(target=cutter)
    thread.start()
    try:
        worker.run(until=lambda: not thread.is_alive() and all_done())
        thread.join()
        assert any("Error" in e or "terminat" in e for e in worker.stats.errors), worker.stats.errors
        for run_id in run_ids:
            state = checker.run_store.load(run_id)
            assert state is not None and state.output == {"n": 4}
            # each step committed exactly once: the ledger is the one of an uninterrupted run
            assert len(checker.ledger_store.list(run_id)) == expected_records
        with checker.database.connection() as conn:
            assert conn.execute("SELECT COUNT(*) FROM run_leases WHERE owner IS NOT NULL").fetchone()[0] == 0
    finally:
        thread.join()
        stores.close()
        checker.close()
