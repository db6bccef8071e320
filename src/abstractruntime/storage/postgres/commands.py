"""Command inbox in PostgreSQL (SPEC §7.5 semantics): ``commands`` and ``command_cursors`` tables.

``append`` takes a transaction-scoped advisory lock, so seqs are gap-free and commit in seq order (a
cursor reader never skips a seq that commits later).  ``command_id`` is unique, so appends are
idempotent across processes.  Workers consume the inbox by *claiming* pending rows (``done_at IS
NULL``) with ``FOR UPDATE SKIP LOCKED`` (:meth:`PostgresCommandStore.claim_pending`) and marking them
done in the transaction that applies them; cursor consumers use ``list_after`` as with every store.
"""

from __future__ import annotations

from typing import Any

from ...core.clock import utc_now_iso
from ...errors import CorruptRunError
from ..codec import decode_json, encode_json
from ..commands import CommandAppendResult, CommandRecord, _check_cursor, _prepare_command
from .db import PostgresDatabase

__all__ = ["COMMANDS_CHANNEL", "PostgresCommandCursorStore", "PostgresCommandStore"]

COMMANDS_CHANNEL = "abstractruntime_work"
"""The ``LISTEN``/``NOTIFY`` channel appends and workers signal new work on."""

_APPEND_LOCK = 0x4152_434D  # "ARCM"
_FIELDS = "seq, command_id, run_id, type, payload_json, ts, client_id"


class PostgresCommandStore:
    """A command inbox (a ``CommandStore``) over a :class:`PostgresDatabase`."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    def append(self, record: CommandRecord) -> CommandAppendResult:
        """Validate ``record`` and insert it unless its ``command_id`` is stored already; notifies
        :data:`COMMANDS_CHANNEL` so idle workers wake.

        Raises:
            InvalidCommandError (ValueError): empty ``run_id``/``type`` or a non-JSON-safe payload.
        """
        rec, payload_json = _prepare_command(record)
        with self._db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK,))
            row = conn.execute("SELECT seq FROM commands WHERE command_id = %s", (rec.command_id,)).fetchone()
            if row is not None:
                return CommandAppendResult(accepted=False, duplicate=True, seq=int(row[0]))
            seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM commands").fetchone()[0])
            conn.execute(
                "INSERT INTO commands (seq, command_id, run_id, type, payload_json, ts, client_id) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (seq, rec.command_id, rec.run_id, rec.type, payload_json, rec.ts, rec.client_id),
            )
            conn.execute("SELECT pg_notify(%s, 'command')", (COMMANDS_CHANNEL,))
        return CommandAppendResult(accepted=True, duplicate=False, seq=seq)

    def list_after(self, *, after: int, limit: int = 1000) -> tuple[list[CommandRecord], int]:
        """Up to ``limit`` (<= 0: none) records with ``seq > after`` in seq order, and the next cursor.

        Raises:
            CorruptRunError (ValueError): a stored payload is not a JSON object.
        """
        if limit <= 0:
            return [], after
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT {_FIELDS} FROM commands WHERE seq > %s ORDER BY seq LIMIT %s", (after, limit)
            ).fetchall()
        records = [_record(row) for row in rows]
        return records, (records[-1].seq if records else after)

    def get_last_seq(self) -> int:
        """The highest stored seq, 0 when empty."""
        with self._db.connection() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM commands").fetchone()[0])

    def claim_pending(self, conn: Any, *, limit: int) -> list[CommandRecord]:
        """Lock up to ``limit`` pending commands in ``conn``'s open transaction (``FOR UPDATE SKIP
        LOCKED``: other workers skip them), oldest first."""
        rows = conn.execute(
            f"SELECT {_FIELDS} FROM commands WHERE done_at IS NULL ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED",
            (limit,),
        ).fetchall()
        return [_record(row) for row in rows]

    def mark_done(self, conn: Any, seq: int, outcome: dict[str, Any]) -> None:
        """Record in ``conn``'s transaction that command ``seq`` was applied, with its ``outcome``."""
        conn.execute(
            "UPDATE commands SET done_at = %s, outcome_json = %s WHERE seq = %s",
            (utc_now_iso(), encode_json(outcome, path="outcome"), seq),
        )

    def outcome(self, command_id: str) -> dict[str, Any] | None:
        """The outcome a worker recorded for ``command_id``, or None while it is pending (or unknown)."""
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT outcome_json FROM commands WHERE command_id = %s AND done_at IS NOT NULL",
                (command_id,),
            ).fetchone()
        if row is None:
            return None
        value = decode_json(row[0], run_id=None, location=f"commands/{command_id}")
        return value if isinstance(value, dict) else {"value": value}


def _record(row: Any) -> CommandRecord:
    seq, command_id, run_id, kind, payload_json, ts, client_id = row
    location = f"commands seq={seq}"
    payload = decode_json(payload_json, run_id=run_id, location=location)
    if not isinstance(payload, dict):
        raise CorruptRunError(f"payload of {location} is not a JSON object", location=location)
    return CommandRecord(
        command_id=command_id,
        run_id=run_id,
        type=kind,
        payload=payload,
        ts=ts,
        client_id=client_id,
        seq=int(seq),
    )


class PostgresCommandCursorStore:
    """One consumer's cursor as a row of ``command_cursors``.

    Raises:
        ValueError: ``consumer_id`` is empty.
    """

    def __init__(self, db: PostgresDatabase, *, consumer_id: str = "gateway_runner") -> None:
        if not isinstance(consumer_id, str) or not consumer_id:
            raise ValueError(f"consumer_id must be a non-empty str, got {consumer_id!r}")
        self._db = db
        self.consumer_id = consumer_id

    def load(self) -> int:
        """The saved cursor, 0 when none was saved."""
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT cursor FROM command_cursors WHERE consumer_id = %s", (self.consumer_id,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def save(self, cursor: int) -> None:
        """Upsert the cursor.

        Raises:
            ValueError: ``cursor`` is not an int >= 0.
        """
        value = _check_cursor(cursor)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO command_cursors (consumer_id, cursor, updated_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (consumer_id) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                (self.consumer_id, value, utc_now_iso()),
            )
