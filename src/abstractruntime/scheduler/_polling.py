"""The scheduler's poll cycle and bookkeeping (private; see :mod:`abstractruntime.scheduler.scheduler`).

One cycle, at one ``now`` (the scheduler clock's, UTC ISO-8601):

1. **Due timers.**  ``list_due_wait_until(now_iso=now, limit=batch_size)`` is repeated until a batch
   comes back short, and every due run that is not paused is ticked (the tick ends the UNTIL wait).
   On a store with ``group_commit()`` (SQLite) the ticks that end the waits of a batch share one
   transaction and each run's following steps are ticked after it, one run at a time; see
   ``_timers.py``.  Elsewhere each run is ticked once, as a whole.
   A woken run leaves the due list: its wait is over, and a new WAIT_UNTIL it reaches is due after
   ``now`` (one due at or before it completes at once).  Runs that stay due (paused, failed before the
   wait ended, lost a race) are remembered, never ticked twice in a cycle, and widen the next query by
   their number so they cannot starve the runs behind them.
2. **Finished children.**  Each WAITING run with reason SUBWORKFLOW (the 10,000 most recently updated)
   whose child ``details.sub_run_id`` has ended is resumed with its own wait key and ticked: a COMPLETED
   child gives ``{"sub_run_id", "output": child.output}``, a FAILED or CANCELLED one
   ``{"sub_run_id", "output": {"success": False, "error": child.error}}``.  Paused parents are skipped.

0. **Stranded runs** first (only with ``recover_stranded``): ``Runtime.recover_runs`` continues RUNNING
   runs whose driver died (no live lease; see ``core/recovery.py``), so a child it finishes has its
   parent resumed in the same cycle.  Recovered runs count as advanced; a run recovery gave up on, or
   could not continue, counts as failed.

Each run is handled on its own: an exception while advancing it is recorded (``runs_failed``, ``errors``,
``on_run_failed``) and the cycle goes on; a :class:`~abstractruntime.errors.ConcurrencyError` or a
resume refused because another driver got there first is skipped and logged at debug level.

Leases: when the runtime has a lease store, every tick and resume of the cycle holds the run's lease
(``driving``); a run whose lease another live driver holds is left to that driver.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..core.clock import Clock, to_iso
from ..core.engine.store_access import is_paused
from ..core.models import RunState, RunStatus, WaitReason
from ..core.runtime import Runtime
from ..errors import ConcurrencyError, ResumeError
from ..storage.base import QueryableRunStore
from ._timers import TimerWaker
from .registry import WorkflowRegistry

__all__ = [
    "RESUME_MAX_STEPS",
    "PollCycle",
    "RunFailedCallback",
    "RunResumedCallback",
    "SchedulerStats",
    "StatsBook",
    "driving",
    "finished_child_payload",
    "waits_on",
]

_log = logging.getLogger("abstractruntime.scheduler")

RESUME_MAX_STEPS = 100
_PARENT_SCAN_LIMIT = 10_000  # SUBWORKFLOW waits examined per poll cycle (newest first)
_ENDED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)

RunResumedCallback = Callable[[RunState], None]
RunFailedCallback = Callable[[str, BaseException], None]


@dataclass
class SchedulerStats:
    """Counters of a :class:`~abstractruntime.scheduler.Scheduler` (SPEC §8.2).

    Attributes:
        runs_resumed: runs the scheduler advanced on its own (due timers, parents of finished
            children, ``emit_event`` listeners).
        runs_failed: those advances that raised (the run is left as the runtime left it).
        poll_cycles: poll cycles started.
        last_poll_at: the clock's time at the start of the last cycle (UTC ISO-8601), or None.
        errors: the last ``max_errors_kept`` messages, each ``"<iso>: <msg>"``.
    """

    runs_resumed: int = 0
    runs_failed: int = 0
    poll_cycles: int = 0
    last_poll_at: str | None = None
    errors: list[str] = field(default_factory=list)


class StatsBook:
    """Thread-safe :class:`SchedulerStats` plus the host callbacks.

    Args:
        clock: stamps the error messages.
        max_errors_kept: how many error messages are kept (the newest).
        on_run_resumed: ``callback(state)``; exceptions are logged, never raised.
        on_run_failed: ``callback(run_id, exc)``; exceptions are logged, never raised.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        max_errors_kept: int,
        on_run_resumed: RunResumedCallback | None,
        on_run_failed: RunFailedCallback | None,
    ) -> None:
        self._clock = clock
        self._max_errors_kept = max(int(max_errors_kept), 0)
        self._on_run_resumed = on_run_resumed
        self._on_run_failed = on_run_failed
        self._stats = SchedulerStats()
        self._lock = threading.Lock()

    def snapshot(self) -> SchedulerStats:
        """A copy of the counters."""
        with self._lock:
            return dataclasses.replace(self._stats, errors=list(self._stats.errors))

    def cycle_started(self, now_iso: str) -> None:
        """Count a poll cycle that starts at ``now_iso``."""
        with self._lock:
            self._stats.poll_cycles += 1
            self._stats.last_poll_at = now_iso

    def resumed(self, state: RunState) -> None:
        """Count a run the scheduler advanced and call ``on_run_resumed(state)``."""
        with self._lock:
            self._stats.runs_resumed += 1
        callback = self._on_run_resumed
        if callback is None:
            return
        try:
            callback(state)
        except Exception:  # noqa: BLE001 - a host callback must not break the scheduler
            _log.exception("scheduler: on_run_resumed callback raised for run %s", state.run_id)

    def failed(self, run_id: str, exc: BaseException) -> None:
        """Count a failed advance, record its message and call ``on_run_failed(run_id, exc)``."""
        with self._lock:
            self._stats.runs_failed += 1
        self.error(f"run {run_id} failed: {type(exc).__name__}: {exc}")
        _log.warning("scheduler: run %s failed: %s: %s", run_id, type(exc).__name__, exc)
        callback = self._on_run_failed
        if callback is None:
            return
        try:
            callback(run_id, exc)
        except Exception:  # noqa: BLE001 - a host callback must not break the scheduler
            _log.exception("scheduler: on_run_failed callback raised for run %s", run_id)

    def error(self, message: str) -> None:
        """Keep ``"<iso>: <message>"`` among the last ``max_errors_kept`` errors."""
        try:
            stamp = to_iso(self._clock.now())
        except Exception:  # noqa: BLE001 - a broken clock must not hide the error being recorded
            stamp = "unknown-time"
        with self._lock:
            errors = self._stats.errors
            errors.append(f"{stamp}: {message}")
            if len(errors) > self._max_errors_kept:
                del errors[: len(errors) - self._max_errors_kept]


