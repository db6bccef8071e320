"""Local and hybrid modes (SPEC §11.1, §11.3): in-process AbstractCore against the loopback stub server.

The local client uses AbstractCore's ``openai-compatible`` provider pointed at ``OpenAIStubServer``, so the
whole path (``create_llm`` → HTTP → AbstractCore's response → our result dict → the runtime) runs without a
model.  Tools run through AbstractCore's global tool registry.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.errors import MissingExtraError
from abstractruntime.integrations.abstractcore._abstractcore import import_abstractcore_module

try:  # through the runtime's own import, which keeps the host's logging set-up (see that function)
    import_abstractcore_module(feature="the local-mode tests")
except MissingExtraError:
    pytest.skip(
        "the local mode needs the optional 'abstractcore' extra (pip install abstractcore)",
        allow_module_level=True,
    )

import abstractcore
from abstractcore.core.retry import RetryConfig
from abstractcore.tools.registry import get_registry

from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec
from abstractruntime.core.config import RuntimeConfig
from abstractruntime.core.models import RunState, RunStatus
from abstractruntime.errors import LLMAuthError, LLMNotFoundError, LLMRateLimitError
from abstractruntime.integrations.abstractcore import (
    create_hybrid_runtime,
    create_local_file_runtime,
    create_local_runtime,
)
from abstractruntime.integrations.abstractcore.llm_client import (
    LocalAbstractCoreLLMClient,
    MultiLocalAbstractCoreLLMClient,
)
from abstractruntime.integrations.abstractcore.summarizer import AbstractCoreChatSummarizer
from abstractruntime.integrations.abstractcore.tool_executor import (
    AbstractCoreToolExecutor,
    ApprovalToolExecutor,
)
from abstractruntime.storage.json_files import JsonFileRunStore, JsonlLedgerStore
from abstractruntime.storage.observable import ObservableLedgerStore
from abstractruntime.testing.openai_stub import OpenAIStubServer, StubResponse, chat_completion

PROVIDER = "openai-compatible"
NO_RETRY = {"retry_config": RetryConfig(max_attempts=1)}


def _kwargs(server: OpenAIStubServer) -> dict[str, Any]:
    return {"base_url": f"{server.base_url}/v1", **NO_RETRY}


def add_numbers(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture(autouse=True)
def close_providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close the HTTP client of every AbstractCore provider a test creates (no leaked sockets)."""
    created: list[Any] = []
    real = abstractcore.create_llm

    def tracking(*args: Any, **kwargs: Any) -> Any:
        created.append(real(*args, **kwargs))
        return created[-1]

    monkeypatch.setattr(abstractcore, "create_llm", tracking)
    yield
    for provider in created:
        provider.client.close()


@pytest.fixture
def add_tool() -> Iterator[str]:
    """``add_numbers`` registered in AbstractCore's global registry for the test only."""
    registry = get_registry()
    registry.register(add_numbers)
    yield "add_numbers"
    registry.unregister("add_numbers")


# ---------------------------------------------------------------------------------------------- workflows
def _ask(run: RunState, ctx: Any) -> StepPlan:
    turn = len(run.vars.get("turns", []))
    prompt = "add 2 and 3" if turn == 0 else f"the tool said {run.vars['tools']['results'][0]['output']}"
    payload: dict[str, Any] = {"prompt": prompt, "tools": ["add_numbers"]}
    payload.update(run.vars.get("route", {}))
    return StepPlan(node_id="ask", effect=Effect(EffectType.LLM_CALL, payload, "llm"), next_node="route")


def _route(run: RunState, ctx: Any) -> StepPlan:
    run.vars.setdefault("turns", []).append(run.vars["llm"]["content"])
    calls = run.vars["llm"].get("tool_calls") or []
    if calls and len(run.vars["turns"]) < 3:
        effect = Effect(EffectType.TOOL_CALLS, {"tool_calls": calls}, "tools")
        return StepPlan(node_id="route", effect=effect, next_node="ask")
    return StepPlan(node_id="route", complete_output={"answer": run.vars["llm"]["content"]})


LOOP = WorkflowSpec(workflow_id="local_loop", entry_node="ask", nodes={"ask": _ask, "route": _route})


def _wait(run: RunState, ctx: Any) -> StepPlan:
    return StepPlan(
        node_id="wait", effect=Effect(EffectType.WAIT_EVENT, {"name": "go"}, "event"), next_node="done"
    )


def _done(run: RunState, ctx: Any) -> StepPlan:
    return StepPlan(
        node_id="done", complete_output={"llm": run.vars["llm"]["content"], "event": run.vars["event"]}
    )


