"""Shared helpers of the LLM_CALL media and grounding tests: one LLM_CALL node on a real Runtime."""

from __future__ import annotations

from typing import Any

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.policy import RetryPolicy
from abstractruntime.integrations.abstractcore.llm_client import RemoteAbstractCoreLLMClient
from abstractruntime.integrations.abstractcore.llm_handler import make_llm_call_handler
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.testing import FakeClock

NOW = "2026-03-04T05:06:07+00:00"


def one_call(payload: dict[str, Any]) -> WorkflowSpec:
    """A flow whose node ``ask`` runs ``payload`` as an LLM_CALL into ``vars.llm``, then completes with it."""

    def ask(run: Any, ctx: Any) -> StepPlan:
        effect = Effect(type=EffectType.LLM_CALL, payload=payload, result_key="llm")
        return StepPlan(node_id="ask", effect=effect, next_node="done")

    def done(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"llm": run.vars.get("llm")})

    return WorkflowSpec(workflow_id="media_call", entry_node="ask", nodes={"ask": ask, "done": done})


def run_call(
    llm: RemoteAbstractCoreLLMClient,
    payload: dict[str, Any],
    *,
    vars: dict[str, Any] | None = None,
    artifact_store: Any = None,
    clock: FakeClock | None = None,
) -> Any:
    """Start and tick the one-call flow; returns the run state (the handler and runtime share ``clock``)."""
    clock = clock or FakeClock(NOW)
    handler = make_llm_call_handler(llm=llm, artifact_store=artifact_store, clock=clock)
    runtime = Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        effect_handlers={EffectType.LLM_CALL: handler},
        effect_policy=RetryPolicy(llm_max_attempts=3),
        clock=clock,
    )
    spec = one_call(payload)
    return runtime.tick(workflow=spec, run_id=runtime.start(workflow=spec, vars=vars))
