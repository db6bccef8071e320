"""One effect step: idempotent reuse, then execution with retries (SPEC §4.3 e, §4.4, §6).

Durability rules (``docs/concepts.md``, "One commit per step"):

* A handler with external side effects (anything registered by the host, and the kernel's own
  EMIT_EVENT / START_SUBWORKFLOW, which touch other runs) gets its STARTED record appended on its own
  *before* it runs: a durable intent.  Failed attempts are appended as they happen.  The final record
  is returned to the caller, which commits it together with the new run state.
* The kernel's pure handlers (waits, answers, vars queries) write nothing before they run: their
  STARTED and end records are returned and committed once, with the state.

Retries happen inside the step: between attempts the runtime's clock sleeps the policy's backoff, or
longer when the failed outcome carries ``retry_after_s`` (a server's ``Retry-After``, capped by the
policy's ``retry_after_max_s``; :func:`~abstractruntime.core.policy.retry_delay_seconds`).

A COMPLETED record with the step's idempotency key means the effect already ran: its result is
reused, the handler is not called and no record is written.

What happens around a handler depends only on its effect type's traits (``core/effects/registry.py``,
one lookup per step), never on the type's name: ``prepare`` normalizes the payload once its key is
known, ``counts_before_run`` checks the budget caps (``core/budget.py``), and an ``in_doubt_aware``
step whose key has an open STARTED intent (no later record of the key ended it: the previous driver
died mid-step) is *in doubt*: the handler gets the payload marked by :func:`~.tool_calls.mark_in_doubt`
and decides what may run again (``docs/llm.md``, "In-doubt calls").

An effect whose payload is not JSON-safe is never executed (its idempotency key hashes the payload as
JSON, and a durable ledger could not record its intent): the step fails with ``NotJsonSafeError: ...``
(no retry).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timezone

from ...errors import NotJsonSafeError
from ..budget import budget_gate
from ..clock import Clock, to_iso
from ..effects.registry import EffectRegistry, EffectTraits, RegisteredHandler
from ..jsonable import find_non_json_safe
from ..logs import LazyLogger
from ..models import Effect, EffectType, RunState, StepPlan, StepRecord
from ..outcome import EffectOutcome, call_effect_handler
from ..policy import EffectPolicy, retry_delay_seconds
from .store_access import StoreAccess
from .tool_calls import IN_DOUBT_KEY, mark_in_doubt

__all__ = ["EffectExecutor", "EffectStepResult", "iso_now"]

_log = LazyLogger("abstractruntime.engine")

_NO_TRAITS = EffectTraits()


@dataclass(slots=True)
class EffectStepResult:
    """The outcome of one effect step and the records to commit with the new state.

    ``ended_at`` is the ISO time the step's last record ended (None: no handler ran); the loop stamps
    the trace entry and ``updated_at`` with it rather than reading the clock again.  ``traits`` are
    the effect type's traits, looked up once per step and read by the loop too.
    """

    outcome: EffectOutcome
    effect: Effect
    idempotency_key: str
    reused: bool
    duration_ms: float
    records: list[StepRecord] = field(default_factory=list)
    ended_at: str | None = None
    traits: EffectTraits = _NO_TRAITS


class EffectExecutor:
    """Runs effect steps against the handler registry under the current effect policy.

    Args:
        access: storage door (idempotency lookups, intent appends).
        registry: EffectType -> handler.
        policy: a zero-argument callable returning the current :class:`EffectPolicy`.
        clock: time source for record timestamps and retry backoff sleeps.
    """

    def __init__(
        self,
        *,
        access: StoreAccess,
        registry: EffectRegistry,
        policy: Callable[[], EffectPolicy],
        clock: Clock,
    ) -> None:
        self._access = access
        self._registry = registry
        self._policy = policy
        self._clock = clock

    def execute(self, run: RunState, plan: StepPlan) -> EffectStepResult:
        """Reuse or execute ``plan.effect`` for ``run``; never raises for handler failures."""
        assert plan.effect is not None
        effect = plan.effect
        policy = self._policy()
        registered, traits = self._registry.lookup(effect.type)
        try:
            key = policy.idempotency_key(run=run, node_id=plan.node_id, effect=effect)
        except TypeError as exc:  # the key hashes the payload as JSON: it holds a value that is not
            return _unstorable_payload(run, effect, exc)
        if traits.prepare is not None:
            effect = traits.prepare(run, plan.node_id, effect, key)
        if traits.in_doubt_aware and isinstance(effect.payload, dict) and IN_DOUBT_KEY in effect.payload:
            payload = {k: v for k, v in effect.payload.items() if k != IN_DOUBT_KEY}  # engine-only key
            effect = Effect(type=effect.type, payload=payload, result_key=effect.result_key)
        began = time.perf_counter()
        prior = self._access.find_completed(run.run_id, key)
        if prior is not None:
            return EffectStepResult(
                outcome=EffectOutcome.completed(prior.get("result")),
                effect=effect,
                idempotency_key=key,
                reused=True,
                duration_ms=_elapsed_ms(began),
                traits=traits,
            )
        parked = budget_gate(  # core/budget.py
            run, plan.node_id, effect.type, self._clock, capped=traits.counts_before_run
        )
        if parked is not None:
            return EffectStepResult(parked, effect, key, reused=False, duration_ms=_elapsed_ms(began))
        if traits.in_doubt_aware and isinstance(effect.payload, dict):
            started = self._access.find_started(run.run_id, key)
            if started is not None:  # a driver died mid-step (docs/llm.md, "In-doubt calls")
                effect = mark_in_doubt(effect, started)
        step = self._run_attempts(run, plan, effect, key, policy, registered=registered, traits=traits)
        step.duration_ms = _elapsed_ms(began)
        step.traits = traits
        return step

    def _run_attempts(
        self,
        run: RunState,
        plan: StepPlan,
        effect: Effect,
        key: str,
        policy: EffectPolicy,
        *,
        registered: RegisteredHandler | None,
        traits: EffectTraits,
    ) -> EffectStepResult:
        durable_intent = registered is not None and traits.durable_intent
        max_attempts = max(1, int(policy.max_attempts(effect)))
        pending: list[StepRecord] = []
        last_error = ""
        ended_at: str | None = None
        for attempt in range(1, max_attempts + 1):
            record = StepRecord.start(
                run=run,
                node_id=plan.node_id,
                effect=effect,
                attempt=attempt,
                idempotency_key=key,
                now=self._now(),
            )
            if durable_intent:
                try:
                    self._access.append(record.snapshot())
                except NotJsonSafeError as exc:  # the payload cannot be stored: never run it
                    exc.run_id = exc.run_id or run.run_id
                    failure = EffectOutcome.failed(f"NotJsonSafeError: {exc}")
                    return EffectStepResult(failure, effect, key, reused=False, duration_ms=0.0)
            else:
                pending.append(record.snapshot())
            outcome = self._invoke(registered, run, effect, plan.next_node)
            ended_at = self._now()
            if outcome.status == "completed":
                pending.append(record.finish_success(outcome.result, now=ended_at))
                return EffectStepResult(outcome, effect, key, False, 0.0, pending, ended_at)
            if outcome.status == "waiting" and outcome.wait is not None:
                pending.append(record.finish_waiting(outcome.wait))
                return EffectStepResult(outcome, effect, key, False, 0.0, pending, ended_at)
            last_error = outcome.error or "waiting outcome without a wait state"
            record.finish_failure(last_error, now=ended_at)
            if durable_intent:
                self._access.append(record)
            else:
                pending.append(record)
            if not outcome.retryable:  # the handler knows no retry can help (e.g. HTTP 401)
                max_attempts = attempt
                break
            if attempt < max_attempts:
                delay = retry_delay_seconds(
                    policy, effect=effect, attempt=attempt, retry_after_s=outcome.retry_after_s
                )
                self._clock.sleep(delay)
        failure = EffectOutcome.failed(f"Effect failed after {max_attempts} attempts: {last_error}")
        return EffectStepResult(failure, effect, key, False, 0.0, pending, ended_at)

    def _invoke(
        self,
        registered: RegisteredHandler | None,
        run: RunState,
        effect: Effect,
        default_next_node: str | None,
    ) -> EffectOutcome:
        if registered is None:
            return EffectOutcome.failed(f"No effect handler registered for {EffectType(effect.type).value}")
        try:
            return call_effect_handler(registered.handler, registered.arity, run, effect, default_next_node)
        except Exception as exc:  # noqa: BLE001 - a handler failure is an effect failure, never a crash of tick
            _log.debug("effect handler for %s raised in run %s", effect.type, run.run_id, exc_info=True)
            return EffectOutcome.failed(f"Effect handler raised exception: {exc}")

    def _now(self) -> str:
        return iso_now(self._clock)


def iso_now(clock: Clock) -> str:
    """``to_iso(clock.now())``, without the UTC conversion when the moment is UTC already."""
    moment = clock.now()
    return moment.isoformat() if moment.tzinfo is timezone.utc else to_iso(moment)


def _unstorable_payload(run: RunState, effect: Effect, exc: TypeError) -> EffectStepResult:
    """The failed step of an effect whose payload is not JSON-safe (it is never executed)."""
    found = find_non_json_safe(effect.payload, "effect.payload")
    path, type_name = found if found is not None else ("effect.payload", type(exc).__name__)
    error = NotJsonSafeError(path=path, type_name=type_name, run_id=run.run_id)
    return EffectStepResult(EffectOutcome.failed(f"NotJsonSafeError: {error}"), effect, "", False, 0.0)


def _elapsed_ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000.0, 3)
