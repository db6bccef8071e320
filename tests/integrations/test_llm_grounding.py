"""LLM_CALL grounding: the <runtime_metadata> prefix on the user turn, recorded once, and how to turn it off."""

from __future__ import annotations

import pytest
from llm_media_helpers import NOW, run_call

from abstractruntime.integrations.abstractcore.grounding import (
    apply_grounding,
    grounding_prefix,
    host_country,
    runtime_grounding,
)
from abstractruntime.integrations.abstractcore.llm_client import RemoteAbstractCoreLLMClient
from abstractruntime.testing import FakeClock, OpenAIStubServer, StubResponse

PREFIX = '<runtime_metadata>{"country":"FR","current_time_utc":"2026-03-04T05:06:07Z"}</runtime_metadata>\n\n'


@pytest.fixture(autouse=True)
def host_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABSTRACTRUNTIME_GROUNDING", raising=False)
    monkeypatch.setenv("ABSTRACTRUNTIME_COUNTRY", "fr")


def test_the_prompt_gets_the_prefix_and_the_result_records_it(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    state = run_call(llm, {"prompt": "What day is it?", "system_prompt": "sys"})
    assert state.status.value == "completed", state.error
    assert stub.chat_requests[0].json["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": PREFIX + "What day is it?"},
    ]
    result = state.output["llm"]
    assert result["metadata"]["runtime_grounding"] == {
        "current_time_utc": "2026-03-04T05:06:07Z",
        "country": "FR",
    }
    assert result["content"] == "echo: What day is it?"  # the stub's echo drops the prefix
    observed = result["metadata"]["_runtime_observability"]["llm_generate_kwargs"]
    assert observed["prompt"] == "What day is it?"  # what the flow asked, not what was sent


def test_messages_only_calls_ground_the_last_user_message(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    messages = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    run_call(llm, {"messages": messages})
    assert stub.chat_requests[0].json["messages"] == [
        *messages[:2],
        {"role": "user", "content": PREFIX + "three"},
    ]
    assert messages[2]["content"] == "three"  # the payload is not modified


def test_the_time_is_computed_once_per_call_and_kept_across_retries(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    stub.push(StubResponse.error(503, "busy", headers={"Retry-After": "60"}), "ok")
    clock = FakeClock(NOW)
    state = run_call(llm, {"prompt": "hi"}, clock=clock)
    first, second = (r.json["messages"][-1]["content"] for r in stub.chat_requests)
    assert first == PREFIX + "hi"  # attempt 1 at NOW
    assert second.startswith('<runtime_metadata>{"country":"FR","current_time_utc":"2026-03-04T05:07:07Z"}')
    assert state.output["llm"]["metadata"]["runtime_grounding"]["current_time_utc"] == "2026-03-04T05:07:07Z"


def test_use_context_stores_the_turn_without_the_prefix(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient
) -> None:
    state = run_call(llm, {"prompt": "remember me", "use_context": True})
    assert stub.chat_requests[0].json["messages"][-1]["content"] == PREFIX + "remember me"
    user_turn = state.vars["context"]["messages"][0]
    assert (user_turn["role"], user_turn["content"]) == ("user", "remember me")


@pytest.mark.parametrize(
    "case",
    [
        (False, None, None),
        (None, {"_runtime": {"grounding": False}}, None),
        (None, None, "off"),
    ],
)
def test_grounding_can_be_turned_off(
    stub: OpenAIStubServer,
    llm: RemoteAbstractCoreLLMClient,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[bool | None, dict[str, object] | None, str | None],
) -> None:
    payload_flag, vars, env = case
    if env is not None:
        monkeypatch.setenv("ABSTRACTRUNTIME_GROUNDING", env)
    payload: dict[str, object] = {"prompt": "plain"}
    if payload_flag is not None:
        payload["runtime_grounding"] = payload_flag
    state = run_call(llm, payload, vars=vars)
    assert stub.chat_requests[0].json["messages"] == [{"role": "user", "content": "plain"}]
    assert "runtime_grounding" not in state.output["llm"]["metadata"]


def test_a_payload_flag_wins_over_the_host_switches(
    stub: OpenAIStubServer, llm: RemoteAbstractCoreLLMClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABSTRACTRUNTIME_GROUNDING", "0")
    run_call(llm, {"prompt": "x", "runtime_grounding": True}, vars={"_runtime": {"grounding": False}})
    assert stub.chat_requests[0].json["messages"][-1]["content"] == PREFIX + "x"


def test_country_comes_from_env_then_locale() -> None:
    assert host_country({"ABSTRACTRUNTIME_COUNTRY": " ch ", "LANG": "de_DE.UTF-8"}) == "CH"
    assert host_country({"LANG": "de_DE.UTF-8"}) == "DE"
    assert host_country({"LC_ALL": "pt_BR@latin", "LANG": "de_DE.UTF-8"}) == "BR"
    assert host_country({"LANG": "C.UTF-8"}) is None
    assert host_country({}) is None
    assert runtime_grounding(FakeClock(NOW).now(), env={}) == {"current_time_utc": "2026-03-04T05:06:07Z"}


def test_apply_grounding_on_content_parts_and_without_a_user_turn() -> None:
    grounding = {"current_time_utc": "T"}
    parts = [{"type": "text", "text": "see"}]
    _, messages = apply_grounding("", [{"role": "user", "content": parts}], grounding)
    assert messages == [
        {"role": "user", "content": [{"type": "text", "text": grounding_prefix(grounding).strip()}, *parts]}
    ]
    assert apply_grounding("", [{"role": "system", "content": "s"}], grounding) == (
        "",
        [{"role": "system", "content": "s"}],
    )
