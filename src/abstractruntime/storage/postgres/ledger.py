"""``PostgresLedgerStore``: the append-only ledger in the ``ledger`` table.

Appends reserve ``seq`` (1..n per run) by upserting ``ledger_heads`` — the row lock it takes orders
concurrent appenders of one run — and join the caller's transaction when a step commit has one open.
``append_linked`` reads the previous record after taking that lock, so a hash chain never forks.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from ...core.models import StepRecord, StepStatus
from ..base import LedgerStore, Link
from ..codec import decode_record, encode_ledger_rows, one_run_id
from .db import PostgresDatabase

__all__ = ["PostgresLedgerStore"]

_RESERVE = (
    "INSERT INTO ledger_heads (run_id, last_seq) VALUES (%s, %s) "
    "ON CONFLICT (run_id) DO UPDATE SET last_seq = ledger_heads.last_seq + excluded.last_seq "
    "RETURNING last_seq"
)


class PostgresLedgerStore(LedgerStore):
    """Ledger store over a :class:`PostgresDatabase` (indexed idempotency and in-doubt lookups)."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    @property
    def db(self) -> PostgresDatabase:
        """The database this store writes to."""
        return self._db

    def append(self, record: StepRecord) -> None:
        """Append ``record`` with the next ``seq`` of its run.

        Raises:
            InvalidRecordError (ValueError): ``record.run_id`` is empty.
            NotJsonSafeError (TypeError): the record cannot be encoded; nothing is written.
        """
        self.append_many([record])

    def append_many(self, records: Sequence[StepRecord]) -> None:
        """Append records of one run with consecutive seqs in one transaction (joining an open one).

        Raises:
            InvalidRecordError (ValueError): an empty ``run_id``, or records of different runs.
            NotJsonSafeError (TypeError): a record cannot be encoded; nothing is written.
        """
        if not records:
            return
        run_id, encoded = encode_ledger_rows(records)
        with self._db.transaction() as conn:
            last = int(conn.execute(_RESERVE, (run_id, len(encoded))).fetchone()[0])
            first = last - len(encoded) + 1
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO ledger (run_id, seq, record_json, status, idempotency_key) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    [(run_id, first + i, text, status, key) for i, (text, status, key) in enumerate(encoded)],
                )

    def append_linked(self, records: Sequence[StepRecord], link: Link) -> None:
        """Append ``records`` in one transaction, calling ``link(previous_record_dict, record)`` before
        each; the run's head row is locked first, so no other writer can slip in between."""
        if not records:
            return
        run_id = one_run_id(records)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO ledger_heads (run_id, last_seq) VALUES (%s, 0) "
                "ON CONFLICT (run_id) DO UPDATE SET last_seq = ledger_heads.last_seq",
                (run_id,),
            )
            row = conn.execute(
                "SELECT seq, record_json FROM ledger WHERE run_id = %s ORDER BY seq DESC LIMIT 1", (run_id,)
            ).fetchone()
            last = None if row is None else self._decode(run_id, row[0], row[1])
            for record in records:
                link(last, record)
                last = record.to_dict()
            self.append_many(records)

    def list(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """Every record of ``run_id`` in ``seq`` order."""
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT seq, record_json FROM ledger WHERE run_id = %s ORDER BY seq", (run_id,)
            ).fetchall()
        return [self._decode(run_id, seq, text) for seq, text in rows]

    def find_completed(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The first COMPLETED record of ``run_id`` with ``idempotency_key`` (an index probe)."""
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT seq, record_json FROM ledger WHERE run_id = %s AND idempotency_key = %s "
                "AND status = 'completed' ORDER BY seq LIMIT 1",
                (run_id, idempotency_key),
            ).fetchone()
        return None if row is None else self._decode(run_id, row[0], row[1])

    def find_started(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The last record of ``run_id`` with ``idempotency_key`` when it is STARTED (an index probe)."""
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT seq, record_json, status FROM ledger WHERE run_id = %s AND idempotency_key = %s "
                "ORDER BY seq DESC LIMIT 1",
                (run_id, idempotency_key),
            ).fetchone()
        if row is None or row[2] != StepStatus.STARTED.value:
            return None
        return self._decode(run_id, row[0], row[1])

    def count(self, run_id: str) -> int:
        """How many records ``run_id`` has."""
        return self.count_many([run_id]).get(run_id, 0)

    def count_many(self, run_ids: Sequence[str]) -> dict[str, int]:
        """``{run_id: count}`` for each id that has records; unknown ids are omitted."""
        ids = builtins.list(dict.fromkeys(run_ids))
        if not ids:
            return {}
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT run_id, last_seq FROM ledger_heads WHERE run_id = ANY(%s) AND last_seq > 0", (ids,)
            ).fetchall()
        found = {str(run_id): int(last) for run_id, last in rows}
        return {run_id: found[run_id] for run_id in ids if run_id in found}

    def list_after(
        self, *, run_id: str, after: int, limit: int = 1000
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """Records of ``run_id`` with ``seq > after`` (at most ``limit``) and the cursor to pass next."""
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT seq, record_json FROM ledger WHERE run_id = %s AND seq > %s ORDER BY seq LIMIT %s",
                (run_id, int(after), max(int(limit), 0)),
            ).fetchall()
        records = [self._decode(run_id, seq, text) for seq, text in rows]
        return records, (int(rows[-1][0]) if rows else int(after))

    def _decode(self, run_id: str, seq: int, text: str) -> dict[str, Any]:
        return decode_record(text, run_id=run_id, location=f"{self._db.label}#ledger/{run_id}/{seq}")
