"""The LLM_CALL handler and build_effect_handlers on a real Runtime, talking HTTP to the OpenAI stub."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.policy import RetryPolicy
from abstractruntime.integrations.abstractcore.effect_handlers import (
    build_effect_handlers,
    make_llm_call_handler,
)
from abstractruntime.integrations.abstractcore.llm_client import RemoteAbstractCoreLLMClient
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.storage.urls import open_stores
from abstractruntime.testing import FakeClock, OpenAIStubServer, StubResponse, chat_completion


@pytest.fixture(autouse=True)
def no_grounding(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests pin exact request bodies: the grounding prefix is tested in test_llm_grounding.py."""
    monkeypatch.setenv("ABSTRACTRUNTIME_GROUNDING", "0")


def one_call_flow(payload: dict[str, Any]) -> WorkflowSpec:
    def ask(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(
            node_id="ask",
            effect=Effect(type=EffectType.LLM_CALL, payload=payload, result_key="llm"),
            next_node="done",
        )

    def done(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"llm": run.vars.get("llm")})

    return WorkflowSpec(workflow_id="one_call", entry_node="ask", nodes={"ask": ask, "done": done})


def make_runtime(llm: Any, *, policy: Any = None, clock: FakeClock | None = None) -> Runtime:
    return Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        effect_handlers=build_effect_handlers(llm=llm),
        effect_policy=policy,
        clock=clock or FakeClock(),
    )


def run_once(runtime: Runtime, payload: dict[str, Any], vars: dict[str, Any] | None = None) -> Any:
    flow = one_call_flow(payload)
    run_id = runtime.start(workflow=flow, vars=vars)
    return runtime.tick(workflow=flow, run_id=run_id)


def test_llm_call_completes_with_standard_result_and_trace_metadata(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    stub.push("hi from the model")
    runtime = make_runtime(llm)
    state = run_once(runtime, {"prompt": "hello", "system_prompt": "sys", "params": {"temperature": 0}})
    assert state.status.value == "completed"
    result = state.output["llm"]
    assert result["content"] == "hi from the model"
    assert result["finish_reason"] == "stop"
    trace = result["metadata"]["trace_metadata"]
    assert trace == {"run_id": state.run_id, "workflow_id": "one_call", "node_id": "ask"}
    observed = result["metadata"]["_runtime_observability"]["llm_generate_kwargs"]
    assert observed["prompt"] == "hello" and observed["params"]["temperature"] == 0
    assert stub.requests[0].json["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hello"},
    ]
    assert "trace_metadata" not in stub.requests[0].json
    assert state.vars["_limits"]["estimated_tokens_used"] == 10


