"""EffectOutcome.failed(error, retryable=False) stops the effect policy's retries (an extension of SPEC §4.4)."""

from __future__ import annotations

from typing import Any

from abstractruntime import (
    Effect,
    EffectType,
    InMemoryLedgerStore,
    InMemoryRunStore,
    Runtime,
    StepPlan,
    WorkflowSpec,
)
from abstractruntime.core.policy import RetryPolicy
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.testing import FakeClock


def run_with(outcomes: list[EffectOutcome]) -> tuple[Any, list[int], FakeClock, Runtime]:
    calls: list[int] = []

    def handler(run: Any, effect: Any, default_next_node: Any) -> EffectOutcome:
        calls.append(1)
        return outcomes.pop(0)

    def node(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(node_id="n", effect=Effect(type=EffectType.LLM_CALL, payload={"prompt": "p"}))

    flow = WorkflowSpec(workflow_id="w", entry_node="n", nodes={"n": node})
    clock = FakeClock()
    runtime = Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        effect_handlers={EffectType.LLM_CALL: handler},
        effect_policy=RetryPolicy(llm_max_attempts=3),
        clock=clock,
    )
    state = runtime.tick(workflow=flow, run_id=runtime.start(workflow=flow))
    return state, calls, clock, runtime


def test_non_retryable_failure_stops_after_the_attempt() -> None:
    state, calls, clock, runtime = run_with(
        [
            EffectOutcome.failed("first"),
            EffectOutcome.failed("no way", retryable=False),
            EffectOutcome.completed({}),
        ]
    )
    assert state.status.value == "failed"
    assert state.error == "Effect failed after 2 attempts: no way"
    assert len(calls) == 2
    assert clock.sleeps == [1.0]
    assert [r["status"] for r in runtime.get_ledger(state.run_id)][:4] == [
        "started",
        "failed",
        "started",
        "failed",
    ]


def test_failed_outcomes_are_retryable_by_default() -> None:
    assert EffectOutcome.failed("x").retryable is True
    state, calls, _, _ = run_with(
        [EffectOutcome.failed("a"), EffectOutcome.failed("b"), EffectOutcome.completed({"ok": 1})]
    )
    assert state.status.value == "completed" and len(calls) == 3
