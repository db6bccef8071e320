"""Due-timer pass of the scheduler's poll cycle (private; see ``_polling.py`` and SPEC §8.2).

``list_due_wait_until(now_iso=now, limit=batch_size)`` is repeated until a batch comes back short, and
every due run that is not paused is ticked: the tick ends the UNTIL wait.  A woken run leaves the due
list; runs that stay due (paused, failed before the wait ended, lost a race) are remembered, never
ticked twice in a cycle, and widen the next query by their number so they cannot starve the runs
behind them.

Batching (``core.effects.wake``): on a store with ``group_commit()`` (SQLite) the ticks that end the
waits of one batch share one transaction, each run in its own savepoint, and each run's following
steps are ticked afterwards, one run at a time, outside it.  A run whose wait was ended but whose
steps then lost a revision race to another writer is RUNNING, not due any more: it is remembered and
ticked again at the start of the next cycle (without batching the whole tick was undone and the run
stayed due, with the same effect).  Stores without ``group_commit`` tick each run once, as a whole.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ..core.effects.wake import WakeOutcome, wake_runs
from ..core.engine.store_access import is_paused
from ..core.models import RunState, RunStatus
from ..core.runtime import Runtime
from ..storage.base import QueryableRunStore
from .registry import WorkflowRegistry

if TYPE_CHECKING:
    from ._polling import StatsBook

__all__ = ["TIMER_MAX_STEPS", "TimerWaker"]

_log = logging.getLogger("abstractruntime.scheduler")

TIMER_MAX_STEPS = 100
"""Steps a woken timer run takes in the cycle (``Runtime.tick``'s default)."""


class TimerWaker:
    """Wakes due WAIT_UNTIL runs for :class:`~abstractruntime.scheduler._polling.PollCycle`.

    Args:
        runtime: ticks the runs.
        store: the runtime's run store (due-timer queries; probed for ``group_commit``).
        registry: where each run's workflow is looked up.
        book: counts and reports what happens.
        batch_size: the ``limit`` of each due-timer query (>= 1), and the runs per wake transaction.
        guard: ``guard(run_id)`` holds the run's lease; yields False when another driver holds it.
    """

    def __init__(
        self,
        runtime: Runtime,
        store: QueryableRunStore,
        *,
        guard: Callable[[str], AbstractContextManager[bool]],
        registry: WorkflowRegistry,
        book: StatsBook,
        batch_size: int,
    ) -> None:
        self._runtime = runtime
        self._store = store
        self._registry = registry
        self._book = book
        self._batch_size = batch_size
        self._guard = guard
        self._raced: set[str] = set()  # woken runs whose steps lost a race (retried next cycle)

    def wake_due(self, now_iso: str, cancel: threading.Event) -> int:
        """Wake every due timer at ``now_iso`` (retrying last cycle's raced runs first); returns how
        many runs were advanced.  Stops before the next run once ``cancel`` is set."""
        handled: set[str] = set()
        woken = self._retick_raced(cancel)
        limit = self._batch_size
        while not cancel.is_set():
            try:
                batch = self._store.list_due_wait_until(now_iso=now_iso, limit=limit)
            except Exception as exc:  # noqa: BLE001 - recorded; the parent pass still runs, the next cycle retries
                self._book.error(f"due-timer query failed: {type(exc).__name__}: {exc}")
                _log.exception("scheduler: due-timer query failed")
                return woken
            stale = kept = 0
            fresh: list[RunState] = []
            for run in batch:
                if run.run_id in handled:
                    stale += 1  # handled this cycle and still due: never tick it twice
                    continue
                handled.add(run.run_id)
                if is_paused(run):
                    kept += 1
                else:
                    fresh.append(run)
            for outcome in self._wake_timers(fresh, cancel):
                if outcome.raced:
                    self._remember_raced(outcome.run.run_id)
                elif outcome.status == "advanced" and outcome.state is not None:
                    woken += 1
                    self._book.resumed(outcome.state)
                    continue
                kept += 1
                if outcome.status == "failed" and outcome.error is not None:
                    self._book.failed(outcome.run.run_id, outcome.error)
                elif outcome.error is not None:  # a conflict: the tick changed nothing, still due
                    _log.debug(
                        "scheduler: run %s was advanced by another driver; skipped (%s)",
                        outcome.run.run_id,
                        outcome.error,
                    )
            if len(batch) < limit:
                return woken
            limit = self._batch_size + stale + kept
        return woken

    def _remember_raced(self, run_id: str) -> None:
        """A run whose wait this cycle ended but whose steps lost a race: tick it again next cycle
        (before batching, the whole tick was rolled back and the run stayed due)."""
        _log.debug("scheduler: run %s was advanced by another driver; skipped (woken, retried)", run_id)
        self._raced.add(run_id)

    def _retick_raced(self, cancel: threading.Event) -> int:
        """Tick the woken runs whose steps lost a race last cycle and are still RUNNING."""
        advanced = 0
        for run_id in sorted(self._raced):
            if cancel.is_set():
                break
            self._raced.discard(run_id)
            run = self._runtime.run_store.load(run_id)
            if run is None or run.status != RunStatus.RUNNING or is_paused(run):
                continue
            (outcome,) = wake_runs(
                [run],
                store=None,  # one run, its steps in one call: nothing to batch
                wake=self._tick,
                tick=self._tick,
                max_steps=TIMER_MAX_STEPS,
                guard=self._guard,
            )
            if outcome.status == "advanced" and outcome.state is not None:
                advanced += 1
                self._book.resumed(outcome.state)
            elif outcome.status == "failed" and outcome.error is not None:
                self._book.failed(run_id, outcome.error)
            else:
                self._raced.add(run_id)  # raced again: the next cycle retries
        return advanced

    def _tick(self, run: RunState, steps: int) -> RunState:
        spec = self._registry.get_or_raise(run.workflow_id)
        return self._runtime.tick(workflow=spec, run_id=run.run_id, max_steps=steps)

    def _wake_timers(self, runs: list[RunState], cancel: threading.Event) -> list[WakeOutcome]:
        """Tick each due run: on a store with ``group_commit()`` the unblocking commits share one
        transaction per batch and the steps follow run by run (``core.effects.wake``)."""
        return wake_runs(
            runs,
            store=self._store,
            wake=self._tick,
            tick=self._tick,
            max_steps=TIMER_MAX_STEPS,
            guard=self._guard,
            stop=cancel.is_set,
            batch_size=self._batch_size,
        )
