"""Read-modify-write of a run that is not the one being stepped, under optimistic concurrency.

The memory effects write into runs other than their own (a ``target_run_id``, the session and global
memory owner runs), and ``ActiveContextPolicy.rehydrate_into_context`` saves the run it changes.  When
the run store has the revision capability (:class:`~abstractruntime.storage.base.RevisionedRunStore`)
every such write is ``load_checkpoint`` → modify → ``commit(expected_revision=...)``, retried on
:class:`~abstractruntime.errors.ConcurrencyError`, so two concurrent writers never lose each other's
span.  A plain SPEC §7.1 store gets ``load`` → modify → ``save``.

A retry applies the change again to a freshly loaded copy.  A store that hands out live objects (the
in-memory store) may return the very object already changed: the change is then not applied twice.
``mutate`` callbacks should still be idempotent (applying twice leaves the run as applying once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from ...errors import CapabilityError, ConcurrencyError, RunNotFoundError
from ..models import RunState, StepRecord
from ..ports import LedgerStore, RevisionedRunStore, RunStore

__all__ = ["DEFAULT_ATTEMPTS", "create_run_if_missing", "update_run"]

_log = logging.getLogger("abstractruntime.memory")

T = TypeVar("T")

DEFAULT_ATTEMPTS = 5
"""How many times a conflicting write is retried before the ConcurrencyError propagates."""


class _NoLedger(LedgerStore):
    """Stands in for a ledger when none is given: these commits carry no records."""

    def append(self, record: StepRecord) -> None:
        raise CapabilityError("update_run writes no ledger records")

    def list(self, run_id: str) -> list[dict[str, Any]]:
        return []


def update_run(
    run_store: RunStore,
    ledger_store: LedgerStore | None,
    run_id: str,
    mutate: Callable[[RunState], T],
    *,
    now: Callable[[], str] | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
) -> T:
    """Load ``run_id``, apply ``mutate(run)`` (idempotent), store the run, and return what ``mutate`` returned.

    Args:
        run_store: any RunStore; revisioned stores get compare-and-set commits.
        ledger_store: passed to ``commit`` (no records are written; None is fine).
        run_id: the run to change.
        mutate: changes the run in place; called again on a reloaded copy after a conflict.
        now: returns the ISO time written to ``updated_at`` (None leaves ``updated_at`` alone).
        attempts: how many conflicting commits are tolerated.

    Raises:
        RunNotFoundError (KeyError): no such run.
        ConcurrencyError: every attempt conflicted with another writer.
    """
    if not isinstance(run_store, RevisionedRunStore):
        run = run_store.load(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        result = mutate(run)
        if now is not None:
            run.updated_at = now()
        run_store.save(run)
        return result
    last: ConcurrencyError | None = None
    applied: list[tuple[RunState, T]] = []  # keeps the objects alive, so identity checks are sound
    for attempt in range(1, max(attempts, 1) + 1):
        checkpoint = run_store.load_checkpoint(run_id)
        if checkpoint is None:
            raise RunNotFoundError(run_id)
        earlier = [r for obj, r in applied if obj is checkpoint.run]
        if earlier:
            # A store that hands out live objects (InMemoryRunStore): our change is already in it.
            result = earlier[0]
        else:
            result = mutate(checkpoint.run)
            applied.append((checkpoint.run, result))
        if now is not None:
            checkpoint.run.updated_at = now()
        try:
            run_store.commit(
                checkpoint.run,
                (),
                ledger_store=ledger_store or _NoLedger(),
                expected_revision=checkpoint.revision,
            )
        except ConcurrencyError as exc:
            _log.info("run %s changed while being updated (attempt %d); retrying", run_id, attempt)
            last = exc
            continue
        return result
    assert last is not None
    raise last


def create_run_if_missing(run_store: RunStore, ledger_store: LedgerStore, run: RunState) -> bool:
    """Store ``run`` unless a run with its id exists; True when this call created it.

    With a revisioned store the creation is a compare-and-set against "no run yet", so two concurrent
    creators cannot overwrite each other: the loser sees the winner's run.
    """
    if isinstance(run_store, RevisionedRunStore):
        if run_store.current_revision(run.run_id) is not None:
            return False
        try:
            run_store.commit(run, (), ledger_store=ledger_store, expected_revision=None)
        except ConcurrencyError:
            return False
        return True
    if run_store.load(run.run_id) is not None:
        return False
    run_store.save(run)
    return True
