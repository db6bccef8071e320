"""``create_scheduled_runtime`` and ``ScheduledRuntime`` (SPEC §8.3): a runtime with its scheduler.

Zero configuration::

    sr = create_scheduled_runtime()            # in-memory stores, scheduler thread started
    run_id, state = sr.run(flow)               # registers flow, starts and ticks it
    if state.status.value == "waiting":
        state = sr.respond(run_id, {"text": "yes"})   # finds the wait key itself
    sr.stop()

``ScheduledRuntime`` is also a context manager: ``with create_scheduled_runtime() as sr: ...`` stops the
thread on exit.

Registration rule of :meth:`ScheduledRuntime.run` / :meth:`ScheduledRuntime.start`: the workflow is
registered when its id is not registered yet.  When a *different* spec is already registered under the
same id, the registered one is kept (the registry is what later resumes and timers use) and a warning is
logged; the call itself starts and ticks the spec it was given.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ..core.clock import Clock
from ..core.models import RunState, RunStatus, WaitReason
from ..core.outcome import EffectHandler
from ..core.policy import EffectPolicy
from ..core.runtime import Runtime
from ..core.spec import WorkflowSpec
from ..errors import ResumeError, RunNotWaitingError, WorkflowAlreadyRegisteredError
from ..storage.base import LedgerStore, RunStore
from ..storage.in_memory import InMemoryLedgerStore, InMemoryRunStore
from ._polling import RunFailedCallback, RunResumedCallback
from .registry import WorkflowRegistry
from .scheduler import Scheduler, SchedulerStats

__all__ = ["ScheduledRuntime", "create_scheduled_runtime"]

_log = logging.getLogger("abstractruntime.scheduler")


def create_scheduled_runtime(
    *,
    run_store: RunStore | None = None,
    ledger_store: LedgerStore | None = None,
    artifact_store: Any = None,
    effect_policy: EffectPolicy | None = None,
    workflows: Iterable[WorkflowSpec] | None = None,
    effect_handlers: Mapping[Any, EffectHandler] | None = None,
    poll_interval_s: float = 1.0,
    auto_start: bool = True,
    on_run_resumed: RunResumedCallback | None = None,
    on_run_failed: RunFailedCallback | None = None,
    clock: Clock | None = None,
) -> ScheduledRuntime:
    """Build a registry, a :class:`Runtime` wired to it and a :class:`Scheduler` (SPEC §8.3).

    Args:
        run_store: default :class:`InMemoryRunStore`; must be queryable (every bundled store is).
        ledger_store: default :class:`InMemoryLedgerStore`.
        artifact_store: handed to the Runtime.
        effect_policy: handed to the Runtime (default ``DefaultEffectPolicy``).
        workflows: specs registered up front (needed after a restart to resume stored runs).
        effect_handlers: ``{EffectType: handler}`` over the built-in handlers.
        poll_interval_s: seconds between the scheduler's poll cycles.
        auto_start: start the scheduler thread now.
        on_run_resumed: ``callback(state)`` after the scheduler advanced a run.
        on_run_failed: ``callback(run_id, exc)`` when advancing a run raised.
        clock: time source of the Runtime and the Scheduler (default the system clock); pass a
            :class:`~abstractruntime.testing.FakeClock` in tests.

    Returns:
        The :class:`ScheduledRuntime` (its thread running when ``auto_start``).

    Raises:
        WorkflowAlreadyRegisteredError (ValueError): two ``workflows`` share an id.
        TypeError: ``run_store`` is not a QueryableRunStore.
    """
    registry = WorkflowRegistry(adopt_defined=True)
    for spec in workflows or ():
        registry.register(spec)
    runtime = Runtime(
        run_store=run_store if run_store is not None else InMemoryRunStore(),
        ledger_store=ledger_store if ledger_store is not None else InMemoryLedgerStore(),
        effect_handlers=effect_handlers,
        workflow_registry=registry,
        artifact_store=artifact_store,
        effect_policy=effect_policy,
        clock=clock,
    )
    scheduler = Scheduler(
        runtime=runtime,
        registry=registry,
        poll_interval_s=poll_interval_s,
        on_run_resumed=on_run_resumed,
        on_run_failed=on_run_failed,
    )
    if auto_start:
        scheduler.start()
    return ScheduledRuntime(runtime=runtime, scheduler=scheduler, registry=registry)


@dataclass
class ScheduledRuntime:
    """A :class:`Runtime`, its :class:`Scheduler` and their :class:`WorkflowRegistry` (SPEC §8.3).

    There is no ``resume`` method: use :meth:`respond` (finds the wait key) or :meth:`resume_event`.
    """

    runtime: Runtime
    scheduler: Scheduler
    registry: WorkflowRegistry

    # -- running workflows ------------------------------------------------------------------------
    def run(
        self,
        workflow: WorkflowSpec,
        *,
        vars: dict[str, Any] | None = None,
        actor_id: str | None = None,
        max_steps: int = 100,
    ) -> tuple[str, RunState]:
        """Register ``workflow`` if needed (see the module docstring), start it and tick it.

        Returns:
            ``(run_id, state)``: the state after up to ``max_steps`` steps.

        Raises:
            Whatever ``Runtime.start``/``Runtime.tick`` raise (a node handler's exception included).
        """
        self._ensure_registered(workflow)
        run_id = self.runtime.start(workflow=workflow, vars=vars, actor_id=actor_id)
        return run_id, self.runtime.tick(workflow=workflow, run_id=run_id, max_steps=max_steps)

    def start(
        self,
        *,
        workflow: WorkflowSpec,
        vars: dict[str, Any] | None = None,
        actor_id: str | None = None,
        budget: Mapping[str, Any] | None = None,
    ) -> str:
        """Register ``workflow`` if needed and create a RUNNING run; returns its id (not ticked).

        ``budget`` is the run budget (``Runtime.start``, docs/llm.md "Budgets")."""
        self._ensure_registered(workflow)
        return self.runtime.start(workflow=workflow, vars=vars, actor_id=actor_id, budget=budget)

    def tick(self, run_id: str, *, max_steps: int = 100) -> RunState:
        """Tick ``run_id`` with the spec registered for its workflow.

        Raises:
            RunNotFoundError (KeyError): unknown run.
            WorkflowNotRegisteredError (KeyError): its workflow is not registered.
        """
        spec = self.registry.get_or_raise(self.runtime.get_state(run_id).workflow_id)
        return self.runtime.tick(workflow=spec, run_id=run_id, max_steps=max_steps)

    def respond(self, run_id: str, payload: Any) -> RunState:
        """Answer the wait of ``run_id`` with ``payload``, using its stored wait key, and tick on.

        Returns:
            The run's state after the resume (ticked up to 100 steps).

        Raises:
            RunNotFoundError (KeyError): unknown run.
            RunNotWaitingError (ValueError): the run is not WAITING or has no wait.
            ResumeError (ValueError): the wait has no key (a WAIT_UNTIL timer: the scheduler ends it).
            WorkflowNotRegisteredError (KeyError): its workflow is not registered (after a restart,
                pass ``workflows=[...]`` to :func:`create_scheduled_runtime`).
        """
        state = self.runtime.get_state(run_id)
        if state.status != RunStatus.WAITING or state.waiting is None:
            raise RunNotWaitingError(run_id, status=RunStatus(state.status).value)
        wait_key = state.waiting.wait_key
        if wait_key is None:
            reason = WaitReason(state.waiting.reason).value
            raise ResumeError(f"Run {run_id} waits without a wait_key (reason '{reason}')", run_id=run_id)
        return self.scheduler.resume_event(run_id=run_id, wait_key=wait_key, payload=payload)

    def resume_event(self, *, run_id: str, wait_key: str | None, payload: Any) -> RunState:
        """:meth:`Scheduler.resume_event`."""
        return self.scheduler.resume_event(run_id=run_id, wait_key=wait_key, payload=payload)

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
        """:meth:`Scheduler.emit_event`: deliver an external event to its exact-key listeners."""
        return self.scheduler.emit_event(
            name=name,
            payload=payload,
            scope=scope,
            session_id=session_id,
            workflow_id=workflow_id,
            run_id=run_id,
            max_steps=max_steps,
            limit=limit,
        )

    def resume_subworkflow_parent(self, *, child_run_id: str, child_output: Any) -> RunState | None:
        """:meth:`Scheduler.resume_subworkflow_parent`."""
        return self.scheduler.resume_subworkflow_parent(child_run_id=child_run_id, child_output=child_output)

    def cancel_run(self, run_id: str, *, reason: str | None = None) -> RunState:
        """``Runtime.cancel_run`` (children are not cancelled)."""
        return self.runtime.cancel_run(run_id, reason=reason)

    def cancel_with_children(self, run_id: str, *, reason: str | None = None) -> list[RunState]:
        """:meth:`Scheduler.cancel_with_children`."""
        return self.scheduler.cancel_with_children(run_id, reason=reason)

    # -- queries --------------------------------------------------------------------------------
    def get_state(self, run_id: str) -> RunState:
        """``Runtime.get_state`` (KeyError for an unknown run)."""
        return self.runtime.get_state(run_id)

    def get_ledger(self, run_id: str) -> list[dict[str, Any]]:
        """``Runtime.get_ledger``."""
        return self.runtime.get_ledger(run_id)

    def find_waiting_runs(
        self, *, wait_reason: WaitReason | None = None, workflow_id: str | None = None, limit: int = 100
    ) -> list[RunState]:
        """:meth:`Scheduler.find_waiting_runs`."""
        return self.scheduler.find_waiting_runs(wait_reason=wait_reason, workflow_id=workflow_id, limit=limit)

    @property
    def stats(self) -> SchedulerStats:
        """A snapshot of the scheduler's counters."""
        return self.scheduler.stats

    # -- the scheduler thread ---------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        """True while the scheduler thread is alive."""
        return self.scheduler.is_running

    def start_scheduler(self) -> None:
        """Start the scheduler thread (RuntimeError when it runs already)."""
        self.scheduler.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the scheduler thread (idempotent; waits up to ``timeout`` seconds)."""
        self.scheduler.stop(timeout=timeout)

    def __enter__(self) -> ScheduledRuntime:
        """Start the scheduler thread unless it runs already."""
        if not self.scheduler.is_running:
            self.scheduler.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the scheduler thread."""
        self.scheduler.stop()

    def _ensure_registered(self, workflow: WorkflowSpec) -> None:
        try:
            self.registry.register(workflow)
        except WorkflowAlreadyRegisteredError:
            registered = self.registry.get(workflow.workflow_id)
            if registered is not None and registered is not workflow and registered != workflow:
                _log.warning(
                    "workflow '%s' is already registered with another spec; the registered spec "
                    "is kept for resumes and timers",
                    workflow.workflow_id,
                )
