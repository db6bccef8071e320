"""The ``Runtime`` facade (SPEC §4): start, tick, resume, control and queries over stored runs.

The facade is thin on purpose.  The step loop lives in ``core/engine/loop.py``, effect execution in
``core/engine/effect_step.py``, resumes in ``core/engine/resume.py``, operator actions in
``core/engine/control.py`` and the built-in effect handlers in ``core/effects/``.

Evidence (SPEC §10.2): when an artifact store is configured, the step loop and the resumer call
:meth:`Runtime._capture_tool_evidence` for tool batches (``core/evidence_hook.py``): evidence never
fails a run.

Crash recovery: with a lease store (``Runtime(lease_store=...)``), :attr:`Runtime.leases` holds the
leases of the runs this process drives and :meth:`Runtime.recover_runs` continues runs whose driver
died (``core/leases.py``, ``core/recovery.py``, ``docs/stores.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..errors import UnknownNodeError
from .budget import set_budget_caps
from .clock import SYSTEM_CLOCK, Clock, to_iso
from .config import RuntimeConfig
from .effects import EffectRegistry, EffectTraits, register_builtin_handlers
from .engine.control import RunControl
from .engine.effect_step import EffectExecutor
from .engine.loop import EvidenceCapture, StepLoop
from .engine.resume import Resumer
from .engine.store_access import StoreAccess
from .evidence_hook import MAX_EVIDENCE_WARNINGS, capture_tool_evidence
from .lease_store import RunLeaseStore
from .leases import DEFAULT_LEASE_TTL_S, LeaseKeeper
from .models import EffectType, RunState, RunStatus
from .outcome import EffectHandler, EffectOutcome
from .policy import DefaultEffectPolicy, EffectPolicy
from .ports import LedgerStore, RunStore
from .recovery import DEFAULT_MAX_RECOVERY_ATTEMPTS, RecoveryOutcome, RunRecovery, WorkflowLookup
from .runtime_drivers import RuntimeDrivers
from .runtime_queries import RuntimeQueries
from .spec import RunContext, WorkflowSpec

__all__ = ["DefaultRunContext", "EffectHandler", "EffectOutcome", "MAX_EVIDENCE_WARNINGS", "Runtime"]


class DefaultRunContext:
    """The RunContext handed to nodes by default: the current time from the runtime clock."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SYSTEM_CLOCK

    def now_iso(self) -> str:
        """The current time as a UTC ISO-8601 string."""
        return to_iso(self._clock.now())


