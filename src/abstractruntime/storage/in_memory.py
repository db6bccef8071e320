"""In-memory stores (SPEC §7.2): for tests, notebooks and short-lived hosts.

``InMemoryRunStore`` stores the very object it is given (``load`` returns the live object, as the
specification documents), keeps a revision per run for optimistic concurrency, and answers every
query.  ``InMemoryLedgerStore`` keeps record dicts taken at append time (``StepRecord.to_dict`` with the
nested ``effect``/``result`` copied, so later edits of the caller's objects never reach the ledger) plus
an index of completed records by idempotency key.  ``InMemoryLeaseStore`` keeps run leases (``leases.py``).  All
are thread-safe; nothing survives the process.
"""

from __future__ import annotations

import builtins
import copy
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ..core.models import RunState, RunStatus, StepRecord, StepStatus, WaitReason
from ..errors import ConcurrencyError
from ._query import due_until, index_row, matches, newest_first
from .base import Checkpoint, LedgerStore, Link, RunStore, append_records
from .leases import LeaseRules, LeaseSlot, RunLease

__all__ = ["InMemoryLeaseStore", "InMemoryLedgerStore", "InMemoryRunStore"]


class InMemoryRunStore(RunStore):
    """Runs kept in a dict, by reference; implements the query and revision capabilities."""

    shares_live_objects = True  # load returns the stored object itself

    def __init__(self) -> None:
        self._runs: dict[str, RunState] = {}
        self._revisions: dict[str, int] = {}
        self._children: dict[str, set[str]] = {}
        self._lock = threading.RLock()

    # -- RunStore -------------------------------------------------------------------------------
    def save(self, run: RunState) -> None:
        """Store ``run`` itself (no copy) and bump its revision."""
        with self._lock:
            self._put(run)

    def load(self, run_id: str) -> RunState | None:
        """The live stored object of ``run_id``, or None."""
        return self._runs.get(run_id)

    # -- RevisionedRunStore -----------------------------------------------------------------------
    def load_checkpoint(self, run_id: str) -> Checkpoint | None:
        """The live object with its revision, or None."""
        with self._lock:
            run = self._runs.get(run_id)
            return None if run is None else Checkpoint(run, self._revisions[run_id])

    def current_revision(self, run_id: str) -> int | None:
        """The revision of ``run_id`` (None: unknown run)."""
        return self._revisions.get(run_id)

    def commit(
        self,
        run: RunState,
        records: Sequence[StepRecord],
        *,
        ledger_store: LedgerStore,
        expected_revision: int | None,
    ) -> int:
        """Check the revision, append ``records`` in order, then store ``run``; returns the new revision.

        Raises:
            ConcurrencyError: the stored revision differs from ``expected_revision``.
        """
        with self._lock:
            actual = self._revisions.get(run.run_id)
            if actual != expected_revision:
                raise ConcurrencyError(
                    run_id=run.run_id, expected_revision=expected_revision, actual_revision=actual
                )
            append_records(ledger_store, records)
            return self._put(run)

    def _put(self, run: RunState) -> int:
        self._runs[run.run_id] = run
        revision = self._revisions.get(run.run_id, 0) + 1
        self._revisions[run.run_id] = revision
        if run.parent_run_id:
            self._children.setdefault(run.parent_run_id, set()).add(run.run_id)
        return revision

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
        with self._lock:
            runs = [
                r
                for r in self._runs.values()
                if matches(r, status=status, wait_reason=wait_reason, workflow_id=workflow_id)
            ]
        return newest_first(runs)[: max(limit, 0)]

    def list_due_wait_until(self, *, now_iso: str, limit: int = 100) -> builtins.list[RunState]:
        """WAITING+UNTIL runs due at ``now_iso``, earliest deadline first (compared as datetimes)."""
        with self._lock:
            waiting = [r for r in self._runs.values() if r.status == RunStatus.WAITING]
        return due_until(waiting, now_iso=now_iso, limit=limit)

    def list_children(
        self, *, parent_run_id: str, status: RunStatus | None = None
    ) -> builtins.list[RunState]:
        """Child runs of ``parent_run_id`` ordered by ``created_at`` then ``run_id``."""
        with self._lock:
            kids = [self._runs[i] for i in self._children.get(parent_run_id, ()) if i in self._runs]
        kids = [k for k in kids if k.parent_run_id == parent_run_id and matches(k, status=status)]
        return sorted(kids, key=lambda r: (r.created_at, r.run_id))

    def list_run_index(
        self,
        *,
        status: RunStatus | None = None,
        workflow_id: str | None = None,
        session_id: str | None = None,
        root_only: bool = False,
        limit: int = 100,
    ) -> builtins.list[dict[str, Any]]:
        """Light rows (SPEC §7.1) of the matching runs, newest ``updated_at`` first."""
        with self._lock:
            runs = [
                r
                for r in self._runs.values()
                if matches(
                    r, status=status, workflow_id=workflow_id, session_id=session_id, root_only=root_only
                )
            ]
        return [index_row(r) for r in newest_first(runs)[: max(limit, 0)]]


