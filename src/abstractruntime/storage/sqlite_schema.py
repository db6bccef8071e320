"""Versioned schema of the SQLite backend, tracked in ``PRAGMA user_version``.

Each migration runs once, in order, inside the transaction that opens the database; a database
written by a newer version (a higher ``user_version``) is refused rather than guessed at.

Tables (SPEC §7.4, plus what the durable engine needs):

* ``runs`` — one row per run: indexed columns + ``run_json`` (the 13-key object) + ``revision``.
  ``updated_at`` / ``created_at`` columns hold canonical UTC stamps so they sort as time.
* ``wait_index`` — one row per WAITING+UNTIL run; ``next_due_iso`` is canonical UTC, so the due-timer
  query is an index range scan that compares time correctly.
* ``ledger`` — ``(run_id, seq)`` rows with ``record_json``, plus ``status`` and ``idempotency_key``
  columns behind a partial index for the idempotency lookup.
* ``ledger_heads`` (versions 1 to 4) — was the per-run sequence counter; dropped in version 5.
* ``commands`` / ``command_cursors`` — the command inbox (SPEC §7.5).
* ``run_leases`` (version 2) — one row per leased run: owner, expiry (fixed-width UTC text, so SQL
  compares it as time), fencing generation and recovery counters (``leases.py``, ``sqlite_leases.py``).
* ``idx_ledger_key`` (version 3) — every keyed ledger row by ``(run_id, idempotency_key, seq)``, for
  the in-doubt lookup (``find_started``: the last record of a key, is it an open STARTED intent?).
* version 4 — the write-what-changed shape: ``run_trace_steps`` holds node trace entries, one row
  each (``sqlite_traces.py``), so the run row stays small; the ``runs`` indexes no longer contain
  ``updated_at`` (which changes on every step) but only columns that change with the status or the
  wait; ``idx_ledger_completed_key`` is dropped (``idx_ledger_key`` answers both lookups).  Rows
  written by earlier versions are read as they are and take the new shape on their next write.
* version 5 — ``ledger_heads`` is dropped: a run's next ``seq`` is one more than its highest, read on
  the ledger's ``(run_id, seq)`` key inside the write transaction, so a step no longer writes a counter
  row (one b-tree page less per commit).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..errors import CorruptRunError
from .sqlite_commands import ensure_command_schema

__all__ = ["SCHEMA_VERSION", "migrate"]


def _execute_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated DDL statement by statement (``executescript`` would commit the open
    transaction first)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn: sqlite3.Connection) -> None:
    _execute_script(
        conn,
        """
        CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY,
            workflow_id TEXT NOT NULL,
            status TEXT NOT NULL,
            wait_reason TEXT,
            wait_until TEXT,
            parent_run_id TEXT,
            actor_id TEXT,
            session_id TEXT,
            created_at TEXT,
            updated_at TEXT,
            run_json TEXT NOT NULL,
            revision INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX IF NOT EXISTS idx_runs_status_updated ON runs(status, updated_at DESC);
        CREATE INDEX IF NOT EXISTS idx_runs_workflow_updated ON runs(workflow_id, updated_at DESC);
        CREATE INDEX IF NOT EXISTS idx_runs_parent ON runs(parent_run_id);
        CREATE INDEX IF NOT EXISTS idx_runs_wait ON runs(status, wait_reason, wait_until);
        CREATE INDEX IF NOT EXISTS idx_runs_session_updated ON runs(session_id, updated_at DESC);

        CREATE TABLE IF NOT EXISTS wait_index (
            run_id TEXT PRIMARY KEY,
            next_due_iso TEXT NOT NULL,
            updated_at_iso TEXT NOT NULL,
            status TEXT
        );
        CREATE INDEX IF NOT EXISTS idx_wait_index_due ON wait_index(next_due_iso);

        CREATE TABLE IF NOT EXISTS ledger (
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            record_json TEXT NOT NULL,
            status TEXT,
            idempotency_key TEXT,
            PRIMARY KEY (run_id, seq)
        );
        CREATE INDEX IF NOT EXISTS idx_ledger_completed_key ON ledger(run_id, idempotency_key, seq)
            WHERE status = 'completed' AND idempotency_key IS NOT NULL;

        CREATE TABLE IF NOT EXISTS ledger_heads (
            run_id TEXT PRIMARY KEY,
            last_seq INTEGER NOT NULL
        );
        """,
    )
    ensure_command_schema(conn)  # the command inbox tables, defined once in sqlite_commands


def _v2(conn: sqlite3.Connection) -> None:
    _execute_script(
        conn,
        """
        CREATE TABLE IF NOT EXISTS run_leases (
            run_id TEXT PRIMARY KEY,
            owner TEXT,
            expires_at TEXT,
            generation INTEGER NOT NULL DEFAULT 0,
            recoveries INTEGER NOT NULL DEFAULT 0,
            recovery_mark TEXT
        );
        CREATE INDEX IF NOT EXISTS idx_run_leases_expires ON run_leases(expires_at)
        """,
    )


def _v3(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE INDEX IF NOT EXISTS idx_ledger_key ON ledger(run_id, idempotency_key, seq) "
        "WHERE idempotency_key IS NOT NULL"
    )


def _v4(conn: sqlite3.Connection) -> None:
    _execute_script(
        conn,
        """
        CREATE TABLE IF NOT EXISTS run_trace_steps (
            run_id TEXT NOT NULL,
            node_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            entry_json TEXT NOT NULL,
            PRIMARY KEY (run_id, node_id, seq)
        ) WITHOUT ROWID;
        DROP INDEX IF EXISTS idx_runs_status_updated;
        DROP INDEX IF EXISTS idx_runs_workflow_updated;
        DROP INDEX IF EXISTS idx_runs_session_updated;
        DROP INDEX IF EXISTS idx_ledger_completed_key;
        CREATE INDEX IF NOT EXISTS idx_runs_workflow ON runs(workflow_id);
        CREATE INDEX IF NOT EXISTS idx_runs_session ON runs(session_id)
        """,
    )


def _v5(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS ledger_heads")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2, _v3, _v4, _v5)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the pending migrations on ``conn`` (inside the caller's transaction); returns the version.

    Raises:
        CorruptRunError: the file's schema is newer than this library knows.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise CorruptRunError(
            f"database schema version {version} is newer than supported version {SCHEMA_VERSION}; "
            "upgrade AbstractRuntime"
        )
    for number in range(version, SCHEMA_VERSION):
        MIGRATIONS[number](conn)
        conn.execute(f"PRAGMA user_version={number + 1}")
    return SCHEMA_VERSION
