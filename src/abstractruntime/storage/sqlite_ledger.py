"""``SqliteLedgerStore``: the append-only ledger in the ``ledger`` table (SPEC §7.4).

Appends allocate ``seq`` (1..n per run) as one more than the run's highest ``seq`` — read on the
``(run_id, seq)`` key inside the write transaction, so no other writer can take the same one (schema
version 5 dropped the ``ledger_heads`` counter table: one page less written per step).  When called
within a run store's step commit on the same database, appends join that transaction.  The idempotency
and in-doubt lookups are partial-index probes, so their cost does not depend on the ledger's length.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence
from typing import Any

from ..core.models import StepRecord, StepStatus
from .base import LedgerStore, Link
from .codec import decode_record, encode_ledger_rows
from .sqlite_db import SqliteDatabase

__all__ = ["SqliteLedgerStore"]


class SqliteLedgerStore(LedgerStore):
    """Ledger store over a :class:`SqliteDatabase`."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    @property
    def db(self) -> SqliteDatabase:
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
        """Append records of one run with consecutive seqs, in one transaction (joining an open one).

        Raises:
            InvalidRecordError (ValueError): an empty ``run_id``, or records of different runs.
            NotJsonSafeError (TypeError): a record cannot be encoded; nothing is written.
        """
        if not records:
            return
        run_id, encoded = encode_ledger_rows(records)
        with self._db.transaction() as conn:
            first = _last_seq(conn, run_id) + 1
            conn.executemany(
                "INSERT INTO ledger (run_id, seq, record_json, status, idempotency_key) VALUES (?, ?, ?, ?, ?)",
                [(run_id, first + i, text, status, key) for i, (text, status, key) in enumerate(encoded)],
            )
            if any(status == "started" for _, status, _ in encoded):
                self._db.mark_intent()  # a group commit flushes before the effect runs

    def append_linked(self, records: Sequence[StepRecord], link: Link) -> None:
        """Append ``records`` in one transaction, calling ``link(previous_record_dict, record)`` before
        each; the previous record is read inside the write transaction, so no other writer can slip in."""
        if not records:
            return
        run_id = records[0].run_id
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT seq, record_json FROM ledger WHERE run_id = ? ORDER BY seq DESC LIMIT 1", (run_id,)
            ).fetchone()
            last = None if row is None else self._decode(run_id, row[0], row[1])
            for record in records:
                link(last, record)
                last = record.to_dict()
            self.append_many(records)

    def list(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """Every record of ``run_id`` in ``seq`` order."""
        rows = self._db.connection().execute(
            "SELECT seq, record_json FROM ledger WHERE run_id = ? ORDER BY seq", (run_id,)
        )
        return [self._decode(run_id, seq, text) for seq, text in rows]

    def find_completed(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The first COMPLETED record of ``run_id`` with ``idempotency_key`` (an index probe)."""
        row = (
            self._db.connection()
            .execute(
                "SELECT seq, record_json FROM ledger INDEXED BY idx_ledger_key "
                "WHERE run_id = ? AND idempotency_key = ? AND status = 'completed' "
                "AND idempotency_key IS NOT NULL ORDER BY seq LIMIT 1",
                (run_id, idempotency_key),
            )
            .fetchone()
        )
        return None if row is None else self._decode(run_id, row[0], row[1])

    def find_started(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The last record of ``run_id`` with ``idempotency_key`` when it is STARTED (an index probe)."""
        row = (
            self._db.connection()
            .execute(
                "SELECT seq, record_json, status FROM ledger INDEXED BY idx_ledger_key "
                "WHERE run_id = ? AND idempotency_key = ? AND idempotency_key IS NOT NULL "
                "ORDER BY seq DESC LIMIT 1",
                (run_id, idempotency_key),
            )
            .fetchone()
        )
        if row is None or row[2] != StepStatus.STARTED.value:
            return None
        return self._decode(run_id, row[0], row[1])

    def count(self, run_id: str) -> int:
        """How many records ``run_id`` has (its highest ``seq``: seqs are 1..n; one index probe)."""
        return _last_seq(self._db.connection(), run_id)

    def count_many(self, run_ids: Sequence[str]) -> dict[str, int]:
        """``{run_id: count}`` for each id that has records; unknown ids (no records) are omitted."""
        found: dict[str, int] = {}
        for chunk in _chunks(builtins.list(dict.fromkeys(run_ids))):
            marks = ",".join("?" * len(chunk))
            for run_id, last in self._db.connection().execute(
                f"SELECT run_id, MAX(seq) FROM ledger WHERE run_id IN ({marks}) GROUP BY run_id", chunk
            ):
                if last is not None and int(last) > 0:
                    found[run_id] = int(last)
        return {run_id: found[run_id] for run_id in run_ids if run_id in found}

    def metrics_many(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per run: ``steps`` (completed records), ``llm_calls``, ``tool_calls`` (calls in completed
        TOOL_CALLS records) and ``tokens_total`` (sum of ``usage.total_tokens`` of completed LLM calls)."""
        metrics = {r: {"steps": 0, "llm_calls": 0, "tool_calls": 0, "tokens_total": 0} for r in run_ids}
        sql = """
            SELECT run_id,
                   COUNT(*),
                   SUM(json_extract(record_json, '$.effect.type') = 'llm_call'),
                   SUM(CASE WHEN json_extract(record_json, '$.effect.type') = 'tool_calls'
                            THEN COALESCE(json_array_length(record_json, '$.effect.payload.tool_calls'), 0)
                       END),
                   SUM(CASE WHEN json_extract(record_json, '$.effect.type') = 'llm_call'
                            THEN COALESCE(json_extract(record_json, '$.result.usage.total_tokens'), 0) END)
            FROM ledger WHERE status = 'completed' AND run_id IN ({marks}) GROUP BY run_id
        """
        for chunk in _chunks(builtins.list(metrics)):
            rows = self._db.connection().execute(sql.format(marks=",".join("?" * len(chunk))), chunk)
            for run_id, steps, llm, tools, tokens in rows:
                metrics[run_id] = {
                    "steps": int(steps or 0),
                    "llm_calls": int(llm or 0),
                    "tool_calls": int(tools or 0),
                    "tokens_total": int(tokens or 0),
                }
        return metrics

    def list_after(
        self, *, run_id: str, after: int, limit: int = 1000
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """Records of ``run_id`` with ``seq > after`` (at most ``limit``) and the cursor to pass next."""
        rows = (
            self._db.connection()
            .execute(
                "SELECT seq, record_json FROM ledger WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (run_id, int(after), max(int(limit), 0)),
            )
            .fetchall()
        )
        records = [self._decode(run_id, seq, text) for seq, text in rows]
        return records, (int(rows[-1][0]) if rows else int(after))

    def _decode(self, run_id: str, seq: int, text: str) -> dict[str, Any]:
        return decode_record(text, run_id=run_id, location=f"{self._db.path}#ledger/{run_id}/{seq}")


def _last_seq(conn: sqlite3.Connection, run_id: str) -> int:
    """The highest ``seq`` of ``run_id`` (0 without records): the last entry of the key index."""
    return int(conn.execute(_LAST_SEQ, (run_id,)).fetchone()[0])


_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM ledger WHERE run_id = ?"


def _chunks(items: builtins.list[str], size: int = 500) -> builtins.list[builtins.list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
