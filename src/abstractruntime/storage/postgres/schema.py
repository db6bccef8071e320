"""The PostgreSQL schema as versioned migrations (applied in order by ``PostgresDatabase.migrate``).

Times are fixed-width UTC ISO-8601 text (``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``), so they compare as
time both in SQL and in Python, exactly as the other backends store them.  Runs and ledger records are
JSON text (not ``jsonb``): the bytes written are the bytes read back.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

_V1 = (
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        status TEXT NOT NULL,
        wait_reason TEXT,
        wait_until TEXT,
        due_at TEXT,
        parent_run_id TEXT,
        actor_id TEXT,
        session_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        run_json TEXT NOT NULL,
        revision BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS runs_status_updated ON runs (status, updated_at)",
    "CREATE INDEX IF NOT EXISTS runs_updated ON runs (updated_at)",
    "CREATE INDEX IF NOT EXISTS runs_workflow ON runs (workflow_id, updated_at)",
    "CREATE INDEX IF NOT EXISTS runs_parent ON runs (parent_run_id, created_at)",
    "CREATE INDEX IF NOT EXISTS runs_session ON runs (session_id)",
    "CREATE INDEX IF NOT EXISTS runs_due ON runs (due_at) WHERE due_at IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS ledger (
        run_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        record_json TEXT NOT NULL,
        status TEXT NOT NULL,
        idempotency_key TEXT,
        PRIMARY KEY (run_id, seq)
    )""",
    "CREATE INDEX IF NOT EXISTS ledger_key ON ledger (run_id, idempotency_key, seq) "
    "WHERE idempotency_key IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS ledger_heads (run_id TEXT PRIMARY KEY, last_seq BIGINT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS commands (
        seq BIGINT PRIMARY KEY,
        command_id TEXT NOT NULL UNIQUE,
        run_id TEXT NOT NULL,
        type TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        ts TEXT NOT NULL,
        client_id TEXT,
        done_at TEXT,
        outcome_json TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS commands_pending ON commands (seq) WHERE done_at IS NULL",
    """CREATE TABLE IF NOT EXISTS command_cursors (
        consumer_id TEXT PRIMARY KEY,
        cursor BIGINT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS run_leases (
        run_id TEXT PRIMARY KEY,
        owner TEXT,
        expires_at TEXT,
        generation BIGINT NOT NULL DEFAULT 0,
        recoveries INTEGER NOT NULL DEFAULT 0,
        recovery_mark TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS run_leases_expiry ON run_leases (expires_at)",
)

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = ((1, _V1),)
"""``(version, statements)`` in order; a new schema change is a new entry, never an edit."""

SCHEMA_VERSION = MIGRATIONS[-1][0]
