"""Command inbox in SQLite (SPEC §7.4 tables ``commands`` and ``command_cursors``, semantics §7.5).

The stores are written against a small database interface (:class:`CommandDatabase`) that
``storage.sqlite.SqliteDatabase`` provides: one connection per thread in autocommit mode
(``isolation_level=None``, ``row_factory=sqlite3.Row``) and a ``transaction()`` context manager
running ``BEGIN IMMEDIATE`` ... ``COMMIT`` that joins an already open transaction.  ``seq`` is the
``AUTOINCREMENT`` primary key, so it is assigned by SQLite inside the write transaction and is never
reused; ``command_id`` is ``UNIQUE``, so idempotency holds across threads and processes.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..core.clock import utc_now_iso
from ..errors import CorruptRunError
from .codec import decode_json
from .commands import (
    CommandAppendResult,
    CommandRecord,
    _check_cursor,
    _prepare_command,
)

__all__ = [
    "CommandDatabase",
    "SqliteCommandCursorStore",
    "SqliteCommandStore",
    "ensure_command_schema",
]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS commands (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        command_id TEXT NOT NULL UNIQUE,
        run_id TEXT NOT NULL,
        type TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        ts TEXT NOT NULL,
        client_id TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS idx_commands_run_id ON commands(run_id)",
    """CREATE TABLE IF NOT EXISTS command_cursors (
        consumer_id TEXT PRIMARY KEY,
        cursor INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    )""",
)


class CommandDatabase(Protocol):
    """The part of ``SqliteDatabase`` the command stores use.

    ``connection()`` returns the calling thread's ``sqlite3.Connection`` (autocommit mode,
    ``row_factory=sqlite3.Row``); ``transaction()`` is a context manager that wraps its body in
    ``BEGIN IMMEDIATE`` ... ``COMMIT`` on that connection (``ROLLBACK`` on an exception) and joins a
    transaction that is already open.
    """

    def connection(self) -> sqlite3.Connection: ...

    def transaction(self) -> AbstractContextManager[Any]: ...


def ensure_command_schema(conn: sqlite3.Connection) -> None:
    """Create the ``commands`` and ``command_cursors`` tables and their index when missing (SPEC §7.4).

    Idempotent.  It issues plain ``execute`` statements (never ``executescript``, which would commit a
    transaction the caller has open), so it can run inside a migration transaction.

    Args:
        conn: an open connection; the caller decides about the transaction.
    """
    for statement in _SCHEMA:
        conn.execute(statement)


class SqliteCommandStore:
    """A command inbox in the ``commands`` table (SPEC §7.4, §7.5); safe across threads and processes.

    Args:
        db: the database (see :class:`CommandDatabase`); the schema is ensured on construction.
    """

    def __init__(self, db: CommandDatabase) -> None:
        self._db = db
        with db.transaction():
            ensure_command_schema(db.connection())

    def append(self, record: CommandRecord) -> CommandAppendResult:
        """Validate ``record`` and insert it unless its ``command_id`` is stored already.

        Returns:
            ``accepted=True`` with the new seq, or ``duplicate=True`` with the original seq.

        Raises:
            InvalidCommandError (ValueError): empty ``run_id``/``type`` or a non-JSON-safe payload.
            sqlite3.Error: the database cannot be written.
        """
        rec, payload_json = _prepare_command(record)
        with self._db.transaction():
            conn = self._db.connection()
            row = conn.execute("SELECT seq FROM commands WHERE command_id = ?", (rec.command_id,)).fetchone()
            if row is not None:
                return CommandAppendResult(accepted=False, duplicate=True, seq=int(row[0]))
            cur = conn.execute(
                "INSERT INTO commands (command_id, run_id, type, payload_json, ts, client_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (rec.command_id, rec.run_id, rec.type, payload_json, rec.ts, rec.client_id),
            )
            seq = cur.lastrowid
        if seq is None:  # pragma: no cover - sqlite3 always sets it after an INSERT
            raise RuntimeError("sqlite3 did not report the seq of the inserted command")
        return CommandAppendResult(accepted=True, duplicate=False, seq=seq)

    def list_after(self, *, after: int, limit: int = 1000) -> tuple[list[CommandRecord], int]:
        """Up to ``limit`` (<= 0: none) records with ``seq > after`` in seq order, and the next cursor
        (the last seq returned, or ``after`` when none).

        Raises:
            CorruptRunError (ValueError): a stored payload is not a JSON object.
        """
        if limit <= 0:
            return [], after
        rows = (
            self._db.connection()
            .execute(
                "SELECT seq, command_id, run_id, type, payload_json, ts, client_id FROM commands "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            )
            .fetchall()
        )
        records = [_row_to_record(row) for row in rows]
        return records, (records[-1].seq if records else after)

    def get_last_seq(self) -> int:
        """The highest seq stored, 0 when the table is empty."""
        row = self._db.connection().execute("SELECT COALESCE(MAX(seq), 0) FROM commands").fetchone()
        return int(row[0])


def _row_to_record(row: sqlite3.Row) -> CommandRecord:
    location = f"commands seq={row['seq']}"
    payload = decode_json(row["payload_json"], run_id=row["run_id"], location=location)
    if not isinstance(payload, dict):
        raise CorruptRunError(f"payload of {location} is not a JSON object", location=location)
    return CommandRecord(
        command_id=row["command_id"],
        run_id=row["run_id"],
        type=row["type"],
        payload=payload,
        ts=row["ts"],
        client_id=row["client_id"],
        seq=int(row["seq"]),
    )


class SqliteCommandCursorStore:
    """One consumer's cursor as a row of ``command_cursors`` (SPEC §7.4, §7.5).

    Args:
        db: the database (see :class:`CommandDatabase`); the schema is ensured on construction.
        consumer_id: the row key; several consumers can share one database.

    Raises:
        ValueError: ``consumer_id`` is empty.
    """

    def __init__(self, db: CommandDatabase, *, consumer_id: str = "gateway_runner") -> None:
        if not isinstance(consumer_id, str) or not consumer_id:
            raise ValueError(f"consumer_id must be a non-empty str, got {consumer_id!r}")
        self._db = db
        self.consumer_id = consumer_id
        with db.transaction():
            ensure_command_schema(db.connection())

    def load(self) -> int:
        """The saved cursor of this consumer, 0 when none was saved."""
        row = (
            self._db.connection()
            .execute("SELECT cursor FROM command_cursors WHERE consumer_id = ?", (self.consumer_id,))
            .fetchone()
        )
        return 0 if row is None else int(row[0])

    def save(self, cursor: int) -> None:
        """Upsert this consumer's cursor with the current time as ``updated_at``.

        Raises:
            ValueError: ``cursor`` is not an int >= 0.
            sqlite3.Error: the database cannot be written.
        """
        value = _check_cursor(cursor)
        with self._db.transaction():
            self._db.connection().execute(
                "INSERT INTO command_cursors (consumer_id, cursor, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(consumer_id) DO UPDATE SET cursor = excluded.cursor, "
                "updated_at = excluded.updated_at",
                (self.consumer_id, value, utc_now_iso()),
            )
