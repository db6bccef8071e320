"""The engine's single door to storage: revisioned loads, one commit per step, intent records.

:class:`StoreAccess` hides whether the run store supports the revisioned one-unit commit of
:class:`~abstractruntime.storage.base.RevisionedRunStore`.  With it, every commit compares and sets
the run's revision; without it (a plain SPEC §7.1 store), records are appended one by one and the
state is saved after them, as the fallback the interface documents.

A step whose new state or records a durable store refuses as not JSON-safe (a node put a ``set`` or an
object in vars, an effect returned one) never strands the run RUNNING: :meth:`StoreAccess.fail_unstorable`
commits the run's last stored state as FAILED with the ``NotJsonSafeError`` (see
``docs/compatibility.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import ConcurrencyError, NotJsonSafeError, RunNotFoundError
from ..jsonable import find_non_json_safe
from ..logs import LazyLogger
from ..models import RunState, RunStatus, StepRecord
from ..ports import (
    LedgerStore,
    RevisionedRunStore,
    RunStore,
    append_records,
    find_completed_in,
    find_started_in,
)
from .records import failure_record, status_record

__all__ = ["StoreAccess", "WorkingRun", "is_paused"]

_log = LazyLogger("abstractruntime.engine")


@dataclass
class WorkingRun:
    """A run being advanced by the engine, with the revision it was loaded at (None: unrevisioned).

    ``pending`` holds the records of a change already applied to ``run`` but not committed yet (a
    resume whose commit rides with the next step's, see ``resume.py``): the next commit writes them
    first, in the same transaction.
    """

    run: RunState
    revision: int | None
    pending: tuple[StepRecord, ...] = ()
    rebuild: Callable[[RunState], None] | None = None
    """Applies the pending change to the run as last stored: the step that follows turned out
    unstorable, so the change is committed on its own before the run fails (see ``fail_unstorable``)."""


def is_paused(run: RunState) -> bool:
    """True when ``vars._runtime.control.paused`` is True (SPEC §4.7)."""
    runtime_ns = run.vars.get("_runtime") if isinstance(run.vars, dict) else None
    control = runtime_ns.get("control") if isinstance(runtime_ns, dict) else None
    return isinstance(control, dict) and control.get("paused") is True


class StoreAccess:
    """Loads and commits runs for the engine.

    Args:
        run_store: any RunStore; revisioned stores get optimistic concurrency.
        ledger_store: any LedgerStore (or duck-typed object with ``append``/``list``).
    """

    def __init__(self, run_store: RunStore, ledger_store: LedgerStore) -> None:
        self.run_store = run_store
        self.ledger_store = ledger_store
        self._revisioned: RevisionedRunStore | None = (
            run_store if isinstance(run_store, RevisionedRunStore) else None
        )
        finder = getattr(ledger_store, "find_completed", None)
        self._finder = finder if callable(finder) else None
        started_finder = getattr(ledger_store, "find_started", None)
        self._started_finder = started_finder if callable(started_finder) else None

    # -- loading -------------------------------------------------------------------------------
    def load(self, run_id: str) -> WorkingRun:
        """Load ``run_id`` for an update.

        Raises:
            RunNotFoundError (a KeyError): no such run.
        """
        if self._revisioned is not None:
            checkpoint = self._revisioned.load_checkpoint(run_id)
            if checkpoint is None:
                raise RunNotFoundError(run_id)
            return WorkingRun(checkpoint.run, checkpoint.revision)
        run = self.run_store.load(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        return WorkingRun(run, None)

    def get(self, run_id: str) -> RunState:
        """The stored state of ``run_id`` (read only).

        Raises:
            RunNotFoundError (a KeyError): no such run.
        """
        run = self.run_store.load(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        return run

    # -- writing -------------------------------------------------------------------------------
    def create(self, run: RunState) -> WorkingRun:
        """Store a new run (no ledger records) and return it as a working run."""
        return self.commit(WorkingRun(run, None), ())

    def commit(self, work: WorkingRun, records: Sequence[StepRecord]) -> WorkingRun:
        """Append ``records`` and store ``work.run`` as one unit; updates ``work.revision``.

        Raises:
            ConcurrencyError: another writer changed the run since it was loaded; nothing written.
        """
        if work.pending:
            records = [*work.pending, *records]
        if self._revisioned is not None:
            work.revision = self._revisioned.commit(
                work.run, records, ledger_store=self.ledger_store, expected_revision=work.revision
            )
        else:
            append_records(self.ledger_store, records)
            self.run_store.save(work.run)
        work.pending = ()
        return work

    @property
    def defers_commits(self) -> bool:
        """True when a change may wait in :attr:`WorkingRun.pending` for the next commit: the run store
        checks revisions (a conflicting writer is detected before anything is written) and hands out
        copies (no other reader sees the uncommitted change)."""
        return self._revisioned is not None and not getattr(self.run_store, "shares_live_objects", False)

    def append(self, record: StepRecord) -> None:
        """Append one record on its own (an effect's durable intent, or a failed attempt)."""
        self.ledger_store.append(record)

    # -- idempotency -----------------------------------------------------------------------------
    def find_completed(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The first COMPLETED ledger record of ``run_id`` with ``idempotency_key``, or None."""
        if self._finder is not None:
            found: dict[str, Any] | None = self._finder(run_id, idempotency_key)
            return found
        return find_completed_in(self.ledger_store.list(run_id), idempotency_key)

    def find_started(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The open STARTED intent of ``run_id`` with ``idempotency_key`` (no later record of the key
        ended it), or None; a scan of ``list`` for a store without ``find_started``."""
        if self._started_finder is not None:
            found: dict[str, Any] | None = self._started_finder(run_id, idempotency_key)
            return found
        return find_started_in(self.ledger_store.list(run_id), idempotency_key)

    # -- external control ------------------------------------------------------------------------
    def interrupted(self, work: WorkingRun) -> RunState | None:
        """Check whether another writer paused, cancelled or advanced the run.

        Returns the persisted state when the run was cancelled or paused meanwhile (the caller must
        stop and return it without writing), or None to carry on.

        Raises:
            ConcurrencyError: another writer committed a different change; our copy is stale.
        """
        run_id = work.run.run_id
        if self._revisioned is not None:
            current = self._revisioned.current_revision(run_id)
            if current == work.revision:
                return None
            checkpoint = self._revisioned.load_checkpoint(run_id)
            if checkpoint is None:
                raise ConcurrencyError(run_id=run_id, expected_revision=work.revision, actual_revision=None)
            persisted = checkpoint.run
            if persisted.status == RunStatus.CANCELLED:
                work.pending = ()  # a cancel wins over an uncommitted resume too
                return persisted
            if work.pending and persisted is not work.run:
                # The uncommitted change (a resume) was not applied: the caller must hear of it.
                raise ConcurrencyError(
                    run_id=run_id, expected_revision=work.revision, actual_revision=checkpoint.revision
                )
            if is_paused(persisted):
                return persisted
            if persisted is work.run:
                # Shared live object (in-memory store): the change is already in our copy.
                work.revision = checkpoint.revision
                return None
            raise ConcurrencyError(
                run_id=run_id, expected_revision=work.revision, actual_revision=checkpoint.revision
            )
        persisted_plain = self.run_store.load(run_id)
        if persisted_plain is not None and (
            persisted_plain.status == RunStatus.CANCELLED or is_paused(persisted_plain)
        ):
            return persisted_plain
        return None

    def commit_unless_interrupted(
        self, work: WorkingRun, records: Sequence[StepRecord], *, precheck: bool = True, flush: bool = False
    ) -> RunState | None:
        """Commit, unless the run was paused or cancelled meanwhile (then return the persisted state).

        ``precheck=False`` skips the check before writing (the caller just made it).  A conflict
        detected by the commit itself is re-examined the same way, so a cancel that lands between
        the check and the write still wins.  ``flush=True``: see :meth:`flush_pending`.
        """
        if precheck:
            persisted = self.interrupted(work)
            if persisted is not None:
                return persisted
        try:
            try:
                self.commit(work, records)
            except ConcurrencyError:
                persisted = self.interrupted(work)
                if persisted is not None:
                    _log.info("run %s was paused or cancelled during a step; step discarded", work.run.run_id)
                    return persisted
                self.commit(work, records)  # shared live object: the revision was adopted, write again
        except NotJsonSafeError as exc:
            if work.pending and self._commit_pending_alone(work, exc):
                # The pending resume is stored on its own; now the step meets its own error.
                return None if flush else self.commit_unless_interrupted(work, records, precheck=False)
            return self.fail_unstorable(work, records, exc)
        return None

    def flush_pending(self, work: WorkingRun) -> RunState | None:
        """Commit :attr:`WorkingRun.pending` with the run as it is now (before an effect runs).

        Returns the persisted state when a cancel landed first (the caller stops), else None.  When the
        run as it is now cannot be stored, the pending change is committed on its own over the stored
        state and None is returned: the step goes on and its own commit meets the error.

        Raises:
            ConcurrencyError: another writer changed the run first; the pending change was not stored.
        """
        if not work.pending:
            return None
        return self.commit_unless_interrupted(work, (), precheck=False, flush=True)

    def _commit_pending_alone(self, work: WorkingRun, exc: NotJsonSafeError) -> bool:
        """Commit the pending change (``WorkingRun.rebuild``) over the stored state; False when it has no
        rebuild or cannot be stored itself.  Clears ``work.pending`` either way."""
        pending, rebuild = work.pending, work.rebuild
        work.pending, work.rebuild = (), None
        if rebuild is None:
            return False
        base, revision = self._last_stored(work, exc)
        rebuild(base)
        alone = WorkingRun(base, revision)
        try:
            self.commit(alone, pending)
        except NotJsonSafeError:
            return False
        work.revision = alone.revision
        return True

    def fail_unstorable(
        self, work: WorkingRun, records: Sequence[StepRecord], exc: NotJsonSafeError
    ) -> RunState:
        """End the run FAILED because its step cannot be stored; returns the failed state.

        The failed state is the last one stored (the step's unstorable changes are dropped) with
        ``error = "NotJsonSafeError: the step at node '<id>' cannot be stored: <message>"``, committed with a FAILED record (paired
        with the effect's STARTED record when the step had one) and the terminal status record.
        ``work`` then holds the failed state.

        Raises:
            ConcurrencyError: another writer changed the run meanwhile (nothing written).
            NotJsonSafeError: ``exc`` again when the run has no stored state to fall back to.
        """
        run = work.run
        exc.run_id = exc.run_id or run.run_id
        base, revision = self._last_stored(work, exc)
        work.pending, work.rebuild = (), None  # an uncommitted resume is dropped with the step
        step = next((r for r in reversed(records) if r.effect is not None), None)
        node_id = step.node_id if step is not None else run.current_node
        error = f"NotJsonSafeError: the step at node {node_id!r} cannot be stored: {exc}"
        now = run.updated_at
        base.status = RunStatus.FAILED
        base.error = error
        base.waiting = None
        base.updated_at = now
        failure = failure_record(
            base,
            node_id=node_id,
            error=error,
            now=now,
            effect=_storable_effect(step.effect) if step is not None else None,
            step_id=step.step_id if step is not None else None,
            attempt=step.attempt if step is not None else 1,
            idempotency_key=step.idempotency_key if step is not None else None,
        )
        fallen = WorkingRun(base, revision)
        self.commit(fallen, [failure, status_record(base, node_id=node_id, status="failed", now=now)])
        work.run, work.revision = fallen.run, fallen.revision
        _log.warning("run %s failed: %s", run.run_id, error)
        return fallen.run

    def _last_stored(self, work: WorkingRun, exc: NotJsonSafeError) -> tuple[RunState, int | None]:
        """The run as last stored and its revision (the live object itself for in-memory stores)."""
        run_id = work.run.run_id
        if self._revisioned is not None:
            checkpoint = self._revisioned.load_checkpoint(run_id)
            if checkpoint is None:
                raise exc
            if checkpoint.revision != work.revision:
                raise ConcurrencyError(
                    run_id=run_id, expected_revision=work.revision, actual_revision=checkpoint.revision
                )
            return checkpoint.run, checkpoint.revision
        stored = self.run_store.load(run_id)
        if stored is None:
            raise exc
        return stored, None


def _storable_effect(effect: dict[str, Any] | None) -> dict[str, Any] | None:
    """``effect`` when it is JSON-safe, else only its type and result key."""
    if effect is None or find_non_json_safe(effect) is None:
        return effect
    return {"type": effect.get("type"), "payload": None, "result_key": effect.get("result_key")}
