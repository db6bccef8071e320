"""Storage ports of the kernel (SPEC §7.1): the store interfaces and the guarantees every backend gives.

They live in the kernel so ``core`` imports nothing above it; ``abstractruntime.storage.base`` re-exports
them under their documented path (SPEC §15).

Two abstract stores hold everything durable:

* :class:`RunStore` keeps the latest :class:`~abstractruntime.core.models.RunState` of each run.
* :class:`LedgerStore` keeps the append-only :class:`~abstractruntime.core.models.StepRecord` history
  of each run, in append order.

Both are deliberately small so a host can write its own.  A backend may add capabilities, which the
runtime discovers structurally and uses when present:

* :class:`RevisionedRunStore` — each stored run has a revision (an int that grows on every write).
  ``commit`` writes a step's ledger records and the new run state as one unit and compares-and-sets
  the revision (optimistic concurrency): a writer holding a stale copy gets
  :class:`~abstractruntime.errors.ConcurrencyError` and nothing is written.  Durable backends make the
  unit atomic (one transaction, or an ordered fsynced append followed by an atomic rename), so after a
  crash the stored state never claims a step its ledger lacks.
* ``LedgerStore.find_completed`` — the idempotency lookup.  The base class answers with a scan;
  bundled backends answer from an index, so a step's cost does not grow with the run's length.
* ``LedgerStore.find_started`` — the in-doubt lookup: a STARTED intent that no later record with its
  key ended (the driver stopped between the intent and the commit).  Same rule: a scan by default, an
  index on the bundled backends.
* :class:`QueryableRunStore` / :class:`QueryableRunIndexStore` — queries used by the scheduler and
  event delivery.
* :class:`RunLeaseStore` — a separate store of run *leases*: the mark a driver puts on the runs it is
  advancing, so crash recovery never takes over a run that a live driver holds (defined in
  ``core/lease_store.py``; ``docs/stores.md``, "Leases and recovery").

A plain ``RunStore``/``LedgerStore`` pair written against SPEC §7.1 still works: the runtime then
appends the records one by one and saves the state after them, without revision checks.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .lease_store import RunLease, RunLeaseStore
from .models import RunState, RunStatus, StepRecord, WaitReason

__all__ = [
    "Checkpoint",
    "CheckpointListingRunStore",
    "Link",
    "LedgerStore",
    "ObservableLedgerStoreProtocol",
    "QueryableRunIndexStore",
    "QueryableRunStore",
    "RevisionedRunStore",
    "RunLease",
    "RunLeaseStore",
    "RunStore",
    "append_records",
    "find_completed_in",
    "find_started_in",
]


Link = Callable[[dict[str, Any] | None, StepRecord], None]
"""``link(previous_record_dict_or_None, record)``: called by ``append_linked`` under the store's write
lock before each record is written (hash chaining sets ``prev_hash``/``record_hash`` with it)."""


class RunStore(ABC):
    """Keeps the latest state of every run.

    ``save`` replaces the stored state of ``run.run_id`` (creating it when new); ``load`` returns the
    stored state or None.  A durable implementation makes ``save`` atomic: a crash leaves either the
    old or the new state, never a torn one.

    ``shares_live_objects`` is True for a store whose ``load`` returns the stored object itself (the
    in-memory store): the engine then commits every change at once instead of letting a resume ride
    with the next step's commit.
    """

    shares_live_objects: bool = False

    @abstractmethod
    def save(self, run: RunState) -> None:
        """Store ``run`` as the latest state of ``run.run_id``."""

    @abstractmethod
    def load(self, run_id: str) -> RunState | None:
        """The stored state of ``run_id``, or None when there is none."""


class LedgerStore(ABC):
    """The append-only step history of every run.

    ``append`` adds one record after every record already stored for its run; ``list`` returns a
    run's records as plain dicts (``asdict(StepRecord)``) in append order.  Records are never
    rewritten or removed.
    """

    @abstractmethod
    def append(self, record: StepRecord) -> None:
        """Add ``record`` at the end of its run's ledger."""

    @abstractmethod
    def list(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """All records of ``run_id`` in append order (an empty list for an unknown run)."""

    def find_completed(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The first COMPLETED record of ``run_id`` carrying ``idempotency_key``, or None.

        This is the idempotency-reuse lookup of SPEC §6.  The default scans ``list(run_id)``;
        backends override it with an index so the cost does not grow with the ledger.
        """
        return find_completed_in(self.list(run_id), idempotency_key)

    def find_started(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The last record of ``run_id`` carrying ``idempotency_key`` when it is STARTED, else None.

        A STARTED record that no later record with the same key ended (COMPLETED, WAITING, FAILED) is
        an *open intent*: the driver that wrote it stopped before committing the effect's end, so the
        effect may or may not have run (``docs/llm.md``, "In-doubt calls").  The default scans
        ``list(run_id)``; backends override it with an index.
        """
        return find_started_in(self.list(run_id), idempotency_key)


def append_records(ledger_store: LedgerStore, records: Sequence[StepRecord]) -> None:
    """Append ``records`` in order, in one batch when the store has ``append_many`` (one write, one
    fsync or one statement), else one by one."""
    if not records:
        return
    append_many = getattr(ledger_store, "append_many", None)
    if callable(append_many):
        append_many(records)
    else:
        for record in records:
            ledger_store.append(record)


def find_completed_in(records: Sequence[dict[str, Any]], idempotency_key: str) -> dict[str, Any] | None:
    """Scan ``records`` for the first COMPLETED one whose key is ``idempotency_key``."""
    for record in records:
        if record.get("idempotency_key") == idempotency_key and record.get("status") == "completed":
            return record
    return None


def find_started_in(records: Sequence[dict[str, Any]], idempotency_key: str) -> dict[str, Any] | None:
    """Scan ``records`` for the last one whose key is ``idempotency_key``; it when STARTED, else None."""
    for record in reversed(records):
        if record.get("idempotency_key") == idempotency_key:
            return record if record.get("status") == "started" else None
    return None


@dataclass
class Checkpoint:
    """A run as loaded for an update: its state and the revision it was stored at."""

    run: RunState
    revision: int


@runtime_checkable
class CheckpointListingRunStore(Protocol):
    """Optional capability: list runs together with their revisions (read in one snapshot), so a
    driver that acts on what it listed (event delivery) need not load each run again."""

    def list_checkpoints(
        self,
        *,
        status: RunStatus | None = None,
        wait_reason: WaitReason | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Checkpoint]:
        """``list_runs`` with each run's revision: the same runs, in the same order."""
        ...


@runtime_checkable
class RevisionedRunStore(Protocol):
    """Optional capability: revisioned loads and one-unit step commits (optimistic concurrency)."""

    def load_checkpoint(self, run_id: str) -> Checkpoint | None:
        """The stored state of ``run_id`` with its revision, or None."""
        ...

    def current_revision(self, run_id: str) -> int | None:
        """The revision ``run_id`` is stored at (None: no such run), without decoding the state."""
        ...

    def commit(
        self,
        run: RunState,
        records: Sequence[StepRecord],
        *,
        ledger_store: LedgerStore,
        expected_revision: int | None,
    ) -> int:
        """Append ``records`` to ``ledger_store`` and store ``run``, as one unit.

        Args:
            run: the new state.
            records: the ledger records of the step, appended in order before the state is stored.
            ledger_store: where the records go; a backend that shares storage with it makes the unit
                atomic, otherwise it appends the records first and stores the state last.
            expected_revision: the revision the caller loaded; None when the run must not exist yet.

        Returns:
            The new revision.

        Raises:
            ConcurrencyError: the stored revision is not ``expected_revision``; nothing was written.
            NotJsonSafeError: (durable backends) the state or a record cannot be stored as JSON.
        """
        ...


@runtime_checkable
class QueryableRunStore(Protocol):
    """Queries over stored runs, used by the scheduler and by event delivery (SPEC §7.1)."""

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        wait_reason: WaitReason | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[RunState]:
        """Runs matching every given filter, newest ``updated_at`` first, at most ``limit``."""
        ...

    def list_due_wait_until(self, *, now_iso: str, limit: int = 100) -> builtins.list[RunState]:
        """WAITING runs with an UNTIL wait due at ``now_iso`` (UTC ISO-8601), earliest ``until`` first."""
        ...

    def list_children(
        self, *, parent_run_id: str, status: RunStatus | None = None
    ) -> builtins.list[RunState]:
        """Runs whose ``parent_run_id`` is the given id, optionally with one status."""
        ...


@runtime_checkable
class QueryableRunIndexStore(Protocol):
    """Light run listings: rows with the keys ``run_id, workflow_id, status, wait_reason, wait_until,
    parent_run_id, actor_id, session_id, created_at, updated_at`` (missing values None), newest
    ``updated_at`` first."""

    def list_run_index(
        self,
        *,
        status: RunStatus | None = None,
        workflow_id: str | None = None,
        session_id: str | None = None,
        root_only: bool = False,
        limit: int = 100,
    ) -> builtins.list[dict[str, Any]]:
        """Index rows matching the filters (``root_only``: runs without a parent)."""
        ...


@runtime_checkable
class ObservableLedgerStoreProtocol(Protocol):
    """A ledger whose appends can be observed in-process (SPEC §7.7)."""

    def subscribe(
        self, callback: Callable[[dict[str, Any]], None], *, run_id: str | None = None
    ) -> Callable[[], None]:
        """Call ``callback(record_dict)`` after each append (of ``run_id`` only, when given).

        Returns an idempotent function that cancels the subscription.
        """
        ...
