"""``SqliteRunStore``: runs in the ``runs`` table, due timers in ``wait_index`` (SPEC §7.4).

``commit`` is the engine's one-per-step write: inside one ``BEGIN IMMEDIATE`` transaction it checks
the run's revision, appends the step's records (a ``SqliteLedgerStore`` on the same database joins the
transaction, through any decorators) and upserts the run.  Either all of it is durable or none of it.
"""

from __future__ import annotations

import builtins
import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from ..core.clock import parse_iso
from ..core.models import RunState, RunStatus, StepRecord, WaitReason
from ..errors import ConcurrencyError
from .base import Checkpoint, LedgerStore, RunStore, append_records
from .codec import decode_run, encode_run
from .sqlite_db import SqliteDatabase

__all__ = ["SqliteRunStore", "canonical_utc"]

_log = logging.getLogger("abstractruntime.storage.sqlite")

_UPSERT = """
INSERT INTO runs (run_id, workflow_id, status, wait_reason, wait_until, parent_run_id, actor_id, session_id,
                  created_at, updated_at, run_json, revision)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
ON CONFLICT(run_id) DO UPDATE SET
    workflow_id = excluded.workflow_id, status = excluded.status, wait_reason = excluded.wait_reason,
    wait_until = excluded.wait_until, parent_run_id = excluded.parent_run_id, actor_id = excluded.actor_id,
    session_id = excluded.session_id, updated_at = excluded.updated_at, run_json = excluded.run_json,
    revision = runs.revision + 1
"""

_INDEX_COLUMNS = (
    "run_id, workflow_id, status, wait_reason, wait_until, parent_run_id, actor_id, session_id, "
    "created_at, updated_at"
)


def canonical_utc(stamp: str | None) -> str | None:
    """``stamp`` as ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` (sorts as time), or None when unparsable."""
    if not stamp:
        return None
    try:
        return parse_iso(stamp).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    except ValueError:
        return None


