"""Crash recovery: continue RUNNING runs whose driver died (``Runtime.recover_runs`` / ``recover_run``).

A run is *stranded* when it is RUNNING, not paused, and no live lease covers it: its lease lapsed
(the driver was killed) or was released (the driver stopped, Ctrl-C included).  A RUNNING run with no
lease row at all is left alone for ``stale_after_s`` seconds after its last update (a driver that
just started it has not taken the lease yet; a host driving without leases is still at it), and while
its parent run's lease is live (the parent's driver ticks it inline).

Recovering a run takes its lease (a compare-and-set: a live driver's run is never taken over), then
ticks it from its last commit until it waits, ends or ``max_steps`` steps were taken.  Effects whose
STARTED intent record has no completion run again (at-least-once), except TOOL_CALLS batches: those
are *in doubt* and only idempotent tools run again, the other calls wait for an approval
(``docs/llm.md``, "In-doubt calls"); effects with a COMPLETED record are reused through their
idempotency key, never executed again.

Attempts are counted in the lease row: each recovery that finds the run where the previous one left
it (same revision: no step committed in between) counts one more.  A node that keeps raising, or keeps
killing its driver, fails the run once ``max_attempts`` recoveries made no progress, with the error
``Recovery gave up after N attempts at node '<id>': ...`` and a FAILED ledger record.  After an attempt
whose node raised, the lease is left to lapse instead of being released, so the next attempt comes
one lease TTL later (time to fix the code), not at the next poll.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import CapabilityError, ConcurrencyError
from .clock import parse_iso
from .engine.control import RunControl
from .engine.store_access import is_paused
from .leases import LeaseKeeper
from .logs import LazyLogger
from .models import RunState, RunStatus
from .ports import QueryableRunStore, RevisionedRunStore
from .spec import WorkflowSpec

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["DEFAULT_MAX_RECOVERY_ATTEMPTS", "RecoveryOutcome", "RunRecovery"]

_log = LazyLogger("abstractruntime.recovery")

DEFAULT_MAX_RECOVERY_ATTEMPTS = 3
"""Recoveries without progress after which a stranded run is failed."""

DEFAULT_RECOVERY_MAX_STEPS = 10_000
"""Steps one recovery takes at most before it lets the run go (it stays RUNNING, recoverable)."""

_TICK_STEPS = 100
_ANCESTORS_CHECKED = 8

WorkflowLookup = Callable[[str], "WorkflowSpec | None"]


@dataclass(frozen=True)
class RecoveryOutcome:
    """What recovery did with one run.

    Attributes:
        run_id: the run.
        action: ``recovered`` (advanced; see ``state``), ``failed`` (recovery gave up and failed the
            run), ``skipped`` (not stranded, or its workflow is unknown here: see ``detail``) or
            ``error`` (this attempt raised; the run stays RUNNING and a later recovery tries again).
        detail: a one-line explanation.
        state: the run's state afterwards, when it was touched.
        attempt: the attempt number counted in the lease row (0 when not attempted).
    """

    run_id: str
    action: str
    detail: str
    state: RunState | None = None
    attempt: int = 0


class RunRecovery:
    """Finds and continues stranded runs of one runtime (see the module docstring).

    Args:
        runtime: the runtime; it needs a lease store (``Runtime(lease_store=...)``).
        control: the runtime's operator actions (used to fail a run recovery gives up on).
    """

    def __init__(self, runtime: Runtime, control: RunControl) -> None:
        self._runtime = runtime
        self._control = control

    def _keeper(self) -> LeaseKeeper:
        keeper = self._runtime.leases
        if keeper is None:
            raise CapabilityError("crash recovery needs a lease store: Runtime(lease_store=...)")
        return keeper

    def recover_runs(
        self,
        *,
        workflows: WorkflowLookup | None = None,
        max_attempts: int = DEFAULT_MAX_RECOVERY_ATTEMPTS,
        stale_after_s: float | None = None,
        max_steps: int = DEFAULT_RECOVERY_MAX_STEPS,
        limit: int = 1000,
    ) -> list[RecoveryOutcome]:
        """Recover every stranded run among the ``limit`` most recently updated RUNNING runs, oldest
        first.

        Args:
            workflows: ``workflow_id -> WorkflowSpec | None`` (default the runtime's registry).
            max_attempts: recoveries without progress before the run is failed (>= 1).
            stale_after_s: seconds a RUNNING run without any lease row must have been idle before it
                counts as stranded (default the lease TTL).
            max_steps: steps each recovery takes at most.
            limit: how many RUNNING runs are examined (the most recently updated ones).

        Returns:
            One outcome per RUNNING run examined, least recently updated first.

        Raises:
            CapabilityError (RuntimeError): no lease store, or a run store without ``list_runs``.
        """
        keeper = self._keeper()
        store = self._runtime.run_store
        if not isinstance(store, QueryableRunStore):
            raise CapabilityError("recover_runs needs a QueryableRunStore (list_runs)")
        grace = keeper.ttl_s if stale_after_s is None else max(float(stale_after_s), 0.0)
        running = store.list_runs(status=RunStatus.RUNNING, limit=limit)
        outcomes = []
        for run in reversed(running):
            outcomes.append(
                self._recover(run, workflows, max_attempts=max_attempts, grace_s=grace, max_steps=max_steps)
            )
        return outcomes

    def recover_run(
        self,
        run_id: str,
        *,
        workflow: WorkflowSpec | None = None,
        max_attempts: int = DEFAULT_MAX_RECOVERY_ATTEMPTS,
        max_steps: int = DEFAULT_RECOVERY_MAX_STEPS,
    ) -> RecoveryOutcome:
        """Recover ``run_id`` if it is stranded (a run named explicitly gets no idle grace).

        Raises:
            RunNotFoundError (KeyError): unknown run.
            CapabilityError (RuntimeError): no lease store.
        """
        self._keeper()
        run = self._runtime.get_state(run_id)
        lookup = (lambda _id: workflow) if workflow is not None else None
        return self._recover(run, lookup, max_attempts=max_attempts, grace_s=0.0, max_steps=max_steps)

    # -- one run -----------------------------------------------------------------------------------
    def _recover(
        self,
        run: RunState,
        workflows: WorkflowLookup | None,
        *,
        max_attempts: int,
        grace_s: float,
        max_steps: int,
    ) -> RecoveryOutcome:
        run_id = run.run_id
        reason = self._not_stranded(run, grace_s)
        if reason is not None:
            return RecoveryOutcome(run_id, "skipped", reason)
        spec = self._workflow(run, workflows)
        if spec is None:
            return RecoveryOutcome(run_id, "skipped", f"workflow {run.workflow_id!r} is not registered here")
        keeper = self._keeper()
        lease = keeper.acquire(run_id, recovery_mark=self._mark(run))
        if lease is None:
            return RecoveryOutcome(run_id, "skipped", "another driver took the lease first")
        try:
            outcome, lapse = self._attempt(run_id, lease.recoveries, spec, max_attempts, max_steps)
        except BaseException:
            keeper.release(run_id)
            raise
        if lapse:  # a node raised: the next attempt comes once the lease lapses, one TTL from now
            keeper.abandon(run_id)
        else:
            keeper.release(run_id)
        return outcome

    def _attempt(
        self, run_id: str, attempt: int, spec: WorkflowSpec, max_attempts: int, max_steps: int
    ) -> tuple[RecoveryOutcome, bool]:
        """One recovery attempt under the lease; the flag says whether to let the lease lapse."""
        current = self._runtime.get_state(run_id)
        if current.status != RunStatus.RUNNING or is_paused(current):
            return RecoveryOutcome(run_id, "skipped", "no longer running", current), False
        if attempt > max_attempts:
            message = f"no step committed in {max_attempts} recovery attempts (its driver kept dying)"
            return self._give_up(current, attempt, max_attempts, message), False
        _log.info("recovering run %s at node %s (attempt %d)", run_id, current.current_node, attempt)
        return self._drive(current, spec, attempt, max_attempts, max_steps)

    def _drive(
        self, run: RunState, spec: WorkflowSpec, attempt: int, max_attempts: int, max_steps: int
    ) -> tuple[RecoveryOutcome, bool]:
        keeper = self._keeper()
        state, steps = run, 0
        try:
            while state.status == RunStatus.RUNNING and not is_paused(state) and steps < max_steps:
                budget = min(_TICK_STEPS, max_steps - steps)
                state = self._runtime.tick(workflow=spec, run_id=run.run_id, max_steps=budget)
                steps += budget
                if keeper.lost(run.run_id):
                    lost = RecoveryOutcome(run.run_id, "error", "lease lost while recovering", state, attempt)
                    return lost, False
        except ConcurrencyError as exc:
            detail = f"another driver advanced it: {exc}"
            return RecoveryOutcome(run.run_id, "error", detail, None, attempt), False
        except Exception as exc:  # noqa: BLE001 - a node that raises is what recovery counts and reports
            at = self._runtime.get_state(run.run_id)
            message = f"{type(exc).__name__}: {exc}"
            if attempt >= max_attempts:
                return self._give_up(at, attempt, max_attempts, message), False
            _log.warning("recovery of run %s, attempt %d/%d: %s", run.run_id, attempt, max_attempts, message)
            return RecoveryOutcome(run.run_id, "error", message, at, attempt), True
        status = RunStatus(state.status).value
        return RecoveryOutcome(run.run_id, "recovered", f"now {status}", state, attempt), False

    def _give_up(self, run: RunState, attempt: int, max_attempts: int, message: str) -> RecoveryOutcome:
        error = f"Recovery gave up after {max_attempts} attempts at node {run.current_node!r}: {message}"
        effect = {"type": "recovery", "payload": {"attempts": attempt, "max_attempts": max_attempts}}
        state = self._control.fail(run.run_id, error, effect=effect)
        _log.error("run %s failed: %s", run.run_id, error)
        return RecoveryOutcome(run.run_id, "failed", error, state, attempt)

    # -- helpers -----------------------------------------------------------------------------------
    def _not_stranded(self, run: RunState, grace_s: float) -> str | None:
        """Why ``run`` must not be recovered now, or None when it is stranded."""
        if run.status != RunStatus.RUNNING or is_paused(run):
            return "not running"
        keeper = self._keeper()
        if keeper.holds(run.run_id):
            return "this driver holds it"
        now = self._runtime.clock.now()
        lease = keeper.store.get_lease(run.run_id)
        if lease is not None:
            return f"leased by {lease.owner} until {lease.expires_at}" if lease.is_live(now) else None
        if grace_s > 0 and _updated_within(run, now=now, grace_s=grace_s):
            return f"no lease, but updated less than {grace_s:g}s ago"
        parent = self._leased_ancestor(run, now)
        return None if parent is None else f"its parent run {parent} is leased"

    def _leased_ancestor(self, run: RunState, now: datetime) -> str | None:
        keeper = self._keeper()
        parent_id, seen = run.parent_run_id, 0
        while parent_id and seen < _ANCESTORS_CHECKED:
            lease = keeper.store.get_lease(parent_id)
            if lease is not None and lease.is_live(now):
                return parent_id
            parent = self._runtime.run_store.load(parent_id)
            parent_id, seen = (parent.parent_run_id if parent is not None else None), seen + 1
        return None

    def _workflow(self, run: RunState, workflows: WorkflowLookup | None) -> WorkflowSpec | None:
        if workflows is not None:
            return workflows(run.workflow_id)
        registry = self._runtime.workflow_registry
        spec = registry.get(run.workflow_id) if registry is not None else None
        return spec if isinstance(spec, WorkflowSpec) else None

    def _mark(self, run: RunState) -> str:
        """The run's progress mark: its revision (or ``updated_at`` on a store without revisions)."""
        store = self._runtime.run_store
        if isinstance(store, RevisionedRunStore):
            revision = store.current_revision(run.run_id)
            if revision is not None:
                return f"rev:{revision}"
        return f"at:{run.updated_at}"


def _updated_within(run: RunState, *, now: datetime, grace_s: float) -> bool:
    """True when ``run.updated_at`` is less than ``grace_s`` seconds before ``now``."""
    try:
        return parse_iso(run.updated_at) + timedelta(seconds=grace_s) > now
    except ValueError:
        return False