class Runtime(RuntimeQueries, RuntimeDrivers):
    """Drives workflow runs stored in a run store and records every step in a ledger.

    Args:
        run_store: where run states live (SPEC §7).
        ledger_store: where step records are appended.
        effect_handlers: ``{EffectType: handler}`` applied over the built-in handlers.
        context: the RunContext object handed to every node (default :class:`DefaultRunContext`).
        workflow_registry: any object with ``get(workflow_id) -> WorkflowSpec | None``; needed by
            START_SUBWORKFLOW and EMIT_EVENT delivery.
        artifact_store: enables evidence capture for tool calls (SPEC §10.2), evidence lookups and the
            MEMORY_* effects (SPEC §4.9), which store notes and archived messages there.
        effect_policy: retries and idempotency keys (default :class:`DefaultEffectPolicy`).
        config: limits and model metadata seeded into new runs (default :class:`RuntimeConfig`).
        chat_summarizer: summarises older messages for MEMORY_COMPACT; without one, MEMORY_COMPACT runs
            an LLM_CALL in a child run of ``wf_memory_compact_llm``.
        clock: time source (default the system clock); use ``abstractruntime.testing.FakeClock`` in tests.
        lease_store: run leases (``Stores.lease_store``); enables :attr:`leases` and crash recovery.
        lease_ttl_s: lifetime of this runtime's leases in seconds (renewed every third of it).
    """

    def __init__(
        self,
        *,
        run_store: RunStore,
        ledger_store: LedgerStore,
        effect_handlers: Mapping[Any, EffectHandler] | None = None,
        context: RunContext | None = None,
        workflow_registry: Any = None,
        artifact_store: Any = None,
        effect_policy: EffectPolicy | None = None,
        config: RuntimeConfig | None = None,
        chat_summarizer: Any = None,
        clock: Clock | None = None,
        lease_store: RunLeaseStore | None = None,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
    ) -> None:
        self._clock: Clock = clock or SYSTEM_CLOCK
        self._context: RunContext = context if context is not None else DefaultRunContext(self._clock)
        self._workflow_registry = workflow_registry
        self._artifact_store = artifact_store
        self._effect_policy: EffectPolicy = effect_policy or DefaultEffectPolicy()
        self._config = config or RuntimeConfig()
        self._chat_summarizer = chat_summarizer
        self._tool_executor: Any = None
        self._access = StoreAccess(run_store, ledger_store)
        self._handlers = EffectRegistry()
        register_builtin_handlers(self._handlers, self)
        self._handlers.update(effect_handlers)
        executor = EffectExecutor(
            access=self._access,
            registry=self._handlers,
            policy=lambda: self._effect_policy,
            clock=self._clock,
        )
        self._loop = StepLoop(
            access=self._access,
            executor=executor,
            clock=self._clock,
            context=lambda: self._context,
            evidence=self._evidence_hook,
        )
        self._resumer = Resumer(
            access=self._access,
            loop=self._loop,
            clock=self._clock,
            tool_executor=lambda: self._tool_executor,
            evidence=self._evidence_hook,
        )
        self._control = RunControl(access=self._access, clock=self._clock)
        self._leases = (
            None
            if lease_store is None
            else LeaseKeeper(lease_store, clock=self._clock, ttl_s=lease_ttl_s, status_of=self._status_of)
        )
        self._recovery = RunRecovery(self, self._control)

    # -- accessors -----------------------------------------------------------------------------
    @property
    def run_store(self) -> RunStore:
        """The run store."""
        return self._access.run_store

    @property
    def ledger_store(self) -> LedgerStore:
        """The ledger store."""
        return self._access.ledger_store

    @property
    def lease_store(self) -> RunLeaseStore | None:
        """The lease store, or None (no crash recovery)."""
        return None if self._leases is None else self._leases.store

    @property
    def leases(self) -> LeaseKeeper | None:
        """The leases this runtime's drivers hold (one owner id per runtime), or None without a lease
        store.  Drivers wrap their ticks in ``runtime.leases.holding(run_id)``."""
        return self._leases

    @property
    def workflow_registry(self) -> Any:
        """The workflow registry, or None."""
        return self._workflow_registry

    @property
    def artifact_store(self) -> Any:
        """The artifact store, or None."""
        return self._artifact_store

    @property
    def effect_policy(self) -> EffectPolicy:
        """The effect policy (retries, idempotency keys)."""
        return self._effect_policy

    @property
    def config(self) -> RuntimeConfig:
        """The runtime configuration."""
        return self._config

    @property
    def clock(self) -> Clock:
        """The clock every timestamp and deadline comes from."""
        return self._clock

    @property
    def chat_summarizer(self) -> Any:
        """The chat summarizer, or None."""
        return self._chat_summarizer

    def now(self) -> datetime:
        """The clock's current time (tz-aware UTC)."""
        return self._clock.now()

    def set_workflow_registry(self, registry: Any) -> None:
        """Replace the workflow registry (``get(workflow_id) -> WorkflowSpec | None``)."""
        self._workflow_registry = registry

    def set_artifact_store(self, store: Any) -> None:
        """Replace the artifact store."""
        self._artifact_store = store

    def set_effect_policy(self, policy: EffectPolicy) -> None:
        """Replace the effect policy; the next effect step uses it."""
        self._effect_policy = policy

    def set_tool_executor_for_resume(self, executor: Any) -> None:
        """Set the executor that runs approved tool calls on approval resumes (SPEC §4.6)."""
        self._tool_executor = executor

    def register_effect_handler(
        self, effect_type: EffectType | str, handler: Any, *, traits: EffectTraits | None = None
    ) -> None:
        """Register ``handler`` for ``effect_type`` with optional :class:`EffectTraits` (durable intent,
        in-doubt marking, budget gate and counter, ...; ``docs/concepts.md``, "Effect traits").

        Without ``traits`` the type keeps its declared traits, else the host defaults.

        Raises:
            ValueError: unknown effect type.  TypeError: ``handler`` not callable, bad ``traits``.
        """
        self._handlers.register(effect_type, handler, traits=traits)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(
        self,
        *,
        workflow: WorkflowSpec,
        vars: dict[str, Any] | None = None,
        actor_id: str | None = None,
        session_id: str | None = None,
        parent_run_id: str | None = None,
        budget: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a RUNNING run at ``workflow.entry_node`` and return its id (SPEC §4.2).

        ``vars`` is shallow-copied; ``_limits`` is seeded from the config when missing and
        ``_runtime`` gets provider/model metadata.  ``budget`` (``{"max_llm_calls": 10, ...}``, see
        ``core/budget.py``) is merged into ``_limits.budget``.  No ledger record is written.

        Raises:
            UnknownNodeError (KeyError): the entry node has no handler.
            ValueError: ``budget`` names an unknown cap or a value that is not a positive number.
            NotJsonSafeError (TypeError): a durable store cannot encode ``vars``; nothing is stored.
        """
        if workflow.entry_node not in workflow.nodes:
            raise UnknownNodeError(workflow_id=workflow.workflow_id, node_id=workflow.entry_node)
        run_vars = self._seed_vars(vars)
        run = RunState.new(
            workflow_id=workflow.workflow_id,
            entry_node=workflow.entry_node,
            actor_id=actor_id,
            session_id=session_id,
            vars=run_vars,
            parent_run_id=parent_run_id,
        )
        if budget:
            limits = run.vars.get("_limits")
            run.vars["_limits"] = dict(limits) if isinstance(limits, dict) else {}
            set_budget_caps(run, dict(budget))
        run.created_at = run.updated_at = to_iso(self._clock.now())
        self._access.create(run)
        return run.run_id

    def _seed_vars(self, given: dict[str, Any] | None) -> dict[str, Any]:
        run_vars = dict(given or {})
        if "_limits" not in run_vars:
            run_vars["_limits"] = self._config.to_limits_dict()
        runtime_ns = run_vars.get("_runtime")
        runtime_ns = dict(runtime_ns) if isinstance(runtime_ns, dict) else {}
        run_vars["_runtime"] = runtime_ns
        if self._config.provider:
            runtime_ns.setdefault("provider", self._config.provider)
        if self._config.model:
            runtime_ns.setdefault("model", self._config.model)
        support = (self._config.model_capabilities or {}).get("tool_support")
        if isinstance(support, str) and support:
            runtime_ns.setdefault("tool_support", support)
            runtime_ns["supports_native_tools"] = support == "native"
        return run_vars

    def tick(self, *, workflow: WorkflowSpec, run_id: str, max_steps: int = 100) -> RunState:
        """Advance ``run_id`` until it waits, ends, or ``max_steps`` steps were taken (SPEC §4.3).

        Raises:
            RunNotFoundError (KeyError): unknown run.
            UnknownNodeError (KeyError), InvalidStepPlanError (ValueError), or whatever a node handler
                raises: the run stays RUNNING at that node.
            ConcurrencyError: another driver advanced the run meanwhile.
        """
        return self._loop.tick(workflow, run_id, max_steps)

    def resume(
        self, *, workflow: WorkflowSpec, run_id: str, wait_key: str | None, payload: Any, max_steps: int = 100
    ) -> RunState:
        """Deliver ``payload`` to the wait of ``run_id`` and continue it (SPEC §4.6).

        ``wait_key`` None skips the key check; ``max_steps <= 0`` only unblocks the run.

        Raises:
            RunNotFoundError (KeyError): unknown run.
            RunPausedError, RunNotWaitingError, WaitKeyMismatchError (all ValueError).
            ConcurrencyError: another driver resumed the run first.
        """
        return self._resumer.resume(workflow, run_id, wait_key, payload, max_steps)

    def pause_run(self, run_id: str, *, reason: str | None = None) -> RunState:
        """Pause a run (SPEC §4.7); a RUNNING run gets the synthetic ``pause:<run_id>`` wait.

        Raises:
            RunNotFoundError (KeyError): unknown run.
        """
        return self._control.pause(run_id, reason)

    def resume_run(self, run_id: str) -> RunState:
        """Lift a pause (SPEC §4.7); does not tick.

        Raises:
            RunNotFoundError (KeyError): unknown run.
        """
        return self._control.resume_paused(run_id)

    def update_budget(self, run_id: str, **caps: Any) -> RunState:
        """Change the budget of ``run_id`` (``max_llm_calls``, ``max_tool_calls``, ``max_tokens``,
        ``max_wall_s``; None removes a cap).  A run parked on its budget then continues when resumed
        (``core/budget.py``).  Does not tick or resume.

        Raises:
            RunNotFoundError (KeyError): unknown run.
            ValueError: an unknown cap, or a value that is not a positive number or None.
        """
        return self._control.update_budget(run_id, caps)

    def cancel_run(self, run_id: str, *, reason: str | None = None) -> RunState:
        """Cancel a run (SPEC §4.7); children are not cancelled.

        Raises:
            RunNotFoundError (KeyError): unknown run.
        """
        return self._control.cancel(run_id, reason)

    # -- retry and fork (core/rewind.py) ----------------------------------------------------------
    def retry_run(
        self, run_id: str, *, workflow: WorkflowSpec | None = None, max_steps: int = 100
    ) -> RunState:
        """Re-run a FAILED/CANCELLED run (or one reporting a node error) from the node that failed,
        reusing every recorded effect result before it; see :func:`~abstractruntime.core.rewind.retry_run`."""
        from .rewind import retry_run

        return retry_run(self, run_id, workflow=workflow, max_steps=max_steps)

    def fork_run(
        self,
        run_id: str,
        *,
        at_seq: int,
        workflow: WorkflowSpec | None = None,
        rerun_effects: bool = False,
        vars: Mapping[str, Any] | None = None,
    ) -> RunState:
        """A new run from the state of ``run_id`` after ledger record ``at_seq`` (derived by replaying
        recorded results); see :func:`~abstractruntime.core.rewind.fork_run`."""
        from .rewind import fork_run

        return fork_run(
            self, run_id, at_seq=at_seq, workflow=workflow, rerun_effects=rerun_effects, vars=vars
        )

    # -- crash recovery --------------------------------------------------------------------------
    def recover_runs(
        self,
        *,
        workflows: WorkflowLookup | None = None,
        max_attempts: int = DEFAULT_MAX_RECOVERY_ATTEMPTS,
        stale_after_s: float | None = None,
        limit: int = 1000,
    ) -> list[RecoveryOutcome]:
        """Continue every stranded RUNNING run (no live lease) from its last commit.

        See ``core/recovery.py``: effects with a STARTED record but no completion run again
        (at-least-once); completed effects are reused; after ``max_attempts`` recoveries without
        progress the run is failed.  ``workflows`` maps a workflow id to its spec (default the
        registry); ``stale_after_s`` is the idle time a run with no lease row needs (default the TTL).

        Raises:
            CapabilityError (RuntimeError): no lease store, or a run store without ``list_runs``.
        """
        return self._recovery.recover_runs(
            workflows=workflows, max_attempts=max_attempts, stale_after_s=stale_after_s, limit=limit
        )

    def recover_run(
        self,
        run_id: str,
        *,
        workflow: WorkflowSpec | None = None,
        max_attempts: int = DEFAULT_MAX_RECOVERY_ATTEMPTS,
    ) -> RecoveryOutcome:
        """Continue ``run_id`` if it is stranded (see :meth:`recover_runs`; no idle grace).

        Raises:
            RunNotFoundError (KeyError): unknown run.
            CapabilityError (RuntimeError): no lease store.
        """
        return self._recovery.recover_run(run_id, workflow=workflow, max_attempts=max_attempts)

    def _status_of(self, run_id: str) -> RunStatus | None:
        run = self._access.run_store.load(run_id)
        return None if run is None else RunStatus(run.status)

    # -- evidence ------------------------------------------------------------------------------
    def _evidence_hook(self) -> EvidenceCapture | None:
        """The evidence capture hook for the engine: on only while an artifact store is set."""
        return self._capture_tool_evidence if self._artifact_store is not None else None

    def _capture_tool_evidence(
        self, run: RunState, node_id: str, tool_calls: list[Any], tool_result: dict[str, Any]
    ) -> None:
        """Record evidence for one tool batch (SPEC §10.2; ``core/evidence_hook.py``); never raises."""
        capture_tool_evidence(
            artifact_store=self._artifact_store,
            clock=self._clock,
            run=run,
            node_id=node_id,
            tool_calls=tool_calls,
            tool_result=tool_result,
        )
