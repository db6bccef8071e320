"""PostgresWorker in-process: refused commands, a clean stop releasing leases."""

from __future__ import annotations

from abstractruntime.core.runtime import Runtime
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage.commands import CommandRecord
from abstractruntime.storage.postgres.worker import PostgresWorker
from abstractruntime.storage.urls import Stores, open_stores


def _runtime(stores: Stores) -> Runtime:
    return Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)


def test_a_command_that_cannot_be_applied_is_done_with_its_error_and_changes_nothing(pg_url: str) -> None:
    stores = open_stores(pg_url)
    try:
        inbox = stores.command_store
        inbox.append(CommandRecord("bad-start", "-", "start", {"workflow_id": "nope"}, ""))
        inbox.append(CommandRecord("bad-kind", "-", "explode", {}, ""))
        worker = PostgresWorker(stores, registry=WorkflowRegistry(), make_runtime=_runtime, poll_s=0.05)
        worker.run(until=lambda: inbox.outcome("bad-kind") is not None)
        first = inbox.outcome("bad-start")
        assert first is not None and not first["ok"] and "nope" in first["error"]
        assert inbox.outcome("bad-kind") == {"ok": False, "error": "unknown command type 'explode'"}
        assert stores.run_store.list_runs() == []
        assert worker.stats.commands_applied == 2 and worker.stats.errors == []
    finally:
        stores.close()
