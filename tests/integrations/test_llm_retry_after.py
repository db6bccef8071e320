"""Retry-After: a 429/503 with the header makes the effect's next retry wait at least that long (capped)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.core.policy import RetryPolicy, retry_delay_seconds
from abstractruntime.errors import LLMRateLimitError, LLMServerError
from abstractruntime.integrations.abstractcore.effect_handlers import build_effect_handlers
from abstractruntime.integrations.abstractcore.llm_client import RemoteAbstractCoreLLMClient
from abstractruntime.integrations.abstractcore.openai_format import error_for_status, retry_after_seconds
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.testing import FakeClock, OpenAIStubServer, StubResponse


def flow(payload: dict[str, Any], effect_type: Any = EffectType.LLM_CALL) -> WorkflowSpec:
    def ask(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(
            node_id="ask", effect=Effect(type=effect_type, payload=payload, result_key="r"), next_node="done"
        )

    def done(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"r": run.vars.get("r")})

    return WorkflowSpec(workflow_id="retry_after", entry_node="ask", nodes={"ask": ask, "done": done})


def run_llm(stub: OpenAIStubServer, policy: RetryPolicy, clock: FakeClock) -> Any:
    llm = RemoteAbstractCoreLLMClient(server_base_url=stub.base_url, model="m", timeout_s=5)
    runtime = Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        effect_handlers=build_effect_handlers(llm=llm),
        effect_policy=policy,
        clock=clock,
    )
    spec = flow({"prompt": "hi", "runtime_grounding": False})
    try:
        return runtime.tick(workflow=spec, run_id=runtime.start(workflow=spec))
    finally:
        llm.close()


def test_429_retry_after_is_waited_before_the_next_attempt(stub: OpenAIStubServer) -> None:
    stub.push(StubResponse.error(429, "slow down", headers={"Retry-After": "42"}), "done")
    clock = FakeClock()
    state = run_llm(stub, RetryPolicy(llm_max_attempts=3, backoff_base=2.0), clock)
    assert state.status.value == "completed"
    assert state.output["r"]["content"] == "done"
    assert clock.sleeps == [42.0]  # more than the 2 s backoff
    assert len(stub.chat_requests) == 2


def test_503_retry_after_is_capped_by_the_policy(stub: OpenAIStubServer) -> None:
    stub.push(StubResponse.error(503, "busy", headers={"Retry-After": "3600"}), "ok")
    clock = FakeClock()
    state = run_llm(stub, RetryPolicy(llm_max_attempts=2, retry_after_max_s=120.0), clock)
    assert state.status.value == "completed"
    assert clock.sleeps == [120.0]


def test_default_cap_is_300_seconds_and_a_short_retry_after_keeps_the_backoff(stub: OpenAIStubServer) -> None:
    stub.push(
        StubResponse.error(429, "a", headers={"Retry-After": "100000"}),
        StubResponse.error(429, "b", headers={"Retry-After": "1"}),
        "ok",
    )
    clock = FakeClock()
    state = run_llm(stub, RetryPolicy(llm_max_attempts=3, backoff_base=5.0), clock)
    assert state.status.value == "completed"
    assert clock.sleeps == [300.0, 10.0]  # capped; then the 2nd backoff (5 * 2) beats Retry-After 1


def test_failures_without_retry_after_use_the_backoff(stub: OpenAIStubServer) -> None:
    stub.push(StubResponse.error(503, "busy"), "ok")
    clock = FakeClock()
    assert run_llm(stub, RetryPolicy(llm_max_attempts=2, backoff_base=3.0), clock).status.value == "completed"
    assert clock.sleeps == [3.0]


def test_any_handler_outcome_can_ask_for_a_wait() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def handler(run: Any, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        calls.append(1)
        if len(calls) == 1:
            return EffectOutcome.failed("throttled", retry_after_s=7.5)
        return EffectOutcome.completed({"ok": True})

    runtime = Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        effect_handlers={EffectType.LLM_CALL: handler},
        effect_policy=RetryPolicy(llm_max_attempts=2, backoff_base=1.0),
        clock=clock,
    )
    spec = flow({"prompt": "x"})
    state = runtime.tick(workflow=spec, run_id=runtime.start(workflow=spec))
    assert state.output == {"r": {"ok": True}}
    assert clock.sleeps == [7.5]


def test_retry_delay_seconds_rules() -> None:
    effect = Effect(type=EffectType.LLM_CALL, payload={})
    policy = RetryPolicy(backoff_base=4.0, retry_after_max_s=60.0)
    assert retry_delay_seconds(policy, effect=effect, attempt=1) == 4.0
    assert retry_delay_seconds(policy, effect=effect, attempt=1, retry_after_s=30.0) == 30.0
    assert retry_delay_seconds(policy, effect=effect, attempt=1, retry_after_s=600.0) == 60.0
    assert retry_delay_seconds(policy, effect=effect, attempt=1, retry_after_s=-5.0) == 4.0


def test_retry_after_header_parsing() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds({"retry-after": "12"}) == 12.0
    assert retry_after_seconds({"retry-after": later}, now=now) == 90.0
    assert (
        retry_after_seconds({"retry-after": format_datetime(now - timedelta(hours=1), usegmt=True)}, now=now)
        == 0.0
    )
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    rate = error_for_status(429, {"retry-after": "5"}, {}, url="u")
    server = error_for_status(503, {"retry-after": "8"}, {}, url="u")
    assert isinstance(rate, LLMRateLimitError) and rate.retry_after_s == 5.0
    assert isinstance(server, LLMServerError) and server.retry_after_s == 8.0 and server.retryable