def test_text_is_used_when_prompt_is_blank_and_routing_overrides(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    state = run_once(
        make_runtime(llm), {"prompt": " ", "text": "from text", "provider": "vllm", "model": "big"}
    )
    assert state.output["llm"]["content"] == "echo: from text"
    assert stub.requests[0].json["model"] == "vllm/big"


def test_missing_prompt_fails_without_calling_the_server(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    state = run_once(make_runtime(llm, policy=RetryPolicy()), {"system_prompt": "only"})
    assert state.status.value == "failed"
    assert (
        state.error == "Effect failed after 1 attempts: llm_call requires payload.prompt or payload.messages"
    )
    assert stub.requests == []


def test_retryable_errors_are_retried_by_the_effect_policy(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    stub.push(StubResponse.error(429, "slow down"), StubResponse.error(503, "overloaded"), "finally")
    clock = FakeClock()
    runtime = make_runtime(llm, policy=RetryPolicy(llm_max_attempts=3, backoff_base=2.0), clock=clock)
    state = run_once(runtime, {"prompt": "p"})
    assert state.status.value == "completed"
    assert state.output["llm"]["content"] == "finally"
    assert len(stub.requests) == 3
    assert clock.sleeps == [2.0, 4.0]
    statuses = [r["status"] for r in runtime.get_ledger(state.run_id) if r["node_id"] == "ask"]
    assert statuses == ["started", "failed", "started", "failed", "started", "completed"]


def test_retries_exhausted_report_the_last_error(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    stub.push(*[StubResponse.error(500, "boom")] * 3)
    state = run_once(make_runtime(llm, policy=RetryPolicy(llm_max_attempts=3)), {"prompt": "p"})
    assert state.status.value == "failed"
    assert state.error == "Effect failed after 3 attempts: LLMServerError: LLM server error (HTTP 500): boom"
    assert len(stub.requests) == 3


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            StubResponse.error(401, "invalid api key"),
            "LLMAuthError: LLM server refused the credentials (HTTP 401)",
        ),
        (
            StubResponse.error(404, "no such model"),
            "LLMNotFoundError: LLM endpoint or model not found (HTTP 404)",
        ),
        (StubResponse.malformed(), "LLMResponseError: LLM server at"),
    ],
)
def test_non_retryable_errors_fail_at_once(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, answer: StubResponse, expected: str
) -> None:
    stub.push(answer)
    clock = FakeClock()
    state = run_once(make_runtime(llm, policy=RetryPolicy(llm_max_attempts=3), clock=clock), {"prompt": "p"})
    assert state.status.value == "failed"
    assert state.error.startswith(f"Effect failed after 1 attempts: {expected}")
    assert len(stub.requests) == 1
    assert clock.sleeps == []


def test_connection_refused_is_retried_then_fails() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = RemoteAbstractCoreLLMClient(server_base_url=f"http://127.0.0.1:{port}", model="m", timeout_s=2)
    clock = FakeClock()
    state = run_once(
        make_runtime(client, policy=RetryPolicy(llm_max_attempts=2), clock=clock), {"prompt": "p"}
    )
    client.close()
    assert state.status.value == "failed"
    assert state.error.startswith(
        "Effect failed after 2 attempts: LLMConnectionError: LLM server unreachable"
    )
    assert clock.sleeps == [1.0]


def test_structured_output_parses_data(stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient) -> None:
    stub.push('{"city": "Paris"}')
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    state = run_once(make_runtime(llm), {"prompt": "capital?", "response_schema": schema})
    assert state.output["llm"]["data"] == {"city": "Paris"}
    assert stub.requests[0].json["response_format"]["json_schema"]["schema"] == schema


def test_structured_output_fallback_retries_without_schema(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    stub.push(StubResponse.error(400, "response_format not supported"), '{"city": "Rome"}')
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    payload = {"prompt": "capital?", "response_schema": schema, "structured_output_fallback": True}
    state = run_once(make_runtime(llm), payload)
    result = state.output["llm"]
    assert result["data"] == {"city": "Rome"}
    assert "response_format" not in stub.requests[1].json
    assert "JSON schema" in stub.requests[1].json["messages"][0]["content"]
    assert result["metadata"]["_structured_output_fallback"]["used"] is True


def test_structured_output_fallback_when_content_is_not_json(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    stub.push("The city is Oslo.", '{"city": "Oslo"}')
    payload = {"prompt": "q", "response_schema": {"type": "object"}, "structured_output_fallback": True}
    state = run_once(make_runtime(llm), payload)
    assert state.output["llm"]["data"] == {"city": "Oslo"}
    assert state.output["llm"]["metadata"]["_structured_output_fallback"]["reason"] == "content was not JSON"


def test_truncation_retries_with_a_larger_budget(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    stub.push(
        chat_completion("part", finish_reason="length"),
        chat_completion("more", finish_reason="length"),
        chat_completion("whole answer"),
    )
    state = run_once(make_runtime(llm), {"prompt": "long", "params": {"max_tokens": 100}})
    assert [r.json["max_tokens"] for r in stub.requests] == [100, 600, 1200]
    result = state.output["llm"]
    assert result["content"] == "whole answer"
    assert result["metadata"]["_truncation"] == {"attempts": 3, "max_tokens": 1200, "truncated": False}


def test_truncation_budget_from_limits_and_cap_then_failure(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    stub.push(*[chat_completion("cut", finish_reason="length")] * 3)
    payload = {"prompt": "long", "max_output_tokens_cap": 3000}
    state = run_once(make_runtime(llm), payload, vars={"_limits": {"max_output_tokens": 1000}})
    assert [r.json["max_tokens"] for r in stub.requests] == [1000, 2000, 3000]
    assert state.status.value == "failed"
    assert (
        "LLM output truncated (finish_reason=length) after 3 attempt(s) with max_tokens=3000" in state.error
    )


def test_allow_truncation_accepts_a_cut_answer(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    stub.push(chat_completion("cut", finish_reason="length"))
    payload = {"prompt": "p", "retry_on_truncation": False, "allow_truncation": True}
    state = run_once(make_runtime(llm), payload)
    assert state.status.value == "completed"
    assert state.output["llm"]["metadata"]["_truncation"]["truncated"] is True
    assert len(stub.requests) == 1


def test_use_context_sends_history_and_appends_the_turn(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    stub.push("second answer")
    history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "first answer"}]
    state = run_once(
        make_runtime(llm),
        {"prompt": "second", "use_context": True},
        vars={"context": {"messages": list(history)}},
    )
    assert stub.requests[0].json["messages"] == [*history, {"role": "user", "content": "second"}]
    messages = state.vars["context"]["messages"]
    assert [(m["role"], m["content"]) for m in messages[2:]] == [
        ("user", "second"),
        ("assistant", "second answer"),
    ]
    assert all(m["metadata"]["kind"] == "llm_turn" and m["timestamp"] for m in messages[2:])


def test_tool_calls_flow_through_to_the_result(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    stub.push(chat_completion(None, tool_calls=[{"name": "ls", "arguments": {"path": "."}, "id": "c1"}]))
    state = run_once(make_runtime(llm), {"prompt": "list", "tools": [{"name": "ls", "parameters": {}}]})
    assert state.output["llm"]["tool_calls"] == [{"name": "ls", "arguments": {"path": "."}, "call_id": "c1"}]
    assert state.output["llm"]["content"] is None


def chat_then_ask_flow() -> WorkflowSpec:
    def first(run: Any, ctx: Any) -> StepPlan:
        effect = Effect(type=EffectType.LLM_CALL, payload={"prompt": "Propose a name", "use_context": True})
        return StepPlan(node_id="first", effect=effect, next_node="ask")

    def ask(run: Any, ctx: Any) -> StepPlan:
        effect = Effect(type=EffectType.ASK_USER, payload={"prompt": "Like it?"}, result_key="answer")
        return StepPlan(node_id="ask", effect=effect, next_node="second")

    def second(run: Any, ctx: Any) -> StepPlan:
        prompt = f"User said: {run.vars['answer']['text']}"
        effect = Effect(
            type=EffectType.LLM_CALL, payload={"prompt": prompt, "use_context": True}, result_key="final"
        )
        return StepPlan(node_id="second", effect=effect, next_node="done")

    def done(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"final": run.vars["final"]["content"]})

    nodes = {"first": first, "ask": ask, "second": second, "done": done}
    return WorkflowSpec(workflow_id="chat_ask", entry_node="first", nodes=nodes)


def test_llm_then_wait_then_resume_in_a_new_runtime_over_sqlite(
    stub: OpenAIStubServer, tmp_path: Path
) -> None:
    stub.push("Zephyr", "Great, Zephyr it is.")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    flow = chat_then_ask_flow()

    stores = open_stores(url)
    client = RemoteAbstractCoreLLMClient(server_base_url=stub.base_url, model="m", timeout_s=5)
    runtime = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        effect_handlers=build_effect_handlers(llm=client),
    )
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.status.value == "waiting" and state.waiting.prompt == "Like it?"
    wait_key = state.waiting.wait_key
    client.close()
    stores.close()

    stores = open_stores(url)  # a new process would do exactly this
    client = RemoteAbstractCoreLLMClient(server_base_url=stub.base_url, model="m", timeout_s=5)
    runtime = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        effect_handlers=build_effect_handlers(llm=client),
    )
    state = runtime.resume(workflow=flow, run_id=run_id, wait_key=wait_key, payload={"text": "yes"})
    client.close()
    stores.close()

    assert state.status.value == "completed"
    assert state.output == {"final": "Great, Zephyr it is."}
    assert len(stub.chat_requests) == 2
    assert stub.chat_requests[1].json["messages"] == [
        {"role": "user", "content": "Propose a name"},
        {"role": "assistant", "content": "Zephyr"},
        {"role": "user", "content": "User said: yes"},
    ]
    kinds = [m["metadata"]["kind"] for m in state.vars["context"]["messages"]]
    assert kinds == ["llm_turn"] * 4


def test_make_llm_call_handler_works_with_any_client() -> None:
    class EchoClient:
        def generate(self, **kwargs: Any) -> dict[str, Any]:
            return {"content": kwargs["prompt"].upper(), "finish_reason": "stop", "metadata": {}}

    runtime = Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        effect_handlers={EffectType.LLM_CALL: make_llm_call_handler(llm=EchoClient())},
    )
    assert run_once(runtime, {"prompt": "hey"}).output["llm"]["content"] == "HEY"


def test_build_effect_handlers_covers_llm_residency_and_tools(llm: RemoteAbstractCoreLLMClient) -> None:
    handlers = build_effect_handlers(llm=llm)
    assert EffectType.LLM_CALL in handlers and EffectType.MODEL_RESIDENCY in handlers
    has_tools = importlib.util.find_spec("abstractruntime.integrations.abstractcore.tool_handler") is not None
    assert (EffectType.TOOL_CALLS in handlers) is has_tools


def residency_flow(payload: dict[str, Any]) -> WorkflowSpec:
    def node(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(node_id="r", effect=Effect(type=EffectType.MODEL_RESIDENCY, payload=payload))

    return WorkflowSpec(workflow_id="res", entry_node="r", nodes={"r": node})


def test_model_residency_is_soft_unless_required(llm: RemoteAbstractCoreLLMClient) -> None:
    runtime = make_runtime(llm)
    flow = residency_flow({"operation": "warm", "task": "text", "model": "m"})
    state = runtime.tick(workflow=flow, run_id=runtime.start(workflow=flow))
    result = state.output["result"]
    assert result["ok"] is False and result["degraded"] is True and result["status_hint"] == "warning"
    assert result["operation"] == "load"
    flow = residency_flow({"operation": "load", "task": "text", "required": True})
    state = runtime.tick(workflow=flow, run_id=runtime.start(workflow=flow))
    assert state.status.value == "failed" and "does not support model residency" in state.error


def test_model_residency_calls_the_client() -> None:
    class Resident:
        def list_model_residency(self, **kwargs: Any) -> dict[str, Any]:
            return {"loaded": ["m"], "kwargs": kwargs}

    runtime = make_runtime(Resident())
    flow = residency_flow({"operation": "list", "provider": "ollama"})
    state = runtime.tick(workflow=flow, run_id=runtime.start(workflow=flow))
    assert state.output["result"] == {
        "loaded": ["m"],
        "kwargs": {"provider": "ollama"},
        "ok": True,
        "operation": "list_loaded",
    }


def test_history_is_trimmed_to_the_input_budget(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    history = [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "a" * 400},
        {"role": "assistant", "content": "b" * 400},
        {"role": "user", "content": "recent"},
    ]
    payload = {"prompt": "now", "messages": history}
    state = run_once(make_runtime(llm), payload, vars={"_limits": {"max_input_tokens": 120}})
    sent = stub.requests[0].json["messages"]
    assert sent == [
        {"role": "system", "content": "rules"},
        {"role": "assistant", "content": "b" * 400},
        {"role": "user", "content": "recent"},
        {"role": "user", "content": "now"},
    ]
    assert state.output["llm"]["metadata"]["_input_trimming"]["dropped_messages"] == 1

    vars = {"_limits": {"max_input_tokens": 120}, "_runtime": {"disable_input_trimming": True}}
    run_once(make_runtime(llm), payload, vars=vars)
    assert len(stub.requests[1].json["messages"]) == 5


@pytest.mark.parametrize(("attempts", "calls"), [(0, 1), (1, 2), ("many", 4), (None, 4)])
def test_max_truncation_attempts_counts_retries(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, attempts: Any, calls: int
) -> None:
    stub.push(*[chat_completion("cut", finish_reason="length")] * 4)
    payload = {"prompt": "p", "max_truncation_attempts": attempts, "allow_truncation": True}
    state = run_once(make_runtime(llm), payload)
    assert state.status.value == "completed"
    assert len(stub.requests) == calls
    assert state.output["llm"]["metadata"]["_truncation"]["attempts"] == calls


def test_prompt_cache_key_explicit_derived_and_absent(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    monkeypatch.delenv("ABSTRACTRUNTIME_PROMPT_CACHE", raising=False)
    runtime = make_runtime(llm)
    run_once(runtime, {"prompt": "a", "params": {"prompt_cache_binding": {"key": "mine"}}})
    assert stub.requests[-1].json["prompt_cache_key"] == "mine"
    assert "prompt_cache_binding" not in stub.requests[-1].json

    run_once(runtime, {"prompt": "b"}, vars={"_runtime": {"prompt_cache": True}})  # no session: no key
    assert "prompt_cache_key" not in stub.requests[-1].json

    flow = one_call_flow({"prompt": "c"})
    run_id = runtime.start(
        workflow=flow, session_id="s1", vars={"_runtime": {"prompt_cache": {"enabled": True}}}
    )
    runtime.tick(workflow=flow, run_id=run_id)
    digest = hashlib.sha256(b"v1|s1|remote|m|one_call|ask").hexdigest()[:24]
    assert stub.requests[-1].json["prompt_cache_key"] == f"abstractruntime:{digest}"

    monkeypatch.setenv("ABSTRACTRUNTIME_PROMPT_CACHE", "1")
    run_id = runtime.start(workflow=one_call_flow({"prompt": "d"}), session_id="s1")
    runtime.tick(workflow=one_call_flow({"prompt": "d"}), run_id=run_id)
    assert stub.requests[-1].json["prompt_cache_key"] == f"abstractruntime:{digest}"


def test_non_dict_messages_are_ignored_and_media_paths_need_a_workspace(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    payload = {"prompt": "p", "messages": ["junk", {"role": "user", "content": "ok"}], "max_input_tokens": 50}
    run_once(make_runtime(llm), payload)
    assert stub.requests[0].json["messages"] == [
        {"role": "user", "content": "ok"},
        {"role": "user", "content": "p"},
    ]
    state = run_once(make_runtime(llm, policy=RetryPolicy()), {"prompt": "p", "media": ["a.png"]})
    assert state.status.value == "failed"
    assert state.error == (
        "Effect failed after 1 attempts: MediaInputError: media path 'a.png' refused: this run has no "
        "workspace (vars.workspace_root); send files as artifacts instead"
    )
    assert len(stub.requests) == 1
