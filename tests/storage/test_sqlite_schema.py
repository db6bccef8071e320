"""SQLite schema migrations: a database written by an older version is upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from abstractruntime.core.models import StepRecord
from abstractruntime.storage.sqlite_db import SqliteDatabase
from abstractruntime.storage.sqlite_ledger import SqliteLedgerStore
from abstractruntime.storage.sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from abstractruntime.testing.contract.factory import make_run


def _version_2_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        for migration in MIGRATIONS[:2]:
            migration(conn)
        conn.execute("PRAGMA user_version=2")
        conn.commit()
    finally:
        conn.close()


def test_version_2_database_gets_the_ledger_key_index_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _version_2_database(path)
    db = SqliteDatabase(path)
    try:
        conn = db.connection()
        assert int(conn.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION == 5
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(ledger)")}
        assert "idx_ledger_key" in indexes
        assert "idx_ledger_completed_key" not in indexes  # version 4: idx_ledger_key answers both lookups
        ledger = SqliteLedgerStore(db)
        run = make_run()
        intent = StepRecord.start(run=run, node_id="n", effect=None, idempotency_key="k")
        ledger.append(intent)
        found = ledger.find_started(run.run_id, "k")
        assert found is not None and found["step_id"] == intent.step_id
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM ledger INDEXED BY idx_ledger_key "
            "WHERE run_id = 'r' AND idempotency_key = 'k' AND idempotency_key IS NOT NULL "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchall()
        assert any("idx_ledger_key" in str(row[-1]) for row in plan)
    finally:
        db.close()