def _ask_then_wait(run: RunState, ctx: Any) -> StepPlan:
    return StepPlan(
        node_id="ask", effect=Effect(EffectType.LLM_CALL, {"prompt": "hi"}, "llm"), next_node="wait"
    )


WAITING = WorkflowSpec(
    workflow_id="local_wait", entry_node="ask", nodes={"ask": _ask_then_wait, "wait": _wait, "done": _done}
)


def _tool_turn(call_id: str = "c1") -> dict[str, Any]:
    return chat_completion(
        None, tool_calls=[{"name": "add_numbers", "arguments": {"a": 2, "b": 3}, "id": call_id}]
    )


# -------------------------------------------------------------------------------------------------- tests
def test_plain_llm_call_completes_with_the_stub_text() -> None:
    with OpenAIStubServer(["hello from the stub"]) as server:
        runtime = create_local_runtime(provider=PROVIDER, model="stub-model", llm_kwargs=_kwargs(server))
        run_id = runtime.start(workflow=WAITING)
        state = runtime.tick(workflow=WAITING, run_id=run_id)
        runtime._abstractcore_llm_client.close()  # type: ignore[attr-defined]
        sent = server.chat_requests[0].json
    assert state.status == RunStatus.WAITING  # the LLM call ran, the workflow now waits for "go"
    llm = state.vars["llm"]
    assert llm["content"] == "hello from the stub"
    assert llm["finish_reason"] == "stop" and llm["model"] == "stub-model"
    assert llm["usage"]["input_tokens"] == 10 and llm["usage"]["output_tokens"] == 5
    assert llm["tool_calls"] is None
    assert sent["model"] == "stub-model" and sent["messages"][-1]["content"].endswith("hi")
    assert isinstance(runtime.ledger_store, ObservableLedgerStore)
    assert state.vars["_limits"]["max_tokens"] > 0


def test_tool_loop_over_two_turns_runs_the_registered_tool(add_tool: str) -> None:
    with OpenAIStubServer([_tool_turn(), "the sum is 5"]) as server:
        runtime = create_local_runtime(provider=PROVIDER, model="stub-model", llm_kwargs=_kwargs(server))
        run_id = runtime.start(workflow=LOOP)
        state = runtime.tick(workflow=LOOP, run_id=run_id)
        second = server.chat_requests[1].json
    assert state.status == RunStatus.COMPLETED, state.error
    assert state.output == {"answer": "the sum is 5"}
    result = state.vars["tools"]["results"][0]
    assert result["success"] is True and result["output"] == 5 and result["call_id"] == "c1"
    assert "the tool said 5" in second["messages"][-1]["content"]
    assert isinstance(runtime._tool_executor, AbstractCoreToolExecutor)  # registered for resumes


def test_approval_wait_survives_a_new_runtime_and_resumes(tmp_path: Path, add_tool: str) -> None:
    def build(server: OpenAIStubServer) -> Any:
        approvals = ApprovalToolExecutor(delegate=AbstractCoreToolExecutor())
        return create_local_runtime(
            provider=PROVIDER,
            model="stub-model",
            llm_kwargs=_kwargs(server),
            run_store=JsonFileRunStore(tmp_path),
            ledger_store=JsonlLedgerStore(tmp_path),
            tool_executor=approvals,
        )

    with OpenAIStubServer([_tool_turn("c9"), "done: 5"]) as server:
        first = build(server)
        run_id = first.start(workflow=LOOP)
        state = first.tick(workflow=LOOP, run_id=run_id)
        assert state.status == RunStatus.WAITING and state.waiting is not None
        assert state.waiting.details["kind"] == "tool_approval"
        second = build(server)  # a new process would do the same: the wait is on disk
        state = second.resume(
            workflow=LOOP, run_id=run_id, wait_key=state.waiting.wait_key, payload={"approved": True}
        )
    assert state.status == RunStatus.COMPLETED, state.error
    assert state.output == {"answer": "done: 5"}
    assert state.vars["tools"]["results"][0]["output"] == 5


def test_hybrid_runtime_calls_the_server_and_runs_tools_locally(add_tool: str) -> None:
    with OpenAIStubServer([_tool_turn(), "five"]) as server:
        runtime = create_hybrid_runtime(server_base_url=server.base_url, model="m", tool_timeout_s=30)
        run_id = runtime.start(workflow=LOOP)
        state = runtime.tick(workflow=LOOP, run_id=run_id)
        runtime._abstractcore_llm_client.close()  # type: ignore[attr-defined]
    assert state.status == RunStatus.COMPLETED, state.error
    assert state.output == {"answer": "five"}
    assert state.vars["tools"]["results"][0]["output"] == 5
    executor = runtime._tool_executor
    assert isinstance(executor, AbstractCoreToolExecutor) and executor.timeout_s == 30