class InMemoryLedgerStore(LedgerStore):
    """Ledger records kept as snapshot dicts per run, with an idempotency-key index."""

    def __init__(self) -> None:
        self._records: dict[str, builtins.list[dict[str, Any]]] = {}
        self._completed: dict[tuple[str, str], dict[str, Any]] = {}
        self._open: dict[tuple[str, str], dict[str, Any]] = {}  # STARTED records no later record ended
        self._lock = threading.Lock()

    def append(self, record: StepRecord) -> None:
        """Snapshot ``record`` and add it at the end of its run's ledger."""
        with self._lock:
            self._append_locked(record)

    def append_many(self, records: Sequence[StepRecord]) -> None:
        """Append ``records`` in order under one acquisition of the lock.

        The STARTED and end records of one effect carry the same ``effect`` dict: it is copied once and
        both stored dicts hold that copy (stored records are never edited in place).
        """
        with self._lock:
            effects: dict[int, Any] = {}
            for record in records:
                self._append_locked(record, effects)

    def append_linked(self, records: Sequence[StepRecord], link: Link) -> None:
        """Append ``records`` in order, calling ``link(previous_record_dict, record)`` before each, under
        the store's lock (used by hash chaining: the chain head cannot change meanwhile)."""
        if not records:
            return
        with self._lock:
            existing = self._records.get(records[0].run_id)
            last = existing[-1] if existing else None
            for record in records:
                link(last, record)
                last = self._append_locked(record)

    def _append_locked(self, record: StepRecord, effects: dict[int, Any] | None = None) -> dict[str, Any]:
        effect = record.effect
        if effects is None:
            effect_copy = _copy_tree(effect)
        else:  # one copy per distinct effect dict of the batch (the batch keeps the originals alive)
            effect_copy = effects.get(id(effect))
            if effect_copy is None:
                effect_copy = effects[id(effect)] = _copy_tree(effect)
        result = record.result
        data = record.to_dict()
        data["effect"] = effect_copy
        data["result"] = result if type(result) in _ATOMS else _copy_tree(result)
        run_id = record.run_id
        ledger = self._records.get(run_id)
        if ledger is None:
            ledger = self._records[run_id] = []
        ledger.append(data)
        key = record.idempotency_key
        if key:
            status = record.status
            if status == StepStatus.STARTED:
                self._open[(run_id, key)] = data
            else:
                if status == StepStatus.COMPLETED:
                    self._completed.setdefault((run_id, key), data)
                self._open.pop((run_id, key), None)
        return data

    def list(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """A new list of the stored record dicts of ``run_id``, in append order."""
        with self._lock:
            return builtins.list(self._records.get(run_id, ()))

    def find_completed(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The first COMPLETED record with this key (an O(1) index lookup)."""
        return self._completed.get((run_id, idempotency_key))

    def find_started(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The STARTED record with this key that no later record ended (an O(1) index lookup)."""
        return self._open.get((run_id, idempotency_key))

    def count(self, run_id: str) -> int:
        """How many records ``run_id`` has."""
        with self._lock:
            return len(self._records.get(run_id, ()))

    def count_many(self, run_ids: Sequence[str]) -> dict[str, int]:
        """``{run_id: count}`` for each id that has records; unknown ids (no records) are omitted."""
        with self._lock:
            counts = {run_id: len(self._records.get(run_id, ())) for run_id in run_ids}
        return {run_id: n for run_id, n in counts.items() if n > 0}


_ATOMS = frozenset({str, int, float, bool, type(None)})


def _copy_tree(value: Any) -> Any:
    """A deep copy of ``value``: plain dicts and lists rebuilt, JSON scalars shared, anything else
    through ``copy.deepcopy`` (the same isolation as ``asdict``, several times faster on JSON data)."""
    cls = type(value)
    if cls in _ATOMS:
        return value
    if cls is dict:
        return {key: item if type(item) in _ATOMS else _copy_tree(item) for key, item in value.items()}
    if cls is list:
        return [item if type(item) in _ATOMS else _copy_tree(item) for item in value]
    return copy.deepcopy(value)


class InMemoryLeaseStore(LeaseRules):
    """Run leases in a dict under one lock (a :class:`~abstractruntime.storage.leases.RunLeaseStore`)."""

    def __init__(self) -> None:
        self._rows: dict[str, RunLease] = {}
        self._lock = threading.Lock()

    @contextmanager
    def _slot(self, run_id: str) -> Iterator[LeaseSlot]:
        def write(lease: RunLease | None) -> None:
            if lease is None:
                self._rows.pop(run_id, None)
            else:
                self._rows[run_id] = lease

        with self._lock:
            yield LeaseSlot(self._rows.get(run_id), write)

    def get_lease(self, run_id: str) -> RunLease | None:
        """The row of ``run_id``, or None."""
        with self._lock:
            return self._rows.get(run_id)

    def list_expired_leases(self, *, now: datetime, limit: int = 100) -> builtins.list[RunLease]:
        """Rows not live at ``now``, earliest expiry first (released rows first)."""
        with self._lock:
            rows = [r for r in self._rows.values() if not r.is_live(now)]
        rows.sort(key=lambda r: (r.expires_at or "", r.run_id))
        return rows[: max(limit, 0)]
