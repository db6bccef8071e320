"""``Scheduler`` and ``SchedulerStats`` (SPEC §8.2): an in-process driver for waiting runs.

A poll cycle (:meth:`Scheduler.poll_once`, or the background thread every ``poll_interval_s``)
recovers stranded runs when ``recover_stranded`` is on, wakes every due WAIT_UNTIL run, and resumes every
parent whose SUBWORKFLOW child has ended (upstream 0.4.20 only handled timers); see ``_polling.py``.  Every run is handled on its own: a node that raises in one run is recorded
(``stats.runs_failed``, ``stats.errors``, ``on_run_failed``) and the cycle carries on; a tick or resume
that loses an optimistic-concurrency race (the host advanced the run meanwhile) is skipped and logged
at debug level.

Time comes from the injected clock (default ``runtime.clock``), so tests use
:class:`~abstractruntime.testing.FakeClock` and :meth:`Scheduler.poll_once` and never sleep for a
timer.  The thread itself waits in real time (``threading.Event.wait``) between cycles;
:meth:`Scheduler.wake` cuts that wait short.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from ..core.clock import Clock, to_iso
from ..core.models import RunState, RunStatus, WaitReason
from ..core.recovery import DEFAULT_MAX_RECOVERY_ATTEMPTS
from ..core.runtime import Runtime
from ..errors import ConcurrencyError, RunNotWaitingError, WaitKeyMismatchError
from ..storage.base import QueryableRunStore
from ._events import cancel_tree, deliver_event
from ._polling import (
    RESUME_MAX_STEPS,
    PollCycle,
    RunFailedCallback,
    RunResumedCallback,
    SchedulerStats,
    StatsBook,
    driving,
    waits_on,
)
from .registry import WorkflowRegistry

__all__ = ["SCHEDULER_THREAD_NAME", "Scheduler", "SchedulerStats"]

_log = logging.getLogger("abstractruntime.scheduler")

SCHEDULER_THREAD_NAME = "abstractruntime-scheduler"
_PARENT_LOOKUP_LIMIT = 1_000  # fallback scan of resume_subworkflow_parent (SPEC §8.2)


class Scheduler:
    """Wakes due WAIT_UNTIL runs and parents of finished children; delivers external events.

    Args:
        runtime: the runtime whose runs are driven; its ``run_store`` must be a
            :class:`~abstractruntime.storage.base.QueryableRunStore`.
        registry: where each run's ``workflow_id`` is looked up.
        poll_interval_s: seconds (real time) the thread waits between cycles; must be > 0.
        max_errors_kept: how many messages ``stats.errors`` keeps (the newest).
        on_run_resumed: ``callback(state)`` after the scheduler advanced a run.
        on_run_failed: ``callback(run_id, exc)`` when advancing a run raised.
        clock: the time source for due timers and stats (default ``runtime.clock``; give the
            runtime and the scheduler the same clock).
        batch_size: the ``limit`` of each ``list_due_wait_until`` query (a cycle repeats the query
            until every due timer is handled); must be >= 1.
        recover_stranded: also continue, each cycle, RUNNING runs whose driver died (no live lease;
            ``Runtime.recover_runs``; off by default, see ``docs/scheduler.md``).
        max_recovery_attempts: recoveries without progress before a stranded run is failed.

    Callback exceptions are logged, never raised.  With a lease store on the runtime, every run the
    scheduler advances is leased meanwhile; polled runs leased by another live driver are left alone.

    Raises:
        TypeError: ``runtime.run_store`` is not a QueryableRunStore, or ``recover_stranded`` without
            a lease store on the runtime.
        ValueError: ``poll_interval_s <= 0`` or ``batch_size < 1``.
    """

    def __init__(
        self,
        *,
        runtime: Runtime,
        registry: WorkflowRegistry,
        poll_interval_s: float = 1.0,
        max_errors_kept: int = 100,
        on_run_resumed: RunResumedCallback | None = None,
        on_run_failed: RunFailedCallback | None = None,
        clock: Clock | None = None,
        batch_size: int = 100,
        recover_stranded: bool = False,
        max_recovery_attempts: int = DEFAULT_MAX_RECOVERY_ATTEMPTS,
    ) -> None:
        store = runtime.run_store
        if not isinstance(store, QueryableRunStore):
            raise TypeError(
                f"Scheduler needs a QueryableRunStore (list_runs, list_due_wait_until, list_children); "
                f"got {type(store).__name__}"
            )
        if not poll_interval_s > 0:
            raise ValueError(f"poll_interval_s must be > 0, got {poll_interval_s!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if recover_stranded and runtime.leases is None:
            raise TypeError("recover_stranded needs a runtime with a lease store (Runtime(lease_store=...))")
        self._runtime = runtime
        self._store: QueryableRunStore = store
        self._registry = registry
        self._poll_interval_s = float(poll_interval_s)
        self._clock: Clock = clock if clock is not None else runtime.clock
        self._book = StatsBook(
            clock=self._clock,
            max_errors_kept=max_errors_kept,
            on_run_resumed=on_run_resumed,
            on_run_failed=on_run_failed,
        )
        self._cycle = PollCycle(
            runtime=runtime,
            store=store,
            registry=registry,
            book=self._book,
            batch_size=int(batch_size),
            max_recovery_attempts=int(max_recovery_attempts) if recover_stranded else None,
        )
        self._poll_lock = threading.RLock()  # one cycle at a time (thread and poll_once)
        self._lifecycle_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._wake_event = threading.Event()
        self._never = threading.Event()  # the "cancel" of a synchronous poll_once
        self._thread: threading.Thread | None = None

    # -- accessors ------------------------------------------------------------------------------
    @property
    def runtime(self) -> Runtime:
        """The runtime whose runs are driven."""
        return self._runtime

    @property
    def registry(self) -> WorkflowRegistry:
        """The workflow registry."""
        return self._registry

    @property
    def clock(self) -> Clock:
        """The clock due timers are measured against."""
        return self._clock

    @property
    def poll_interval_s(self) -> float:
        """Seconds between poll cycles of the thread."""
        return self._poll_interval_s

    @property
    def is_running(self) -> bool:
        """True while the polling thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def stats(self) -> SchedulerStats:
        """A snapshot of the counters (a copy: later cycles do not change it)."""
        return self._book.snapshot()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the daemon thread ``abstractruntime-scheduler``; it polls at once, then every
        ``poll_interval_s`` seconds.

        Raises:
            RuntimeError: the thread is already running (or still finishing after a timed-out stop).
        """
        with self._lifecycle_lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("Scheduler is already running")
            self._stop_event.clear()
            self._wake_event.clear()
            thread = threading.Thread(target=self._run_loop, name=SCHEDULER_THREAD_NAME, daemon=True)
            self._thread = thread
            thread.start()
        _log.debug("scheduler started (poll every %.3f s)", self._poll_interval_s)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait up to ``timeout`` seconds for it to end.

        A no-op when the scheduler is not running; calling it twice is fine.  The cycle in progress
        stops before its next run.  Called from a callback on the scheduler thread, it only asks the
        thread to stop.  If the thread is still busy after ``timeout`` (a long tick), a warning is
        logged and a later ``stop()`` waits again.
        """
        with self._lifecycle_lock:
            thread = self._thread
            if thread is None:
                return
            self._stop_event.set()
            self._wake_event.set()
        if thread is threading.current_thread():
            return
        thread.join(timeout)
        if thread.is_alive():
            _log.warning("scheduler thread still busy %.1f s after stop(); it ends after its run", timeout)
            return
        with self._lifecycle_lock:
            if self._thread is thread:
                self._thread = None
        _log.debug("scheduler stopped")

    def wake(self) -> None:
        """Make the thread start its next poll cycle now instead of after ``poll_interval_s``."""
        self._wake_event.set()

    def __enter__(self) -> Scheduler:
        """Start the thread unless it runs already; returns the scheduler."""
        if not self.is_running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the thread (``stop()`` with its default timeout)."""
        self.stop()

    def _run_loop(self) -> None:
        while not self._stop_event.is_set():
            self._wake_event.clear()
            with self._poll_lock:
                try:
                    self._poll_cycle(self._stop_event)
                except Exception as exc:  # noqa: BLE001 - the loop outlives any one failing cycle
                    self._book.error(f"poll cycle failed: {type(exc).__name__}: {exc}")
                    _log.exception("scheduler poll cycle failed")
            self._wake_event.wait(self._poll_interval_s)

    # -- the poll cycle -------------------------------------------------------------------------
    def poll_once(self) -> int:
        """Run one poll cycle now, on the calling thread (see the module docstring).

        Waits for a cycle the thread is running to end first.  A failing store query is recorded
        in ``stats.errors`` and logged, not raised.

        Returns:
            The number of runs advanced (due timers woken plus parents resumed).
        """
        with self._poll_lock:
            return self._poll_cycle(self._never)

    def _poll_cycle(self, cancel: threading.Event) -> int:
        return self._cycle.run(to_iso(self._clock.now()), cancel)

    # -- explicit operations -------------------------------------------------------------------
    def resume_event(self, *, run_id: str, wait_key: str | None, payload: Any) -> RunState:
        """Resume a waiting run with ``payload`` and tick it (up to 100 steps) (SPEC §8.2).

        Args:
            run_id: the waiting run.
            wait_key: its wait key (None skips the key check, as in ``Runtime.resume``).
            payload: stored at the wait's ``result_key``.

        Returns:
            The run's state after the resume and tick.

        Raises:
            RunNotFoundError (KeyError): unknown run.
            RunNotWaitingError (ValueError): the run is not WAITING or has no wait.
            WorkflowNotRegisteredError (KeyError): the run's workflow is not registered.
            RunPausedError, WaitKeyMismatchError (ValueError), ConcurrencyError: from ``Runtime.resume``.
        """
        run = self._runtime.get_state(run_id)
        if run.status != RunStatus.WAITING or run.waiting is None:
            raise RunNotWaitingError(run_id, status=RunStatus(run.status).value)
        spec = self._registry.get_or_raise(run.workflow_id)
        with driving(self._runtime, run_id):  # leased when free; the revision check decides anyway
            return self._runtime.resume(
                workflow=spec, run_id=run_id, wait_key=wait_key, payload=payload, max_steps=RESUME_MAX_STEPS
            )

    def emit_event(
        self,
        *,
        name: str,
        payload: Any,
        scope: str = "session",
        session_id: str | None = None,
        workflow_id: str | None = None,
        run_id: str | None = None,
        max_steps: int = 100,
        limit: int = 10000,
    ) -> list[RunState]:
        """Deliver an external event to the runs waiting on its exact key, and tick them (SPEC §8.2).

        The key is ``build_event_wait_key(scope, name, session_id, workflow_id, run_id)``
        (``evt:{scope}:{scope_id}:{name}``); wildcard listeners (``...:*``) are **not** matched and
        paused runs are skipped.  Each listener is resumed with its own key and the envelope
        ``{"event_id": None, "name", "scope", "session_id", "payload", "emitted_at",
        "emitter": {"source": "external"}}`` (a non-dict payload ``v`` becomes ``{"value": v}``), then
        ticked with ``max_steps``.  A listener that was resumed by another driver meanwhile is skipped;
        a listener whose tick raises is recorded like a poll-cycle failure (``stats``,
        ``on_run_failed``) and delivery goes on to the others.

        Args:
            name: the event name.
            payload: the event payload.
            scope: ``session`` (default), ``workflow``, ``run`` or ``global``.
            session_id, workflow_id, run_id: the scope id the scope needs.
            max_steps: steps each listener is ticked after the resume.
            limit: how many EVENT waits are examined (newest first).

        Returns:
            The listeners' states after their resume, in delivery order.

        Raises:
            InvalidEventKeyError (ValueError): blank name, unknown scope, or missing scope id.
            WorkflowNotRegisteredError (KeyError): a listener's workflow is not registered; delivery
                stops there (listeners already resumed stay resumed).
        """
        return deliver_event(
            runtime=self._runtime,
            store=self._store,
            registry=self._registry,
            book=self._book,
            envelope_at=to_iso(self._clock.now()),
            name=name,
            payload=payload,
            scope=scope,
            session_id=session_id,
            workflow_id=workflow_id,
            run_id=run_id,
            max_steps=max_steps,
            limit=limit,
        )

    def find_waiting_runs(
        self, *, wait_reason: WaitReason | None = None, workflow_id: str | None = None, limit: int = 100
    ) -> list[RunState]:
        """WAITING runs (optionally of one wait reason and workflow), newest ``updated_at`` first."""
        return self._store.list_runs(
            status=RunStatus.WAITING, wait_reason=wait_reason, workflow_id=workflow_id, limit=limit
        )

    def resume_subworkflow_parent(self, *, child_run_id: str, child_output: Any) -> RunState | None:
        """Resume the run waiting on child ``child_run_id`` with ``{"sub_run_id", "output"}`` (SPEC §8.2).

        The parent is found through the child's ``parent_run_id`` first, otherwise by scanning the
        1,000 newest SUBWORKFLOW waits for ``details.sub_run_id == child_run_id``.  Paused parents are
        not resumed.  The parent is resumed with its own wait key and ticked (up to 100 steps).

        While the scheduler thread runs, its poll cycle may resume the parent first (see the module
        docstring); this call then finds no waiting parent, or loses the race, and returns None.

        Returns:
            The parent's state after the resume, or None when no parent waits on the child (any more).

        Raises:
            WorkflowNotRegisteredError (KeyError): the parent's workflow is not registered.
            RunPausedError (ValueError): the parent was paused meanwhile.
        """
        parent = self._find_waiting_parent(child_run_id)
        if parent is None:
            return None
        spec = self._registry.get_or_raise(parent.workflow_id)
        try:
            with driving(self._runtime, parent.run_id):
                return self._runtime.resume(
                    workflow=spec,
                    run_id=parent.run_id,
                    wait_key=parent.waiting.wait_key if parent.waiting is not None else None,
                    payload={"sub_run_id": child_run_id, "output": child_output},
                    max_steps=RESUME_MAX_STEPS,
                )
        except (ConcurrencyError, RunNotWaitingError, WaitKeyMismatchError) as exc:
            _log.debug(
                "parent run %s of child %s was resumed by another driver (%s)",
                parent.run_id,
                child_run_id,
                exc,
            )
            return None

    def _find_waiting_parent(self, child_run_id: str) -> RunState | None:
        child = self._runtime.run_store.load(child_run_id)
        if child is not None and child.parent_run_id:
            parent = self._runtime.run_store.load(child.parent_run_id)
            if parent is not None and waits_on(parent, child_run_id):
                return parent
        candidates = self._store.list_runs(
            status=RunStatus.WAITING, wait_reason=WaitReason.SUBWORKFLOW, limit=_PARENT_LOOKUP_LIMIT
        )
        return next((p for p in candidates if waits_on(p, child_run_id)), None)

    def cancel_with_children(self, run_id: str, *, reason: str | None = None) -> list[RunState]:
        """Cancel ``run_id`` and, breadth-first, every RUNNING or WAITING descendant (SPEC §8.2).

        Unknown ids are skipped.  Each run is cancelled with ``Runtime.cancel_run(reason=reason)``.

        Returns:
            The runs that are CANCELLED afterwards, in the order they were visited (the root first).
        """
        return cancel_tree(self._runtime, self._store, run_id, reason=reason)
