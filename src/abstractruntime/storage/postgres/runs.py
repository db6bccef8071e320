"""``PostgresRunStore``: runs in the ``runs`` table, with revision CAS and lease-fenced step commits.

``commit`` is the engine's one-per-step write: in one transaction it locks the run's row
(``SELECT … FOR UPDATE``), checks the revision, appends the step's records (a
:class:`~abstractruntime.storage.postgres.ledger.PostgresLedgerStore` on the same database joins the
transaction, through any decorators) and writes the run.  Either all of it commits or none of it.

Fencing: a worker that drives a run under a lease wraps its steps in :meth:`PostgresRunStore.fenced`;
every commit on that thread then also locks the run's lease row (``FOR SHARE``) and refuses the write
with :class:`~abstractruntime.errors.LeaseLostError` unless the lease is still this owner's, at the
same generation, and not expired.  A takeover (which updates the lease row) therefore waits for a
fenced commit in flight, and a commit after a takeover fails: a stale worker changes nothing.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ...core.models import TERMINAL_STATUSES, RunState, RunStatus, StepRecord, WaitReason
from ...errors import ConcurrencyError, LeaseLostError
from .._query import index_row, sql_run_filters
from ..base import Checkpoint, LedgerStore, RunStore, append_records
from ..codec import decode_run, encode_run
from ..leases import lease_stamp
from .db import PostgresDatabase

__all__ = ["Fence", "PostgresRunStore", "canonical"]

# the run's revision and its lease in one read (no row: the run or the lease row is missing)
_FENCED_READ = (
    "SELECT r.revision, l.owner, l.generation, l.expires_at FROM runs r "
    "JOIN run_leases l ON l.run_id = r.run_id WHERE r.run_id = %s"
)
_COLUMNS = "workflow_id, status, wait_reason, wait_until, parent_run_id, actor_id, session_id"


@dataclass(frozen=True)
class Fence:
    """The lease a worker drives a run under: ``owner`` at ``generation`` (see ``RunLease``)."""

    run_id: str
    owner: str
    generation: int


def canonical(stamp: str | None) -> str | None:
    """``stamp`` as fixed-width UTC ISO-8601 (sorts as time), or None when empty or unparsable."""
    from ...core.clock import parse_iso

    if not stamp:
        return None
    try:
        return lease_stamp(parse_iso(stamp))
    except ValueError:
        return None


class PostgresRunStore(RunStore):
    """Run store over a :class:`PostgresDatabase`: revisions, queries, ``group_commit`` and fencing."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._fences = threading.local()

    @property
    def db(self) -> PostgresDatabase:
        """The database this store writes to."""
        return self._db

    def group_commit(self) -> Any:
        """Step commits made inside this context on this thread share one transaction (savepoints)."""
        return self._db.group_commit()

    @contextmanager
    def fenced(self, fence: Fence) -> Iterator[None]:
        """Fence this thread's commits of ``fence.run_id`` by its lease for the duration of the block."""
        previous = getattr(self._fences, "fence", None)
        self._fences.fence = fence
        try:
            yield
        finally:
            self._fences.fence = previous

    # -- RunStore --------------------------------------------------------------------------------
    def save(self, run: RunState) -> None:
        """Store ``run`` (``created_at`` is kept) and bump its revision (no revision check).

        Raises:
            NotJsonSafeError: ``run`` cannot be encoded; nothing is written.
        """
        text = encode_run(run)
        with self._db.transaction() as conn:
            self._write(conn, run, text, self._lock_row(conn, run.run_id))

    def load(self, run_id: str) -> RunState | None:
        """The stored run, or None.

        Raises:
            CorruptRunError: the stored row cannot be decoded.
        """
        checkpoint = self.load_checkpoint(run_id)
        return None if checkpoint is None else checkpoint.run

    # -- RevisionedRunStore -----------------------------------------------------------------------
    def load_checkpoint(self, run_id: str) -> Checkpoint | None:
        """The stored run with its revision, or None."""
        with self._db.connection() as conn:
            row = conn.execute("SELECT run_json, revision FROM runs WHERE run_id = %s", (run_id,)).fetchone()
        if row is None:
            return None
        return Checkpoint(self._decode(run_id, row[0]), int(row[1]))

    def current_revision(self, run_id: str) -> int | None:
        """The stored revision of ``run_id``, or None.

        Raises:
            LeaseLostError: (inside :meth:`fenced`) the lease is no longer this owner's — the engine
                asks for the revision before each commit, so a stale worker stops before writing.
        """
        with self._db.connection() as conn:
            if self._fence_for(run_id) is None:
                row = conn.execute("SELECT revision FROM runs WHERE run_id = %s", (run_id,)).fetchone()
                return None if row is None else int(row[0])
            row = conn.execute(_FENCED_READ, (run_id,)).fetchone()
            if row is None:
                return self._unjoined(conn, run_id, lock=False)
        self._check_fence(run_id, row[1:])
        return int(row[0])

    def commit(
        self,
        run: RunState,
        records: Sequence[StepRecord],
        *,
        ledger_store: LedgerStore,
        expected_revision: int | None,
    ) -> int:
        """Check the fence and the revision, append ``records``, write ``run`` — one transaction (a run
        that ends also loses its lease row in it).

        Raises:
            ConcurrencyError: the stored revision is not ``expected_revision``; nothing is written.
            LeaseLostError: (inside :meth:`fenced`) the lease is no longer this owner's; nothing written.
            NotJsonSafeError: the run or a record cannot be encoded; nothing is written.
        """
        text = encode_run(run)
        with self._db.transaction() as conn:
            actual = self._lock_row(conn, run.run_id)
            if actual != expected_revision:
                raise ConcurrencyError(
                    run_id=run.run_id, expected_revision=expected_revision, actual_revision=actual
                )
            append_records(ledger_store, records)
            return self._write(conn, run, text, actual)

    def _fence_for(self, run_id: str) -> Fence | None:
        fence: Fence | None = getattr(self._fences, "fence", None)
        return fence if fence is not None and fence.run_id == run_id else None

    def _lock_row(self, conn: Any, run_id: str) -> int | None:
        """Lock the run's row (and share-lock its lease row when fenced); its revision or None."""
        if self._fence_for(run_id) is None:
            row = conn.execute("SELECT revision FROM runs WHERE run_id = %s FOR UPDATE", (run_id,)).fetchone()
            return None if row is None else int(row[0])
        row = conn.execute(_FENCED_READ + " FOR UPDATE OF r FOR SHARE OF l", (run_id,)).fetchone()
        if row is None:
            return self._unjoined(conn, run_id, lock=True)
        self._check_fence(run_id, row[1:])
        return int(row[0])

    def _unjoined(self, conn: Any, run_id: str, *, lock: bool) -> int | None:
        """The rare fenced read where the run or its lease row is missing: check each on its own."""
        lease = conn.execute(
            "SELECT owner, generation, expires_at FROM run_leases WHERE run_id = %s", (run_id,)
        ).fetchone()
        self._check_fence(run_id, lease)
        sql = "SELECT revision FROM runs WHERE run_id = %s" + (" FOR UPDATE" if lock else "")
        row = conn.execute(sql, (run_id,)).fetchone()
        return None if row is None else int(row[0])

    def _check_fence(self, run_id: str, lease: Sequence[Any] | None) -> None:
        """Raise LeaseLostError unless ``lease`` (owner, generation, expires_at) is the fence's, live."""
        fence = self._fence_for(run_id)
        if fence is None:
            return
        owner, generation, expires = (None, None, None) if lease is None else tuple(lease)
        now = lease_stamp(datetime.now(timezone.utc))
        expired = expires is None or str(expires) <= now
        if owner != fence.owner or generation != fence.generation or expired:
            raise LeaseLostError(
                run_id=run_id,
                owner=fence.owner,
                generation=fence.generation,
                found_owner=owner,
                found_generation=None if generation is None else int(generation),
                expired=owner == fence.owner and generation == fence.generation,
            )

    def _write(self, conn: Any, run: RunState, text: str, revision: int | None) -> int:
        row = index_row(run)
        keyed = [row[c.strip()] for c in _COLUMNS.split(",")]
        due = canonical(keyed[3]) if run.status == RunStatus.WAITING else None  # timers sort by this
        updated = canonical(run.updated_at) or run.updated_at
        if revision is None:
            created = canonical(run.created_at) or run.created_at
            inserted = conn.execute(
                f"INSERT INTO runs (run_id, {_COLUMNS}, due_at, created_at, updated_at, run_json, revision) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1) ON CONFLICT (run_id) DO NOTHING",
                (run.run_id, *keyed, due, created, updated, text),
            )
            if inserted.rowcount != 1:
                raise ConcurrencyError(run_id=run.run_id, expected_revision=None, actual_revision=0)
            return 1
        conn.execute(
            "UPDATE runs SET workflow_id = %s, status = %s, wait_reason = %s, wait_until = %s, "
            "parent_run_id = %s, actor_id = %s, session_id = %s, due_at = %s, updated_at = %s, run_json = %s, "
            "revision = revision + 1 WHERE run_id = %s",
            (*keyed, due, updated, text, run.run_id),
        )
        if run.status in TERMINAL_STATUSES:
            # a finished run is never claimed again, so nothing would reap its lease: it goes with this commit
            conn.execute("DELETE FROM run_leases WHERE run_id = %s", (run.run_id,))
        return revision + 1

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
        where, args = sql_run_filters("%s", status=status, wait_reason=wait_reason, workflow_id=workflow_id)
        return self._decode_rows(
            f"SELECT run_id, run_json FROM runs{where} ORDER BY updated_at DESC, run_id LIMIT %s",
            [*args, max(limit, 0)],
        )

    def list_due_wait_until(self, *, now_iso: str, limit: int = 100) -> builtins.list[RunState]:
        """WAITING+UNTIL runs due at ``now_iso``, earliest deadline first.

        Raises:
            ValueError: ``now_iso`` is not an ISO-8601 timestamp.
        """
        now = canonical(now_iso)
        if now is None:
            raise ValueError(f"now_iso is not an ISO-8601 timestamp: {now_iso!r}")
        return self._decode_rows(
            "SELECT run_id, run_json FROM runs WHERE due_at IS NOT NULL AND due_at <= %s "
            "ORDER BY due_at, run_id LIMIT %s",
            [now, max(limit, 0)],
        )

    def list_children(
        self, *, parent_run_id: str, status: RunStatus | None = None
    ) -> builtins.list[RunState]:
        """Children of ``parent_run_id`` ordered by ``created_at`` then ``run_id``."""
        where, args = sql_run_filters(
            "%s", parent_run_id=parent_run_id, status=None if status is None else RunStatus(status)
        )
        return self._decode_rows(
            f"SELECT run_id, run_json FROM runs{where} ORDER BY created_at, run_id", args
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
        """Light rows read from the indexed columns, newest ``updated_at`` first."""
        where, args = sql_run_filters(
            "%s", status=status, workflow_id=workflow_id, session_id=session_id, root_only=root_only
        )
        columns = f"run_id, {_COLUMNS}, created_at, updated_at"
        with self._db.connection() as conn:
            cur = conn.execute(
                f"SELECT {columns} FROM runs{where} ORDER BY updated_at DESC, run_id LIMIT %s",
                [*args, max(limit, 0)],
            )
            names = [d.name for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def _decode(self, run_id: str, text: str) -> RunState:
        return decode_run(text, run_id=run_id, location=f"{self._db.label}#runs/{run_id}")

    def _decode_rows(self, sql: str, args: Sequence[Any]) -> builtins.list[RunState]:
        with self._db.connection() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [self._decode(run_id, text) for run_id, text in rows]
