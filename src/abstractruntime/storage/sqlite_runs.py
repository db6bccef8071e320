"""``SqliteRunStore``: runs in the ``runs`` table, due timers in ``wait_index`` (SPEC §7.4).

``commit`` is the engine's one-per-step write: inside one ``BEGIN IMMEDIATE`` transaction (or one
``SAVEPOINT`` of a :meth:`SqliteDatabase.group_commit`) it checks the run's revision, appends the
step's records (a ``SqliteLedgerStore`` on the same database joins the transaction, through any
decorators) and writes the run.  Either all of it is durable or none of it.

Only what changed is written (schema version 4): node trace entries live in ``run_trace_steps`` and
only new ones are inserted (``sqlite_traces.py``); the run row is updated with a statement that
leaves its indexed columns alone when the status and wait did not change, so no ``runs`` index is
touched by an ordinary step.
"""

from __future__ import annotations

import builtins
import logging
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..core.clock import parse_iso
from ..core.models import RunState, RunStatus, StepRecord, WaitReason
from ..errors import ConcurrencyError
from ._query import sql_run_filters
from .base import Checkpoint, LedgerStore, RunStore, append_records
from .codec import decode_json, encode_json, run_from_data
from .sqlite_db import SqliteDatabase
from .sqlite_traces import TraceCache, TraceWrite, attach_traces, split_traces

__all__ = ["SqliteRunStore", "canonical_utc"]

_log = logging.getLogger("abstractruntime.storage.sqlite")

# The columns that sit in an index (plus actor_id): a step that keeps them writes _HOT_UPDATE only.
_KEYED = "workflow_id, status, wait_reason, wait_until, parent_run_id, actor_id, session_id"
_CURRENT = f"SELECT revision, {_KEYED} FROM runs WHERE run_id = ?"
_INSERT = f"""
INSERT INTO runs (run_id, {_KEYED}, created_at, updated_at, run_json, revision)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
"""
_FULL_UPDATE = """
UPDATE runs SET workflow_id = ?, status = ?, wait_reason = ?, wait_until = ?, parent_run_id = ?,
    actor_id = ?, session_id = ?, updated_at = ?, run_json = ?, revision = revision + 1
WHERE run_id = ?
"""
_HOT_UPDATE = "UPDATE runs SET updated_at = ?, run_json = ?, revision = revision + 1 WHERE run_id = ?"

_INDEX_COLUMNS = (
    "run_id, workflow_id, status, wait_reason, wait_until, parent_run_id, actor_id, session_id, "
    "created_at, updated_at"
)


def canonical_utc(stamp: str | None) -> str | None:
    """``stamp`` as ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` (sorts as time), or None when unparsable."""
    if not stamp:
        return None
    try:
        if len(stamp) == 32 and stamp[19] == "." and stamp.endswith("+00:00") and stamp[10] == "T":
            # Already the canonical shape (what the engine's clock writes): validate, keep the text.
            datetime.fromisoformat(stamp)
            return stamp
        return parse_iso(stamp).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    except (ValueError, TypeError):
        return None


