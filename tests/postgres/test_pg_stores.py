"""PostgreSQL-specific store behaviour: migrations, URLs, the command inbox and lease fencing."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

import pytest

from abstractruntime.core.models import StepRecord
from abstractruntime.errors import ConcurrencyError, LeaseLostError, MissingExtraError
from abstractruntime.storage.commands import CommandRecord, InvalidCommandError
from abstractruntime.storage.urls import UnsupportedStoreURLError, open_stores
from abstractruntime.testing.contract.factory import make_run


def test_open_stores_migrates_once_and_records_the_version(pg_url: str) -> None:
    from abstractruntime.storage.postgres.schema import SCHEMA_VERSION

    first = open_stores(pg_url)
    second = open_stores(pg_url)  # a second opener finds the schema current and adds no row
    try:
        assert first.database.schema_version() == SCHEMA_VERSION
        with second.database.connection() as conn:
            assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        first.close()
        second.close()


def test_bad_schema_option_is_a_typed_url_error(pg_url: str) -> None:
    with pytest.raises(UnsupportedStoreURLError):
        open_stores(pg_url.split("?", maxsplit=1)[0] + "?schema=bad-name;drop")


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from abstractruntime.storage.postgres.db import import_psycopg

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtraError) as info:
        import_psycopg()
    assert info.value.extra == "postgres"


def test_command_inbox_is_idempotent_gap_free_and_claimable(pg_url: str) -> None:
    stores = open_stores(pg_url)
    try:
        inbox = stores.command_store
        first = inbox.append(CommandRecord("c1", "r1", "emit_event", {"n": 1}, ""))
        again = inbox.append(CommandRecord("c1", "r1", "emit_event", {"n": 2}, ""))
        second = inbox.append(CommandRecord("", "r2", "start", {}, ""))
        assert (first.seq, again.duplicate, again.seq, second.seq) == (1, True, 1, 2)
        records, cursor = inbox.list_after(after=0)
        assert [r.payload for r in records] == [{"n": 1}, {}] and cursor == 2
        with pytest.raises(InvalidCommandError):
            inbox.append(CommandRecord("c3", "", "start", {}, ""))
        with stores.database.transaction() as conn:
            claimed = inbox.claim_pending(conn, limit=10)
            inbox.mark_done(conn, claimed[0].seq, {"ok": True})
        assert inbox.outcome("c1") == {"ok": True}
        with stores.database.transaction() as conn:
            assert [r.seq for r in inbox.claim_pending(conn, limit=10)] == [2]
    finally:
        stores.close()


def test_a_commit_fenced_by_a_lost_lease_is_refused_and_writes_nothing(pg_url: str) -> None:
    from abstractruntime.storage.postgres import Fence

    stores = open_stores(pg_url)
    try:
        runs, ledger, leases = stores.run_store, stores.ledger_store, stores.lease_store
        run = make_run()
        revision = runs.commit(run, [], ledger_store=ledger, expected_revision=None)
        now = datetime.now(timezone.utc)
        mine = leases.acquire_lease(run.run_id, owner="a", ttl_s=30, now=now)
        record = StepRecord.start(run=run, node_id="start", effect=None)
        with runs.fenced(Fence(run.run_id, "a", mine.generation)):
            revision = runs.commit(run, [record], ledger_store=ledger, expected_revision=revision)
        # the lease lapses and another owner takes the run over
        theirs = leases.acquire_lease(run.run_id, owner="b", ttl_s=30, now=now + timedelta(seconds=31))
        assert theirs is not None and theirs.generation == mine.generation + 1
        with runs.fenced(Fence(run.run_id, "a", mine.generation)), pytest.raises(LeaseLostError) as info:
            runs.commit(run, [record], ledger_store=ledger, expected_revision=revision)
        assert isinstance(info.value, ConcurrencyError) and info.value.found_owner == "b"
        assert runs.current_revision(run.run_id) == revision
        assert len(ledger.list(run.run_id)) == 1
    finally:
        stores.close()


def test_an_expired_lease_fences_even_without_a_takeover(pg_url: str) -> None:
    from abstractruntime.storage.postgres import Fence

    stores = open_stores(pg_url)
    try:
        runs, ledger, leases = stores.run_store, stores.ledger_store, stores.lease_store
        run = make_run()
        revision = runs.commit(run, [], ledger_store=ledger, expected_revision=None)
        past = datetime.now(timezone.utc) - timedelta(seconds=60)
        mine = leases.acquire_lease(run.run_id, owner="a", ttl_s=30, now=past)
        with runs.fenced(Fence(run.run_id, "a", mine.generation)), pytest.raises(LeaseLostError) as info:
            runs.commit(run, [], ledger_store=ledger, expected_revision=revision)
        assert info.value.expired
        assert runs.current_revision(run.run_id) == revision
    finally:
        stores.close()


def test_the_commit_that_ends_a_run_drops_its_lease(pg_url: str) -> None:
    """A worker killed between its last commit and its release leaves no lease behind: nothing would
    ever claim the finished run to reap it (the CI failure of 2026-12-06 replayed)."""
    from abstractruntime.core.models import RunStatus
    from abstractruntime.storage.postgres import Fence

    stores = open_stores(pg_url)
    try:
        runs, ledger, leases = stores.run_store, stores.ledger_store, stores.lease_store
        run = make_run()
        revision = runs.commit(run, [], ledger_store=ledger, expected_revision=None)
        mine = leases.acquire_lease(run.run_id, owner="a", ttl_s=30, now=datetime.now(timezone.utc))
        with runs.fenced(Fence(run.run_id, "a", mine.generation)):
            run.status = RunStatus.WAITING  # a wait keeps the lease row (the worker releases it)
            revision = runs.commit(run, [], ledger_store=ledger, expected_revision=revision)
            assert leases.get_lease(run.run_id) is not None
            run.status = RunStatus.COMPLETED
            runs.commit(run, [], ledger_store=ledger, expected_revision=revision)
        # ... and the worker dies here, before release_lease
        assert leases.get_lease(run.run_id) is None
        assert leases.release_lease(run.run_id, owner="a", forget=True) is False  # a late release is harmless
    finally:
        stores.close()


def test_an_unreachable_server_is_a_typed_connection_error() -> None:
    from abstractruntime.errors import StoreUnavailableError

    with pytest.raises(StoreUnavailableError) as info:
        open_stores("postgresql://postgres@127.0.0.1:1/test")
    assert isinstance(info.value, ConnectionError) and "unreachable" in str(info.value)