def test_local_file_runtime_survives_reopen(tmp_path: Path) -> None:
    with OpenAIStubServer(["stored answer"]) as server:
        first = create_local_file_runtime(
            base_dir=tmp_path, provider=PROVIDER, model="stub-model", llm_kwargs=_kwargs(server)
        )
        run_id = first.start(workflow=WAITING)
        waiting = first.tick(workflow=WAITING, run_id=run_id)
        assert waiting.status == RunStatus.WAITING and waiting.waiting is not None
        reopened = create_local_file_runtime(
            base_dir=tmp_path, provider=PROVIDER, model="stub-model", llm_kwargs=_kwargs(server)
        )
        state = reopened.resume(
            workflow=WAITING, run_id=run_id, wait_key=waiting.waiting.wait_key, payload={"ok": 1}
        )
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"llm": "stored answer", "event": {"ok": 1}}
    client = reopened._abstractcore_llm_client  # type: ignore[attr-defined]
    assert client.bloc_root_dir == tmp_path / "blocs"
    assert client.prompt_cache_export_root_dir == tmp_path / "prompt_cache_exports"


def test_unauthorized_stub_fails_the_run_with_the_typed_error() -> None:
    with OpenAIStubServer([StubResponse.error(401, "bad key")]) as server:
        runtime = create_local_runtime(provider=PROVIDER, model="stub-model", llm_kwargs=_kwargs(server))
        run_id = runtime.start(workflow=WAITING)
        state = runtime.tick(workflow=WAITING, run_id=run_id)
    assert state.status == RunStatus.FAILED
    assert "LLMAuthError" in (state.error or "") and "bad key" in (state.error or "")
    assert len(server.chat_requests) == 1  # 401 is not retried


def test_client_maps_abstractcore_errors_to_the_llm_error_family() -> None:
    script = [StubResponse.error(401, "no"), StubResponse.error(404, "gone"), StubResponse.error(429, "slow")]
    with OpenAIStubServer(script) as server:
        client = LocalAbstractCoreLLMClient(provider=PROVIDER, model="stub-model", llm_kwargs=_kwargs(server))
        with pytest.raises(LLMAuthError) as auth:
            client.generate(prompt="a")
        with pytest.raises(LLMNotFoundError):
            client.generate(prompt="b")
        with pytest.raises(LLMRateLimitError) as limited:
            client.generate(prompt="c")
    assert auth.value.retryable is False and auth.value.status == 401
    assert limited.value.retryable is True


def test_multi_client_routes_per_request_and_keeps_clients_warm() -> None:
    with OpenAIStubServer(["one", "two", "three"]) as server:
        kwargs = {**_kwargs(server), "validate_model": False}  # the stub lists only stub-model
        multi = MultiLocalAbstractCoreLLMClient(provider=PROVIDER, model="stub-model", llm_kwargs=kwargs)
        multi.generate(prompt="x")
        routed = multi.generate(prompt="y", params={"model": "other-model", "temperature": 0.2})
        multi.generate(prompt="z", params={"_model": "other-model"})
        multi.close()
        models = [r.json["model"] for r in server.chat_requests]
        temperatures = [r.json.get("temperature") for r in server.chat_requests]
    assert models == ["stub-model", "other-model", "other-model"]
    assert temperatures[1] == 0.2
    assert routed["content"] == "two"
    assert [route[1] for route in multi.routes] == ["stub-model", "other-model"]  # reused, not rebuilt
    assert multi.default_prompt_cache_identity() == (PROVIDER, "stub-model")


def test_a_routed_model_the_server_lacks_fails_with_not_found() -> None:
    with OpenAIStubServer([StubResponse.error(404, "model 'no-such-model' not found")]) as server:
        kwargs = {**_kwargs(server), "validate_model": False}
        multi = MultiLocalAbstractCoreLLMClient(provider=PROVIDER, model="stub-model", llm_kwargs=kwargs)
        with pytest.raises(LLMNotFoundError) as missing:
            multi.generate(prompt="x", params={"model": "no-such-model"})
        sent = server.chat_requests[0].json
    assert sent["model"] == "no-such-model"
    assert missing.value.retryable is False and "no-such-model" in str(missing.value)


def test_structured_output_and_params_reach_the_provider() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["city"],
    }
    with OpenAIStubServer(['{"city": "Paris", "n": 3}']) as server:
        client = LocalAbstractCoreLLMClient(provider=PROVIDER, model="stub-model", llm_kwargs=_kwargs(server))
        result = client.generate(
            prompt="where?", params={"response_schema": schema, "max_tokens": 64, "trace_id": "t-1"}
        )
        sent = server.chat_requests[0].json
    assert result["data"] == {"city": "Paris", "n": 3}
    assert result["trace_id"] == "t-1"
    assert sent["max_tokens"] == 64