class SqliteRunStore(RunStore):
    """Run store over a :class:`SqliteDatabase`; implements queries, revisions, step commits and
    :meth:`group_commit` (many runs' steps in one transaction)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._traces = TraceCache()

    @property
    def db(self) -> SqliteDatabase:
        """The database this store writes to."""
        return self._db

    def group_commit(self) -> Any:
        """A context manager: the step commits made inside it on this thread share one transaction,
        each in its own savepoint (see :meth:`SqliteDatabase.group_commit`)."""
        return self._db.group_commit()

    # -- RunStore --------------------------------------------------------------------------------
    def save(self, run: RunState) -> None:
        """Store ``run`` (``created_at`` is never overwritten) and bump its revision.

        Raises:
            NotJsonSafeError: ``run`` cannot be encoded; nothing is written.
        """
        steps, text = _encode(run)
        with self._db.transaction() as conn:
            current = conn.execute(_CURRENT, (run.run_id,)).fetchone()
            self._write(conn, run, text, steps, current)

    def load(self, run_id: str) -> RunState | None:
        """The stored run, or None.

        Raises:
            CorruptRunError: the stored row cannot be decoded (names the run).
        """
        checkpoint = self.load_checkpoint(run_id)
        return None if checkpoint is None else checkpoint.run

    # -- RevisionedRunStore -----------------------------------------------------------------------
    def load_checkpoint(self, run_id: str) -> Checkpoint | None:
        """The stored run with its revision, or None."""
        with self._db.read() as conn:
            row = conn.execute("SELECT run_json, revision FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            revision = int(row[1])
            run, nodes = self._decode(conn, run_id, row[0])
            self._traces.remember(run_id, revision, self._db.epoch, nodes)
        return Checkpoint(run, revision)

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
        """Check the revision, append ``records``, write ``run`` — one transaction (one savepoint in a
        group commit).

        Raises:
            ConcurrencyError: the stored revision is not ``expected_revision``; nothing is written.
            NotJsonSafeError: the run or a record cannot be encoded; nothing is written.
        """
        steps, text = _encode(run)
        with self._db.transaction() as conn:
            current = conn.execute(_CURRENT, (run.run_id,)).fetchone()
            actual = None if current is None else int(current[0])
            if actual != expected_revision:
                raise ConcurrencyError(
                    run_id=run.run_id, expected_revision=expected_revision, actual_revision=actual
                )
            append_records(ledger_store, records)
            self._db.clear_intent()  # STARTED records committed with their end need no early flush
            self._write(conn, run, text, steps, current)
        return 1 if actual is None else actual + 1

    def _write(
        self,
        conn: sqlite3.Connection,
        run: RunState,
        text: str,
        steps: dict[str, list[Any]] | None,
        current: sqlite3.Row | None,
    ) -> None:
        revision = None if current is None else int(current[0])
        known = self._traces.get(run.run_id, revision, self._db.epoch)
        if current is None:
            known = None
            if steps is None:  # a new run without traces: no rows can exist, skip the delete
                nodes: dict[str, Any] | None = None
            else:
                nodes = TraceWrite(conn, run.run_id).write(steps, None)
        elif steps is None and known is not None and not known.nodes:
            nodes = None  # stored whole before and now: no trace rows to touch
        else:
            nodes = TraceWrite(conn, run.run_id).write(steps, known)
        wait = run.waiting
        reason = None if wait is None else WaitReason(wait.reason).value
        until = wait.until if wait is not None and wait.reason == WaitReason.UNTIL else None
        keyed = (
            run.workflow_id,
            RunStatus(run.status).value,
            reason,
            until,
            run.parent_run_id,
            run.actor_id,
            run.session_id,
        )
        updated = canonical_utc(run.updated_at) or run.updated_at
        if current is None:
            created = canonical_utc(run.created_at) or run.created_at
            conn.execute(_INSERT, (run.run_id, *keyed, created, updated, text))
        elif tuple(current)[1:] == keyed:
            conn.execute(_HOT_UPDATE, (updated, text, run.run_id))
        else:
            conn.execute(_FULL_UPDATE, (*keyed, updated, text, run.run_id))
        self._traces.remember(run.run_id, (revision or 0) + 1, self._db.epoch, nodes)
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
            if current is not None and current["wait_until"] is not None:
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
        return [
            c.run
            for c in self.list_checkpoints(
                status=status, wait_reason=wait_reason, workflow_id=workflow_id, limit=limit
            )
        ]

    def list_checkpoints(
        self,
        *,
        status: RunStatus | None = None,
        wait_reason: WaitReason | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Checkpoint]:
        """:meth:`list_runs` with each run's revision, read in one snapshot (an unreadable row is
        skipped and logged, as there)."""
        where, args = sql_run_filters("?", status=status, wait_reason=wait_reason, workflow_id=workflow_id)
        return self._checkpoints(
            f"SELECT run_id, run_json, revision FROM runs{where} ORDER BY updated_at DESC LIMIT ?",
            (*args, max(limit, 0)),
        )

    def list_due_wait_until(self, *, now_iso: str, limit: int = 100) -> builtins.list[RunState]:
        """WAITING+UNTIL runs due at ``now_iso``, earliest deadline first (an index range scan).

        Raises:
            ValueError: ``now_iso`` is not an ISO-8601 timestamp.
        """
        now = canonical_utc(now_iso)
        if now is None:
            raise ValueError(f"now_iso is not an ISO-8601 timestamp: {now_iso!r}")
        return self._decode_rows(
            "SELECT r.run_id, r.run_json, r.revision FROM wait_index w JOIN runs r ON r.run_id = w.run_id "
            "WHERE w.next_due_iso <= ? AND r.status = 'waiting' ORDER BY w.next_due_iso, r.run_id LIMIT ?",
            (now, max(limit, 0)),
        )

    def list_children(
        self, *, parent_run_id: str, status: RunStatus | None = None
    ) -> builtins.list[RunState]:
        """Children of ``parent_run_id`` ordered by ``created_at`` then ``run_id``."""
        where, args = sql_run_filters(
            "?", parent_run_id=parent_run_id, status=None if status is None else RunStatus(status)
        )
        return self._decode_rows(
            f"SELECT run_id, run_json, revision FROM runs{where} ORDER BY created_at, run_id", args
        )

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
        where, args = sql_run_filters(
            "?", status=status, workflow_id=workflow_id, session_id=session_id, root_only=root_only
        )
        rows = self._db.connection().execute(
            f"SELECT {_INDEX_COLUMNS} FROM runs{where} ORDER BY updated_at DESC LIMIT ?",
            (*args, max(limit, 0)),
        )
        return [dict(row) for row in rows]

    # -- decoding --------------------------------------------------------------------------------
    def _decode(self, conn: sqlite3.Connection, run_id: str, text: str) -> tuple[RunState, Any]:
        location = f"{self._db.path}#runs/{run_id}"
        data = decode_json(text, run_id=run_id, location=location)
        nodes = attach_traces(data, conn, run_id, location=location) if isinstance(data, dict) else None
        return run_from_data(data, run_id=run_id, location=location), nodes

    def _decode_rows(self, sql: str, args: Sequence[Any]) -> builtins.list[RunState]:
        return [c.run for c in self._checkpoints(sql, args)]

    def _checkpoints(self, sql: str, args: Sequence[Any]) -> builtins.list[Checkpoint]:
        """Runs of ``sql`` (selecting ``run_id, run_json, revision``) read in one snapshot, their trace
        rows remembered for the next commit; an unreadable row is skipped and logged."""
        found: builtins.list[Checkpoint] = []
        epoch = self._db.epoch
        with self._db.read() as conn:
            for run_id, text, revision in conn.execute(sql, args).fetchall():
                try:
                    run, nodes = self._decode(conn, run_id, text)
                except ValueError:
                    _log.error("skipping unreadable run %s in %s", run_id, self._db.path, exc_info=True)
                    continue
                self._traces.remember(run_id, int(revision), epoch, nodes)
                found.append(Checkpoint(run, int(revision)))
        return found


def _encode(run: RunState) -> tuple[dict[str, builtins.list[Any]] | None, str]:
    """The trace steps split out of ``run`` (None: stored whole) and the row's JSON text.

    Raises:
        NotJsonSafeError: ``vars``, ``output`` or the wait details are not JSON-safe.
    """
    data = run.to_dict()
    steps = split_traces(data)
    return steps, encode_json(data, path="run", run_id=run.run_id)
