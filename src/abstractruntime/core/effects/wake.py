"""Waking many waiting runs, with the wake commits batched when the store can (SPEC §4.11, §8.2).

Used by the one event-delivery path (:func:`~abstractruntime.core.effects.events.deliver_to_listeners`,
shared by the EMIT_EVENT handler and ``Scheduler.emit_event``) and by the scheduler's due timers.

A *wake* is the commit that ends a run's wait: a resume (envelope at ``result_key`` + ``resume``
record) or a ``tick(max_steps=0)`` that unblocks a due WAIT_UNTIL.  When the run store offers
``group_commit()`` — a context manager under which its step commits on this thread share one
transaction, each in its own savepoint (:class:`~abstractruntime.storage.sqlite.SqliteRunStore`) —
the wakes of up to ``batch_size`` runs are made inside one such block: one transaction per batch
instead of one per run.  A wake that raises (a revision conflict, a run resumed by another driver
meanwhile) is rolled back alone by its savepoint and reported; the others stay committed.

The steps after a wake (``max_steps`` > 0) are ticked afterwards, one run at a time and **outside**
the group: a host effect never runs while a batch holds the database's write lock, and each effect's
durable intent is committed before its handler runs, exactly as without batching.

Stores without ``group_commit`` (in-memory, JSON files, a decorator that does not forward it) wake each
run on its own with one call that also runs its steps — the behaviour before batching.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from ...errors import ConcurrencyError, ResumeError
from ..models import RunState, RunStatus

__all__ = ["WAKE_BATCH_SIZE", "WakeOutcome", "group_commit_of", "wake_runs"]

_log = logging.getLogger("abstractruntime.effects.wake")

WAKE_BATCH_SIZE = 200
"""Runs whose wakes share one transaction (bounds how long a batch holds the write lock)."""

Step = Callable[[RunState, int], RunState]
Guard = Callable[[str], AbstractContextManager[bool]]


@dataclass
class WakeOutcome:
    """What happened to one run given to :func:`wake_runs`.

    Attributes:
        run: the run as it was listed.
        status: ``"advanced"`` (woken; ``state`` is where it stands now), ``"conflict"`` (another
            driver changed, resumed or holds the run: nothing of this wake was stored), or ``"failed"``
            (``error`` was raised; a wake that failed was rolled back when batched).
        state: the run's state after the wake and its steps (``"advanced"`` only).
        error: the exception (``"conflict"`` and ``"failed"``; None for a lease held elsewhere).
        raced: True when the run was woken (committed) but its steps afterwards lost a revision race
            to another writer: ``state`` is the stored state, the run may be left RUNNING.
    """

    run: RunState
    status: Literal["advanced", "conflict", "failed"]
    state: RunState | None = None
    error: BaseException | None = None
    raced: bool = False


def group_commit_of(store: Any) -> Callable[[], AbstractContextManager[Any]] | None:
    """The store's ``group_commit`` (a zero-argument context-manager factory), or None."""
    group = getattr(store, "group_commit", None)
    return group if callable(group) else None


def wake_runs(
    runs: Sequence[RunState],
    *,
    store: Any,
    wake: Step,
    tick: Step,
    max_steps: int,
    guard: Guard | None = None,
    stop: Callable[[], bool] | None = None,
    batch_size: int = WAKE_BATCH_SIZE,
) -> list[WakeOutcome]:
    """Wake ``runs`` in order, then advance each by up to ``max_steps`` steps.

    Args:
        runs: the runs to wake (each at most once).
        store: the run store, probed for ``group_commit`` (see the module docstring).
        wake: ``wake(run, steps)`` commits the end of the wait and runs up to ``steps`` steps
            (``Runtime.resume``/``tick`` bound to the run's workflow and key); raises on failure.
        tick: ``tick(run, steps)`` advances an already woken run (``Runtime.tick``).
        max_steps: steps each run may take after its wake (0: wake only).
        guard: ``guard(run_id)`` is held around each run's wake and around its steps; it yields
            False when another driver holds the run, which is then skipped (``"conflict"``).
        stop: checked before each run; once it returns True no further run is woken.
        batch_size: runs per transaction when batching (>= 1).

    Returns:
        One :class:`WakeOutcome` per run handled, in order (runs after ``stop`` are left out).
    """
    group = group_commit_of(store)
    if group is None:
        return [_one(run, lambda r: wake(r, max_steps), guard) for run in _until_stopped(runs, stop)]
    outcomes: list[WakeOutcome] = []
    pending = list(_until_stopped(runs, stop))
    size = max(int(batch_size), 1)
    for start in range(0, len(pending), size):
        with group():
            outcomes.extend(_one(run, lambda r: wake(r, 0), guard) for run in pending[start : start + size])
    if max_steps > 0:
        for outcome in outcomes:
            _advance(outcome, store, tick, max_steps, guard)
    return outcomes


def _until_stopped(runs: Sequence[RunState], stop: Callable[[], bool] | None) -> Iterator[RunState]:
    for run in runs:
        if stop is not None and stop():
            return
        yield run


def _one(run: RunState, step: Callable[[RunState], RunState], guard: Guard | None) -> WakeOutcome:
    try:
        with guard(run.run_id) if guard is not None else contextlib.nullcontext(True) as mine:
            if not mine:
                _log.debug("run %s is held by another driver; not woken", run.run_id)
                return WakeOutcome(run, "conflict")
            return WakeOutcome(run, "advanced", step(run))
    except (ConcurrencyError, ResumeError) as exc:
        _log.debug("run %s was changed by another driver; not woken (%s)", run.run_id, exc)
        return WakeOutcome(run, "conflict", error=exc)
    except Exception as exc:  # noqa: BLE001 - one run's failure never stops the others
        return WakeOutcome(run, "failed", error=exc)


def _advance(outcome: WakeOutcome, store: Any, tick: Step, max_steps: int, guard: Guard | None) -> None:
    """Run the steps after a batched wake; a conflict here keeps the wake (it is committed)."""
    state = outcome.state
    if outcome.status != "advanced" or state is None or state.status != RunStatus.RUNNING:
        return
    try:
        with guard(state.run_id) if guard is not None else contextlib.nullcontext(True) as mine:
            if mine:
                outcome.state = tick(state, max_steps)
    except ConcurrencyError as exc:
        # Woken and committed: only the steps after it met another driver (as Runtime.resume does).
        _log.info("run %s: woken; another driver advanced it meanwhile (%s)", state.run_id, exc)
        outcome.state = store.load(state.run_id) or state
        outcome.raced = True
    except Exception as exc:  # noqa: BLE001 - reported like an unbatched wake whose steps raised
        outcome.status, outcome.state, outcome.error = "failed", None, exc