class SqliteRunStore(RunStore):
    """Run store over a :class:`SqliteDatabase`; implements queries, revisions and step commits."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    @property
    def db(self) -> SqliteDatabase:
        """The database this store writes to."""
        return self._db

    # -- RunStore --------------------------------------------------------------------------------
    def save(self, run: RunState) -> None:
        """Upsert ``run`` (``created_at`` is never overwritten) and bump its revision.

        Raises:
            NotJsonSafeError: ``run`` cannot be encoded; nothing is written.
        """
        text = encode_run(run)
        with self._db.transaction() as conn:
            self._write(conn, run, text)

    def load(self, run_id: str) -> RunState | None:
        """The stored run, or None.

        Raises:
            CorruptRunError: the stored row cannot be decoded (names the run).
        """
        row = (
            self._db.connection().execute("SELECT run_json FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        )
        return None if row is None else self._decode(run_id, row[0])

    # -- RevisionedRunStore -----------------------------------------------------------------------
    def load_checkpoint(self, run_id: str) -> Checkpoint | None:
        """The stored run with its revision, or None."""
        row = (
            self._db.connection()
            .execute("SELECT run_json, revision FROM runs WHERE run_id = ?", (run_id,))
            .fetchone()
        )
        return None if row is None else Checkpoint(self._decode(run_id, row[0]), int(row[1]))

    def current_revision(self, run_id: str) -> int | None:
        """The stored revision of ``run_id``, or None."""
        row = (
            self._db.connection().execute("SELECT revision FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        )
        return None if row is None else int(row[0])

    def commit(
        self,
        run: RunState,
        records: Sequence[StepRecord],
        *,
        ledger_store: LedgerStore,
        expected_revision: int | None,
    ) -> int:
        """Check the revision, append ``records``, upsert ``run`` — one transaction.

        Raises:
            ConcurrencyError: the stored revision is not ``expected_revision``; nothing is written.
            NotJsonSafeError: the run or a record cannot be encoded; nothing is written.
        """
        text = encode_run(run)
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT revision, wait_until FROM runs WHERE run_id = ?", (run.run_id,)
            ).fetchone()
            actual = None if row is None else int(row[0])
            if actual != expected_revision:
                raise ConcurrencyError(
                    run_id=run.run_id, expected_revision=expected_revision, actual_revision=actual
                )
            append_records(ledger_store, records)
            self._write(conn, run, text, had_timer=row is not None and row[1] is not None)
        return 1 if actual is None else actual + 1

    def _write(self, conn: sqlite3.Connection, run: RunState, text: str, *, had_timer: bool = True) -> None:
        wait = run.waiting
        reason = None if wait is None else WaitReason(wait.reason).value
        until = wait.until if wait is not None and wait.reason == WaitReason.UNTIL else None
        conn.execute(
            _UPSERT,
            (
                run.run_id,
                run.workflow_id,
                RunStatus(run.status).value,
                reason,
                until,
                run.parent_run_id,
                run.actor_id,
                run.session_id,
                canonical_utc(run.created_at) or run.created_at,
                canonical_utc(run.updated_at) or run.updated_at,
                text,
            ),
        )
        due = canonical_utc(until) if run.status == RunStatus.WAITING else None
        if due is not None:
            conn.execute(
                "INSERT INTO wait_index (run_id, next_due_iso, updated_at_iso, status) "
                "VALUES (?, ?, ?, 'waiting_until') "
                "ON CONFLICT(run_id) DO UPDATE SET next_due_iso = excluded.next_due_iso, "
                "updated_at_iso = excluded.updated_at_iso, status = excluded.status",
                (run.run_id, due, run.updated_at),
            )
        else:
            if until is not None and run.status == RunStatus.WAITING:
                _log.warning("run %s waits until an unparsable time %r; it is not indexed", run.run_id, until)
            if had_timer:
                conn.execute("DELETE FROM wait_index WHERE run_id = ?", (run.run_id,))

    # -- QueryableRunStore ------------------------------------------------------------------------
    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        wait_reason: WaitReason | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[RunState]:
        """Runs matching the filters, newest ``updated_at`` first, at most ``limit``."""
        where, args = _filters(status=status, wait_reason=wait_reason, workflow_id=workflow_id)
        rows = self._db.connection().execute(
            f"SELECT run_id, run_json FROM runs{where} ORDER BY updated_at DESC LIMIT ?",
            (*args, max(limit, 0)),
        )
        return self._decode_rows(rows)

    def list_due_wait_until(self, *, now_iso: str, limit: int = 100) -> builtins.list[RunState]:
        """WAITING+UNTIL runs due at ``now_iso``, earliest deadline first (an index range scan).

        Raises:
            ValueError: ``now_iso`` is not an ISO-8601 timestamp.
        """
        now = canonical_utc(now_iso)
        if now is None:
            raise ValueError(f"now_iso is not an ISO-8601 timestamp: {now_iso!r}")
        rows = self._db.connection().execute(
            "SELECT r.run_id, r.run_json FROM wait_index w JOIN runs r ON r.run_id = w.run_id "
            "WHERE w.next_due_iso <= ? AND r.status = 'waiting' ORDER BY w.next_due_iso, r.run_id LIMIT ?",
            (now, max(limit, 0)),
        )
        return self._decode_rows(rows)

    def list_children(
        self, *, parent_run_id: str, status: RunStatus | None = None
    ) -> builtins.list[RunState]:
        """Children of ``parent_run_id`` ordered by ``created_at`` then ``run_id``."""
        sql = "SELECT run_id, run_json FROM runs WHERE parent_run_id = ?"
        args: list[Any] = [parent_run_id]
        if status is not None:
            sql += " AND status = ?"
            args.append(RunStatus(status).value)
        rows = self._db.connection().execute(sql + " ORDER BY created_at, run_id", args)
        return self._decode_rows(rows)

    def list_run_index(
        self,
        *,
        status: RunStatus | None = None,
        workflow_id: str | None = None,
        session_id: str | None = None,
        root_only: bool = False,
        limit: int = 100,
    ) -> builtins.list[dict[str, Any]]:
        """Light rows (SPEC §7.1) read from the indexed columns only, newest ``updated_at`` first."""
        where, args = _filters(
            status=status, workflow_id=workflow_id, session_id=session_id, root_only=root_only
        )
        rows = self._db.connection().execute(
            f"SELECT {_INDEX_COLUMNS} FROM runs{where} ORDER BY updated_at DESC LIMIT ?",
            (*args, max(limit, 0)),
        )
        return [dict(row) for row in rows]

    # -- decoding --------------------------------------------------------------------------------
    def _decode(self, run_id: str, text: str) -> RunState:
        return decode_run(text, run_id=run_id, location=f"{self._db.path}#runs/{run_id}")

    def _decode_rows(self, rows: sqlite3.Cursor) -> builtins.list[RunState]:
        runs: builtins.list[RunState] = []
        for run_id, text in rows:
            try:
                runs.append(self._decode(run_id, text))
            except ValueError:
                _log.error("skipping unreadable run %s in %s", run_id, self._db.path, exc_info=True)
        return runs


def _filters(
    *,
    status: RunStatus | None = None,
    wait_reason: WaitReason | None = None,
    workflow_id: str | None = None,
    session_id: str | None = None,
    root_only: bool = False,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("status", status),
        ("wait_reason", wait_reason),
        ("workflow_id", workflow_id),
        ("session_id", session_id),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value.value if isinstance(value, (RunStatus, WaitReason)) else value)
    if root_only:
        clauses.append("(parent_run_id IS NULL OR parent_run_id = '')")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args
