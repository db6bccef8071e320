"""RemoteAbstractCoreLLMClient against the loopback OpenAI stub (real HTTP over 127.0.0.1)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from abstractruntime.errors import (
    LLMAuthError,
    LLMCallError,
    LLMConnectionError,
    LLMNotFoundError,
    LLMRateLimitError,
    LLMResponseError,
    LLMServerError,
    MissingExtraError,
)
from abstractruntime.integrations.abstractcore.llm_client import (
    PROVIDER_KEY_HEADER,
    TRACE_ID_HEADER,
    RemoteAbstractCoreLLMClient,
)
from abstractruntime.testing import OpenAIStubServer, StubResponse, chat_completion


@pytest.fixture
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer() as server:
        yield server


@pytest.fixture
def client(stub: OpenAIStubServer) -> Iterator[RemoteAbstractCoreLLMClient]:
    llm = RemoteAbstractCoreLLMClient(
        server_base_url=stub.base_url,
        model="qwen3:4b",
        headers={"Authorization": "Bearer s3cret"},
        timeout_s=5,
    )
    yield llm
    llm.close()


def test_request_body_and_headers_are_exact(
    stub: OpenAIStubServer, client: RemoteAbstractCoreLLMClient
) -> None:
    stub.push("hello there")
    result = client.generate(
        prompt="Say hi",
        messages=[{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "ok"}],
        system_prompt="Be brief.",
        params={"temperature": 0.2, "max_output_tokens": 64, "provider_api_key": "pk-1", "trace_id": "t-1"},
    )
    (request,) = stub.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.json == {
        "model": "qwen3:4b",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "Say hi"},
        ],
        "stream": False,
        "temperature": 0.2,
        "max_tokens": 64,
    }
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers[PROVIDER_KEY_HEADER.lower()] == "pk-1"
    assert request.headers[TRACE_ID_HEADER.lower()] == "t-1"
    assert request.headers["content-type"] == "application/json"
    assert result["content"] == "hello there"
    assert result["trace_id"] == "t-1"
    assert result["finish_reason"] == "stop"
    assert result["tool_calls"] is None
    assert result["data"] is None
    assert result["model"] == "stub-model"
    assert result["usage"]["input_tokens"] == 10 and result["usage"]["output_tokens"] == 5
    assert isinstance(result["gen_time"], float) and result["gen_time"] >= 0
    assert result["metadata"]["server_base_url"] == stub.base_url


def test_no_provider_key_header_without_key_and_fresh_trace_ids(
    stub: OpenAIStubServer, client: RemoteAbstractCoreLLMClient
) -> None:
    first = client.generate(prompt="a")
    second = client.generate(prompt="b")
    assert PROVIDER_KEY_HEADER.lower() not in stub.requests[0].headers
    assert first["trace_id"] != second["trace_id"]
    assert stub.requests[1].headers[TRACE_ID_HEADER.lower()] == second["trace_id"]
    assert second["content"] == "echo: b"


def test_base_url_with_v1_suffix_and_model_override(stub: OpenAIStubServer) -> None:
    llm = RemoteAbstractCoreLLMClient(server_base_url=stub.base_url + "/v1/", model="m", timeout_s=5)
    llm.generate(prompt="x", params={"model": "other", "provider": "ollama", "api_key": "k2"})
    llm.close()
    assert stub.requests[0].path == "/v1/chat/completions"
    assert stub.requests[0].json["model"] == "ollama/other"
    assert stub.requests[0].headers[PROVIDER_KEY_HEADER.lower()] == "k2"


def test_tools_and_tool_call_normalization(
    stub: OpenAIStubServer, client: RemoteAbstractCoreLLMClient
) -> None:
    stub.push(
        chat_completion(
            None,
            tool_calls=[
                {"name": "read_file", "arguments": {"path": "a.txt"}, "id": "call_abc"},
                {"name": "ls", "arguments": "not json"},
                {"name": "grep", "arguments": ""},
            ],
        )
    )
    tools = [
        {"name": "read_file", "description": "Read a file", "parameters": {"type": "object"}},
        {"type": "function", "function": {"name": "ls", "parameters": {"type": "object", "properties": {}}}},
    ]
    result = client.generate(prompt="list", tools=tools, params={"tool_choice": "auto"})
    assert stub.requests[0].json["tools"] == [
        {
            "type": "function",
            "function": {"name": "read_file", "parameters": {"type": "object"}, "description": "Read a file"},
        },
        {"type": "function", "function": {"name": "ls", "parameters": {"type": "object", "properties": {}}}},
    ]
    assert stub.requests[0].json["tool_choice"] == "auto"
    assert result["content"] is None
    assert result["finish_reason"] == "tool_calls"
    assert result["tool_calls"] == [
        {"name": "read_file", "arguments": {"path": "a.txt"}, "call_id": "call_abc"},
        {"name": "ls", "arguments": {}, "call_id": "call_1"},
        {"name": "grep", "arguments": {}, "call_id": "call_2"},
    ]


def test_response_schema_becomes_json_schema_format_and_data(
    stub: OpenAIStubServer, client: RemoteAbstractCoreLLMClient
) -> None:
    stub.push('```json\n{"answer": 42}\n```')
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    result = client.generate(prompt="q", params={"response_schema": schema, "response_schema_name": "Answer"})
    assert stub.requests[0].json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": schema},
    }
    assert result["data"] == {"answer": 42}
    client.generate(prompt="q", params={"response_format": "json"})
    assert stub.requests[1].json["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("answer", "error", "retryable"),
    [
        (StubResponse.error(401, "bad key"), LLMAuthError, False),
        (StubResponse.error(403, "forbidden"), LLMAuthError, False),
        (StubResponse.error(404, "model 'qwen3:4b' not found"), LLMNotFoundError, False),
        (StubResponse.error(429, "slow down", {"Retry-After": "3"}), LLMRateLimitError, True),
        (StubResponse.error(500, "boom"), LLMServerError, True),
        (StubResponse.error(503, "overloaded"), LLMServerError, True),
        (StubResponse.error(400, "bad request"), LLMCallError, False),
        (StubResponse.malformed(), LLMResponseError, False),
        (StubResponse(body={"choices": []}), LLMResponseError, False),
    ],
)
def test_http_failures_raise_typed_errors(
    stub: OpenAIStubServer,
    client: RemoteAbstractCoreLLMClient,
    answer: StubResponse,
    error: type[LLMCallError],
    retryable: bool,
) -> None:
    stub.push(answer)
    with pytest.raises(error) as info:
        client.generate(prompt="x")
    assert type(info.value) is error
    assert info.value.retryable is retryable
    assert info.value.status == answer.status
    assert info.value.url == f"{stub.base_url}/v1/chat/completions"
    if answer.status == 404:
        assert "model 'qwen3:4b' not found" in str(info.value)
    if answer.status == 429:
        assert isinstance(info.value, LLMRateLimitError) and info.value.retry_after_s == 3.0
    if answer.status == 401:
        assert "Authorization" in str(info.value)


def test_slow_server_times_out(stub: OpenAIStubServer) -> None:
    stub.push(StubResponse(body=chat_completion("late"), delay_s=5.0))
    llm = RemoteAbstractCoreLLMClient(server_base_url=stub.base_url, model="m", timeout_s=0.3)
    with pytest.raises(LLMConnectionError) as info:
        llm.generate(prompt="x")
    llm.close()
    assert info.value.timed_out is True and info.value.retryable is True and info.value.status is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_retryable() -> None:
    llm = RemoteAbstractCoreLLMClient(
        server_base_url=f"http://127.0.0.1:{_free_port()}", model="m", timeout_s=2
    )
    with pytest.raises(LLMConnectionError) as info:
        llm.generate(prompt="x")
    llm.close()
    assert info.value.retryable is True and info.value.timed_out is False
    assert "unreachable" in str(info.value)


class RecordingSender:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def send(self, method: str, url: str, *, headers: Any, json: Any, timeout_s: float | None) -> Any:
        self.calls.append(
            {"method": method, "url": url, "headers": dict(headers), "json": json, "timeout": timeout_s}
        )
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_injected_request_sender_is_used() -> None:
    sender = RecordingSender((200, {"X-Id": "1"}, chat_completion("from sender")))
    llm = RemoteAbstractCoreLLMClient(
        server_base_url="http://llm.invalid", model="m", timeout_s=7, request_sender=sender
    )
    assert llm.generate(prompt="hi")["content"] == "from sender"
    assert sender.calls[0]["url"] == "http://llm.invalid/v1/chat/completions"
    assert sender.calls[0]["timeout"] == 7
    sender.answer = ConnectionResetError("reset by peer")
    with pytest.raises(LLMConnectionError):
        llm.generate(prompt="hi")


def test_media_is_refused_and_capabilities_and_cache_identity() -> None:
    llm = RemoteAbstractCoreLLMClient(
        server_base_url="http://x", model="lmstudio/qwen", request_sender=RecordingSender(None)
    )
    with pytest.raises(LLMCallError):
        llm.generate(prompt="x", media=["a.png"])
    assert llm.get_model_capabilities() == {}
    assert llm.default_prompt_cache_identity() == ("lmstudio", "qwen")
    plain = RemoteAbstractCoreLLMClient(
        server_base_url="http://x", model="qwen", request_sender=RecordingSender(None)
    )
    assert plain.default_prompt_cache_identity() == ("remote", "qwen")


def test_package_import_does_not_import_httpx_and_missing_httpx_names_the_extra() -> None:
    code = (
        "import sys\n"
        "import abstractruntime.integrations.abstractcore as ac\n"
        "assert 'httpx' not in sys.modules, 'httpx imported eagerly'\n"
        "assert 'build_effect_handlers' in ac.__all__ and 'RemoteAbstractCoreLLMClient' in ac.__all__\n"
        "sys.modules['httpx'] = None\n"
        "from abstractruntime.errors import MissingExtraError\n"
        "try:\n"
        "    ac.RemoteAbstractCoreLLMClient(server_base_url='http://x', model='m')\n"
        "except MissingExtraError as exc:\n"
        "    print(exc.extra, exc.module)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["llm", "httpx"]
    assert issubclass(MissingExtraError, ImportError)
