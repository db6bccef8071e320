"""``Scheduler`` and ``SchedulerStats`` (SPEC §8.2): an in-process driver for waiting runs.

One poll cycle (:meth:`Scheduler.poll_once`, or the background thread every ``poll_interval_s``):

1. **Due timers.**  WAIT_UNTIL runs whose deadline is at or before the clock's "now" are ticked; the
   tick unblocks the wait and runs on.  The cycle drains every due timer: it repeats
   ``list_due_wait_until(now_iso=..., limit=batch_size)`` until a batch comes back short, with one
   ``now`` for the whole cycle.  A woken run leaves the due list (its wait is over, and any new
   WAIT_UNTIL it reaches is due after that ``now``); runs that stay due (paused, failed before they
   were unblocked, lost a race) are remembered, never ticked twice in a cycle, and widen the next
   query so they cannot starve the runs behind them.
2. **Finished children.**  WAITING runs with reason SUBWORKFLOW whose child (``details.sub_run_id``)
   has ended are resumed with their own wait key.  The payload is ``{"sub_run_id", "output":
   child.output}`` for a COMPLETED child (as :meth:`Scheduler.resume_subworkflow_parent` sends) and
   ``{"sub_run_id", "output": {"success": False, "error": child.error}}`` for a FAILED or CANCELLED
   one.  This goes beyond upstream 0.4.20, whose scheduler only handles timers.

Every run is handled on its own: a node that raises in one run is recorded (``stats.runs_failed``,
``stats.errors``, ``on_run_failed``) and the cycle carries on.  A tick or resume that loses an
optimistic-concurrency race (:class:`~abstractruntime.errors.ConcurrencyError`: the host advanced the
run meanwhile) is not a failure; it is skipped and logged at debug level.

Time comes from the injected clock (default ``runtime.clock``), so tests use
:class:`~abstractruntime.testing.FakeClock` and :meth:`Scheduler.poll_once` and never sleep for a
timer.  The thread itself waits in real time (``threading.Event.wait``) between cycles;
:meth:`Scheduler.wake` cuts that wait short.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from ..core.clock import Clock, to_iso
from ..core.effects.events import event_envelope
from ..core.engine.store_access import is_paused
from ..core.event_keys import build_event_wait_key, normalize_event_scope
from ..core.models import RunState, RunStatus, WaitReason
from ..core.runtime import Runtime
from ..errors import ConcurrencyError, ResumeError, RunNotWaitingError, WaitKeyMismatchError
from ..storage.base import QueryableRunStore
from .registry import WorkflowRegistry

__all__ = ["SCHEDULER_THREAD_NAME", "Scheduler", "SchedulerStats"]

_log = logging.getLogger("abstractruntime.scheduler")

SCHEDULER_THREAD_NAME = "abstractruntime-scheduler"
_RESUME_MAX_STEPS = 100
_PARENT_SCAN_LIMIT = 10_000  # SUBWORKFLOW waits examined per poll cycle (newest first)
_PARENT_LOOKUP_LIMIT = 1_000  # fallback scan of resume_subworkflow_parent (SPEC §8.2)
_ENDED_CHILD = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)

RunResumedCallback = Callable[[RunState], None]
RunFailedCallback = Callable[[str, BaseException], None]


@dataclass
class SchedulerStats:
    """Counters of a :class:`Scheduler` (SPEC §8.2).

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

    Callback exceptions are logged, never raised.

    Raises:
        TypeError: ``runtime.run_store`` is not a QueryableRunStore.
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
        self._runtime = runtime
        self._store: QueryableRunStore = store
        self._registry = registry
        self._poll_interval_s = float(poll_interval_s)
        self._max_errors_kept = max(int(max_errors_kept), 0)
        self._on_run_resumed = on_run_resumed
        self._on_run_failed = on_run_failed
        self._clock: Clock = clock if clock is not None else runtime.clock
        self._batch_size = int(batch_size)
        self._stats = SchedulerStats()
        self._stats_lock = threading.Lock()
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
        with self._stats_lock:
            return dataclasses.replace(self._stats, errors=list(self._stats.errors))

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
                    self._record_error(f"poll cycle failed: {type(exc).__name__}: {exc}")
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
        now_iso = to_iso(self._clock.now())
        with self._stats_lock:
            self._stats.poll_cycles += 1
            self._stats.last_poll_at = now_iso
        return self._wake_due_timers(now_iso, cancel) + self._resume_finished_parents(cancel)

    def _wake_due_timers(self, now_iso: str, cancel: threading.Event) -> int:
        handled: set[str] = set()
        woken = 0
        limit = self._batch_size
        while not cancel.is_set():
            try:
                batch = self._store.list_due_wait_until(now_iso=now_iso, limit=limit)
            except Exception as exc:  # noqa: BLE001 - recorded; the parent pass still runs, the next cycle retries
                self._record_error(f"due-timer query failed: {type(exc).__name__}: {exc}")
                _log.exception("scheduler: due-timer query failed")
                return woken
            stale = kept = 0
            for run in batch:
                if run.run_id in handled:
                    stale += 1  # handled this cycle and still due: never tick it twice
                    continue
                if cancel.is_set():
                    break
                handled.add(run.run_id)
                if self._wake_timer(run):
                    woken += 1
                else:
                    kept += 1
            if len(batch) < limit:
                return woken
            limit = self._batch_size + stale + kept
        return woken

    def _wake_timer(self, run: RunState) -> bool:
        if is_paused(run):
            return False
        try:
            spec = self._registry.get_or_raise(run.workflow_id)
            state = self._runtime.tick(workflow=spec, run_id=run.run_id)
        except ConcurrencyError as exc:
            _log.debug("scheduler: run %s was advanced by another driver; skipped (%s)", run.run_id, exc)
            return False
        except Exception as exc:  # noqa: BLE001 - one run's failure is recorded, never stops the cycle
            self._record_failure(run.run_id, exc)
            return False
        self._record_resumed(state)
        return True

    def _resume_finished_parents(self, cancel: threading.Event) -> int:
        try:
            parents = self._store.list_runs(
                status=RunStatus.WAITING, wait_reason=WaitReason.SUBWORKFLOW, limit=_PARENT_SCAN_LIMIT
            )
        except Exception as exc:  # noqa: BLE001 - recorded; the next cycle retries
            self._record_error(f"subworkflow-parent query failed: {type(exc).__name__}: {exc}")
            _log.exception("scheduler: subworkflow-parent query failed")
            return 0
        resumed = 0
        for parent in parents:
            if cancel.is_set():
                break
            child_id = _waited_child_id(parent)
            if child_id is None or is_paused(parent):
                continue
            try:
                child = self._runtime.run_store.load(child_id)
            except Exception as exc:  # noqa: BLE001 - one unreadable child must not stop the other parents
                self._record_error(f"child run {child_id} of run {parent.run_id} unreadable: {exc}")
                _log.warning("scheduler: child run %s of run %s unreadable: %s", child_id, parent.run_id, exc)
                continue
            if child is None:
                _log.debug("scheduler: run %s waits on unknown child run %s", parent.run_id, child_id)
                continue
            payload = finished_child_payload(child)
            if payload is not None and self._resume_parent(parent, payload):
                resumed += 1
        return resumed

    def _resume_parent(self, parent: RunState, payload: dict[str, Any]) -> bool:
        wait_key = parent.waiting.wait_key if parent.waiting is not None else None
        try:
            spec = self._registry.get_or_raise(parent.workflow_id)
            state = self._runtime.resume(
                workflow=spec,
                run_id=parent.run_id,
                wait_key=wait_key,
                payload=payload,
                max_steps=_RESUME_MAX_STEPS,
            )
        except (ConcurrencyError, ResumeError) as exc:
            _log.debug(
                "scheduler: parent run %s was resumed by another driver; skipped (%s)", parent.run_id, exc
            )
            return False
        except Exception as exc:  # noqa: BLE001 - one run's failure is recorded, never stops the cycle
            self._record_failure(parent.run_id, exc)
            return False
        self._record_resumed(state)
        return True

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
        return self._runtime.resume(
            workflow=spec, run_id=run_id, wait_key=wait_key, payload=payload, max_steps=_RESUME_MAX_STEPS
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
        wait_key = build_event_wait_key(
            scope=scope, name=name, session_id=session_id, workflow_id=workflow_id, run_id=run_id
        )
        candidates = self._store.list_runs(
            status=RunStatus.WAITING, wait_reason=WaitReason.EVENT, limit=limit
        )
        listeners = [
            c
            for c in candidates
            if c.waiting is not None and c.waiting.wait_key == wait_key and not is_paused(c)
        ]
        envelope = event_envelope(
            event_id=None,
            name=str(name).strip(),
            scope=normalize_event_scope(scope),
            session_id=session_id,
            payload=payload,
            emitted_at=to_iso(self._clock.now()),
            emitter={"source": "external"},
        )
        delivered: list[RunState] = []
        for listener in listeners:
            spec = self._registry.get_or_raise(listener.workflow_id)
            try:
                state = self._runtime.resume(
                    workflow=spec,
                    run_id=listener.run_id,
                    wait_key=wait_key,
                    payload=envelope,
                    max_steps=max_steps,
                )
            except (ConcurrencyError, ResumeError) as exc:
                _log.debug(
                    "scheduler: listener %s was resumed by another driver; skipped (%s)", listener.run_id, exc
                )
                continue
            except Exception as exc:  # noqa: BLE001 - one listener's failure never stops delivery to the others
                self._record_failure(listener.run_id, exc)
                continue
            self._record_resumed(state)
            delivered.append(state)
        return delivered

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
            return self._runtime.resume(
                workflow=spec,
                run_id=parent.run_id,
                wait_key=parent.waiting.wait_key if parent.waiting is not None else None,
                payload={"sub_run_id": child_run_id, "output": child_output},
                max_steps=_RESUME_MAX_STEPS,
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
            if parent is not None and _waits_on(parent, child_run_id):
                return parent
        candidates = self._store.list_runs(
            status=RunStatus.WAITING, wait_reason=WaitReason.SUBWORKFLOW, limit=_PARENT_LOOKUP_LIMIT
        )
        return next((p for p in candidates if _waits_on(p, child_run_id)), None)

    def cancel_with_children(self, run_id: str, *, reason: str | None = None) -> list[RunState]:
        """Cancel ``run_id`` and, breadth-first, every RUNNING or WAITING descendant (SPEC §8.2).

        Unknown ids are skipped.  Each run is cancelled with ``Runtime.cancel_run(reason=reason)``.

        Returns:
            The runs that are CANCELLED afterwards, in the order they were visited (the root first).
        """
        cancelled: list[RunState] = []
        queue: deque[str] = deque([run_id])
        seen: set[str] = set()
        while queue:
            current = queue.popleft()
            if current in seen:
                continue
            seen.add(current)
            try:
                state = self._runtime.cancel_run(current, reason=reason)
            except KeyError:
                _log.debug("cancel_with_children: unknown run %s skipped", current)
                continue
            if state.status == RunStatus.CANCELLED:
                cancelled.append(state)
            for child in self._store.list_children(parent_run_id=current):
                if child.status in (RunStatus.RUNNING, RunStatus.WAITING):
                    queue.append(child.run_id)
        return cancelled

    # -- bookkeeping ----------------------------------------------------------------------------
    def _record_resumed(self, state: RunState) -> None:
        with self._stats_lock:
            self._stats.runs_resumed += 1
        callback = self._on_run_resumed
        if callback is None:
            return
        try:
            callback(state)
        except Exception:  # noqa: BLE001 - a host callback must not break the scheduler
            _log.exception("scheduler: on_run_resumed callback raised for run %s", state.run_id)

    def _record_failure(self, run_id: str, exc: BaseException) -> None:
        with self._stats_lock:
            self._stats.runs_failed += 1
        self._record_error(f"run {run_id} failed: {type(exc).__name__}: {exc}")
        _log.warning("scheduler: run %s failed: %s: %s", run_id, type(exc).__name__, exc)
        callback = self._on_run_failed
        if callback is None:
            return
        try:
            callback(run_id, exc)
        except Exception:  # noqa: BLE001 - a host callback must not break the scheduler
            _log.exception("scheduler: on_run_failed callback raised for run %s", run_id)

    def _record_error(self, message: str) -> None:
        try:
            stamp = to_iso(self._clock.now())
        except Exception:  # noqa: BLE001 - a broken clock must not hide the error being recorded
            stamp = "unknown-time"
        with self._stats_lock:
            errors = self._stats.errors
            errors.append(f"{stamp}: {message}")
            if len(errors) > self._max_errors_kept:
                del errors[: len(errors) - self._max_errors_kept]


def finished_child_payload(child: RunState) -> dict[str, Any] | None:
    """The payload that resumes the parent of an ended child, or None while the child has not ended.

    Returns:
        COMPLETED: ``{"sub_run_id": id, "output": child.output}``; FAILED or CANCELLED:
        ``{"sub_run_id": id, "output": {"success": False, "error": child.error}}``.
    """
    if child.status not in _ENDED_CHILD:
        return None
    if child.status == RunStatus.COMPLETED:
        return {"sub_run_id": child.run_id, "output": child.output}
    return {"sub_run_id": child.run_id, "output": {"success": False, "error": child.error}}


def _waited_child_id(run: RunState) -> str | None:
    wait = run.waiting
    if run.status != RunStatus.WAITING or wait is None or wait.reason != WaitReason.SUBWORKFLOW:
        return None
    child_id = (wait.details or {}).get("sub_run_id")
    return child_id if isinstance(child_id, str) and child_id else None


def _waits_on(run: RunState, child_run_id: str) -> bool:
    return _waited_child_id(run) == child_run_id and not is_paused(run)