@contextmanager
def driving(runtime: Runtime, run_id: str) -> Iterator[bool]:
    """Hold ``run_id``'s lease for the block when the runtime has a lease store.

    Yields True when the caller may drive the run (lease held, or no lease store), False when
    another live driver holds it.
    """
    keeper = runtime.leases
    if keeper is None:
        yield True
        return
    with keeper.holding(run_id) as lease:
        yield lease is not None


class PollCycle:
    """Runs the two passes of a poll cycle (see the module docstring).

    Args:
        runtime: ticks and resumes the runs.
        store: the runtime's run store, as a QueryableRunStore.
        registry: where each run's workflow is looked up.
        book: counts and reports what happens.
        batch_size: the ``limit`` of each due-timer query (>= 1).
        max_recovery_attempts: None, or recover stranded runs each cycle with this attempt limit.
    """

    def __init__(
        self,
        *,
        runtime: Runtime,
        store: QueryableRunStore,
        registry: WorkflowRegistry,
        book: StatsBook,
        batch_size: int,
        max_recovery_attempts: int | None = None,
    ) -> None:
        self._runtime, self._store, self._registry, self._book = runtime, store, registry, book
        self._max_recovery_attempts = max_recovery_attempts
        self._timers = TimerWaker(
            runtime,
            store,
            registry=registry,
            book=book,
            batch_size=batch_size,
            guard=lambda run_id: driving(runtime, run_id),
        )

    def run(self, now_iso: str, cancel: threading.Event) -> int:
        """One cycle at ``now_iso``; stops before the next run once ``cancel`` is set.

        Returns:
            The number of runs advanced (due timers woken, parents resumed, stranded runs recovered).
        """
        self._book.cycle_started(now_iso)
        advanced = 0
        if self._max_recovery_attempts is not None:
            advanced += self._recover_stranded()
        return advanced + self._timers.wake_due(now_iso, cancel) + self._resume_finished_parents(cancel)

    def _resume_finished_parents(self, cancel: threading.Event) -> int:
        try:
            parents = self._store.list_runs(
                status=RunStatus.WAITING, wait_reason=WaitReason.SUBWORKFLOW, limit=_PARENT_SCAN_LIMIT
            )
        except Exception as exc:  # noqa: BLE001 - recorded; the next cycle retries
            self._book.error(f"subworkflow-parent query failed: {type(exc).__name__}: {exc}")
            _log.exception("scheduler: subworkflow-parent query failed")
            return 0
        resumed = 0
        for parent in parents:
            if cancel.is_set():
                break
            child_id = waited_child_id(parent)
            if child_id is None or is_paused(parent):
                continue
            try:
                child = self._runtime.run_store.load(child_id)
            except Exception as exc:  # noqa: BLE001 - one unreadable child must not stop the other parents
                self._book.error(f"child run {child_id} of run {parent.run_id} unreadable: {exc}")
                _log.warning("scheduler: child run %s of run %s unreadable: %s", child_id, parent.run_id, exc)
                continue
            if child is None:
                _log.debug("scheduler: run %s waits on unknown child run %s", parent.run_id, child_id)
                continue
            payload = finished_child_payload(child)
            if payload is not None and self.resume_parent(parent, payload):
                resumed += 1
        return resumed

    def resume_parent(self, parent: RunState, payload: dict[str, Any]) -> bool:
        """Resume ``parent`` with ``payload`` on its own wait key; True when it was advanced."""
        wait_key = parent.waiting.wait_key if parent.waiting is not None else None
        try:
            spec = self._registry.get_or_raise(parent.workflow_id)
            with driving(self._runtime, parent.run_id) as mine:
                if not mine:
                    _log.debug("scheduler: parent run %s is leased by another driver", parent.run_id)
                    return False
                state = self._runtime.resume(
                    workflow=spec,
                    run_id=parent.run_id,
                    wait_key=wait_key,
                    payload=payload,
                    max_steps=RESUME_MAX_STEPS,
                )
        except (ConcurrencyError, ResumeError) as exc:
            _log.debug(
                "scheduler: parent run %s was resumed by another driver; skipped (%s)", parent.run_id, exc
            )
            return False
        except Exception as exc:  # noqa: BLE001 - one run's failure is recorded, never stops the cycle
            self._book.failed(parent.run_id, exc)
            return False
        self._book.resumed(state)
        return True

    def _recover_stranded(self) -> int:
        """Pass 3: continue stranded RUNNING runs; returns how many were advanced."""
        assert self._max_recovery_attempts is not None
        try:
            outcomes = self._runtime.recover_runs(
                workflows=self._registry.get, max_attempts=self._max_recovery_attempts
            )
        except Exception as exc:  # noqa: BLE001 - recorded; the next cycle retries
            self._book.error(f"recovery pass failed: {type(exc).__name__}: {exc}")
            _log.exception("scheduler: recovery pass failed")
            return 0
        recovered = 0
        for outcome in outcomes:
            if outcome.action == "recovered" and outcome.state is not None:
                recovered += 1
                self._book.resumed(outcome.state)
            elif outcome.action in ("failed", "error"):
                self._book.failed(outcome.run_id, RecoveryFailure(outcome.detail))
        return recovered