def test_local_factory_merges_model_capabilities_into_the_config() -> None:
    with OpenAIStubServer() as server:
        plain = create_local_runtime(provider=PROVIDER, model="stub-model", llm_kwargs=_kwargs(server))
        given = create_local_runtime(
            provider=PROVIDER,
            model="stub-model",
            llm_kwargs=_kwargs(server),
            config=RuntimeConfig(max_iterations=7),
        )
        caps = plain._abstractcore_llm_client.get_model_capabilities()  # type: ignore[attr-defined]
    assert caps and plain.config.model_capabilities == caps
    assert (plain.config.provider, plain.config.model) == (PROVIDER, "stub-model")
    assert given.config.max_iterations == 7 and given.config.model_capabilities == caps


def test_abstractcore_tool_executor_results_and_timeouts(add_tool: str) -> None:
    release = threading.Event()

    def stuck() -> str:
        release.wait(10)
        return "late"

    registry = get_registry()
    registry.register(stuck)
    executor = AbstractCoreToolExecutor(timeout_s=None)
    try:
        executor.set_timeout_s(0.05)
        out = executor.execute(
            tool_calls=[
                {"name": "add_numbers", "arguments": '{"a": "4", "b": 1}', "call_id": "k1"},
                {"name": "missing_tool", "arguments": {}},
                {"name": "stuck", "arguments": {}},
            ]
        )
    finally:
        release.set()
        registry.unregister("stuck")
    first, missing, slow = out["results"]
    assert out["mode"] == "executed"
    assert first == {
        "call_id": "k1",
        "runtime_call_id": None,
        "name": "add_numbers",
        "success": True,
        "output": 5,
        "error": None,
    }
    assert missing["success"] is False and missing["error"] == "Tool 'missing_tool' not found"
    assert slow["success"] is False and "timed out" in slow["error"]
    assert "add_numbers" in executor.tool_names


def test_docs_local_mode_snippet_runs_against_the_stub() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "llm.md").read_text(encoding="utf-8")
    section = text.split("## Local mode (in-process AbstractCore)", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    with OpenAIStubServer([_tool_turn(), "The sum is 5"], model="my-model") as server:
        code = match.group(1).replace("http://localhost:8080/v1", f"{server.base_url}/v1")
        namespace: dict[str, Any] = {"__name__": "local_doc"}
        try:
            exec(compile(code, "docs/llm.md", "exec"), namespace)
        finally:
            get_registry().unregister("add_numbers")
    assert namespace["state"].output == {"answer": "The sum is 5"}
    assert namespace["state"].vars["tools"]["results"][0]["output"] == 5


def _compact(run: RunState, ctx: Any) -> StepPlan:
    run.vars.setdefault("context", {})["messages"] = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}: we discuss databases"}
        for i in range(6)
    ]
    effect = Effect(EffectType.MEMORY_COMPACT, {"preserve_recent": 2}, "compacted")
    return StepPlan(node_id="compact", effect=effect, next_node="end")


def _compacted(run: RunState, ctx: Any) -> StepPlan:
    return StepPlan(node_id="end", complete_output={"messages": run.vars["context"]["messages"]})


def test_memory_compact_is_summarised_by_the_local_model() -> None:
    summary = {
        "summary": "They chose PostgreSQL.",
        "key_points": ["database: PostgreSQL"],
        "confidence": 0.9,
        "focus_alignment": 0.8,
        "word_count_original": 30,
        "word_count_summary": 3,
    }
    flow = WorkflowSpec(
        workflow_id="local_compact", entry_node="compact", nodes={"compact": _compact, "end": _compacted}
    )
    with OpenAIStubServer([json.dumps(summary)]) as server:
        runtime = create_local_runtime(provider=PROVIDER, model="stub-model", llm_kwargs=_kwargs(server))
        state = runtime.tick(workflow=flow, run_id=runtime.start(workflow=flow))
        (request,) = server.chat_requests  # one direct summarisation call, no LLM_CALL child run
    assert isinstance(runtime.chat_summarizer, AbstractCoreChatSummarizer)
    assert state.status == RunStatus.COMPLETED, state.error
    prompt = json.dumps(request.json["messages"])
    assert "turn 0: we discuss databases" in prompt and "turn 3: we discuss databases" in prompt
    assert "turn 4: we discuss databases" not in prompt  # the two newest stay verbatim
    messages = state.output["messages"]
    assert len(messages) == 3 and "They chose PostgreSQL." in messages[0]["content"]
    assert [m["content"] for m in messages[1:]] == [
        "turn 4: we discuss databases",
        "turn 5: we discuss databases",
    ]
