"""PostgresArtifactStore wiring: open_stores and the CLI use it, a v1 schema migrates, threads share it.

The behaviour of the store itself is the artifact contract (tests/contract/test_artifact_contract.py).
"""

from __future__ import annotations

import threading

import pytest

psycopg = pytest.importorskip("psycopg")

from abstractruntime.cli.app import App  # noqa: E402
from abstractruntime.storage.postgres import PostgresArtifactStore, PostgresDatabase  # noqa: E402
from abstractruntime.storage.postgres.schema import MIGRATIONS  # noqa: E402
from abstractruntime.storage.urls import open_stores  # noqa: E402
from abstractruntime.testing.postgres import temporary_schema  # noqa: E402


def test_open_stores_and_the_cli_share_one_durable_artifact_store(pg_url: str) -> None:
    writer = open_stores(pg_url)
    app = App(store_url=pg_url)
    try:
        assert isinstance(writer.artifact_store, PostgresArtifactStore)
        meta = writer.artifact_store.store_text("evidence", run_id="run-1", tags={"kind": "note"})
        cli_store = app.artifact_store()
        assert isinstance(cli_store, PostgresArtifactStore) and cli_store is app.stores.artifact_store
        assert cli_store.load_text(meta.artifact_id) == "evidence"  # another connection, same rows
        assert [m.artifact_id for m in cli_store.search(tags={"kind": "note"})] == [meta.artifact_id]
    finally:
        app.close()
        writer.close()


def test_a_version_1_schema_gains_the_artifacts_table_and_keeps_its_rows(pg_session_url: str) -> None:
    with temporary_schema(prefix="ar_migrate_") as url:  # its own schema, left at version 1 first
        schema = url.rsplit("schema=", 1)[1]
        base = url.split("?", 1)[0]
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.execute(
                "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TIMESTAMPTZ DEFAULT now())"
            )
            for statement in MIGRATIONS[0][1]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (1)")
            conn.execute("INSERT INTO ledger_heads (run_id, last_seq) VALUES ('old-run', 7)")
        db = PostgresDatabase(url)
        try:
            assert db.schema_version() == MIGRATIONS[-1][0] >= 2
            with db.connection() as conn:
                assert conn.execute("SELECT last_seq FROM ledger_heads").fetchone()[0] == 7
            store = PostgresArtifactStore(db)
            assert store.load_json(store.store_json([1, 2]).artifact_id) == [1, 2]
        finally:
            db.close()


def test_threads_storing_the_same_and_different_ids_do_not_collide(pg_url: str) -> None:
    db = PostgresDatabase(pg_url)
    store = PostgresArtifactStore(db)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                store.store(f"{n}-{i}".encode(), run_id=f"run-{n}")
                store.store(f"shared by {n}".encode(), artifact_id="shared", run_id="shared")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert [len(store.list_by_run(f"run-{n}")) for n in range(4)] == [15] * 4
        shared = store.load("shared")
        assert shared is not None and shared.content in {f"shared by {n}".encode() for n in range(4)}
        assert len(store.list_by_run("shared")) == 1
        assert store.delete_by_run("run-0") == 15 and len(store.list_all()) == 46
    finally:
        db.close()