class RecoveryFailure(RuntimeError):
    """What ``on_run_failed`` receives for a stranded run that recovery could not continue."""


def finished_child_payload(child: RunState) -> dict[str, Any] | None:
    """The payload that resumes the parent of an ended child, or None while the child has not ended.

    Returns:
        COMPLETED: ``{"sub_run_id": id, "output": child.output}``; FAILED or CANCELLED:
        ``{"sub_run_id": id, "output": {"success": False, "error": child.error}}``.
    """
    if child.status not in _ENDED:
        return None
    if child.status == RunStatus.COMPLETED:
        return {"sub_run_id": child.run_id, "output": child.output}
    return {"sub_run_id": child.run_id, "output": {"success": False, "error": child.error}}


def waited_child_id(run: RunState) -> str | None:
    """The ``details.sub_run_id`` a WAITING+SUBWORKFLOW run waits on, or None."""
    wait = run.waiting
    if run.status != RunStatus.WAITING or wait is None or wait.reason != WaitReason.SUBWORKFLOW:
        return None
    child_id = (wait.details or {}).get("sub_run_id")
    return child_id if isinstance(child_id, str) and child_id else None


def waits_on(run: RunState, child_run_id: str) -> bool:
    """True when ``run`` is an unpaused parent waiting on ``child_run_id``."""
    return waited_child_id(run) == child_run_id and not is_paused(run)
