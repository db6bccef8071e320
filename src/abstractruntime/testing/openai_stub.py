"""A loopback OpenAI-compatible chat server for tests (standard library only).

:class:`OpenAIStubServer` listens on ``127.0.0.1`` (a free port) in a background thread, answers
``POST /v1/chat/completions`` turn by turn from a script and records every request, so tests can drive a
real HTTP client (``RemoteAbstractCoreLLMClient``) without a model::

    from abstractruntime.testing.openai_stub import OpenAIStubServer, StubResponse, chat_completion

    with OpenAIStubServer(["hello", StubResponse.error(429, "slow down"), chat_completion("again")]) as srv:
        client = RemoteAbstractCoreLLMClient(server_base_url=srv.base_url, model="m")
        ...
        assert srv.requests[0].json["messages"][-1] == {"role": "user", "content": "hi"}

Script items (consumed one per chat request; a ``GET /v1/models`` does not use one): a string (an assistant answer), a dict (a JSON body sent with
status 200, e.g. :func:`chat_completion`), or a :class:`StubResponse` (any status, raw text, headers, a
delay in seconds).  When the script is empty, ``responder(request)`` is called if given, else the answer
echoes the last user message (``"echo: <text>"``).  ``GET /v1/models`` lists ``model``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OpenAIStubServer", "RecordedRequest", "StubResponse", "chat_completion"]


def chat_completion(
    content: str | None = "",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    model: str = "stub-model",
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """An OpenAI chat-completion body with one choice.

    Args:
        content: the assistant text (``None`` is sent as JSON ``null``).
        tool_calls: ``[{"name", "arguments": dict|str, "id"?}]``, sent in the OpenAI ``function`` format
            (dict arguments are JSON-encoded, as real servers do).
        finish_reason: default ``"tool_calls"`` when there are tool calls, else ``"stop"``.
        model: the ``model`` field.
        usage: the ``usage`` field (default: token counts of 10 prompt + 5 completion).
    """
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": call.get("id") or f"call_{i}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": call["arguments"]
                    if isinstance(call.get("arguments"), str)
                    else json.dumps(call.get("arguments") or {}),
                },
            }
            for i, call in enumerate(tool_calls)
        ]
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
        "usage": usage or {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


@dataclass
class StubResponse:
    """One scripted HTTP answer.

    Attributes:
        status: HTTP status code.
        body: a dict/list (sent as JSON) or a string (sent as is, e.g. malformed JSON).
        headers: extra response headers.
        delay_s: seconds to wait before answering (to provoke client timeouts).
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    @classmethod
    def error(
        cls, status: int, message: str = "error", headers: dict[str, str] | None = None
    ) -> StubResponse:
        """An OpenAI-style error body ``{"error": {"message", "code"}}`` with ``status``."""
        body = {"error": {"message": message, "code": status}}
        return cls(status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def malformed(cls, text: str = "this is not json {") -> StubResponse:
        """Status 200 with a body that is not a chat completion."""
        return cls(status=200, body=text)


@dataclass
class RecordedRequest:
    """A request the stub received: ``headers`` keys are lower-case; ``json`` is None when not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    text: str


Responder = Callable[[RecordedRequest], "str | dict[str, Any] | StubResponse"]


class OpenAIStubServer:
    """A scripted OpenAI-compatible server on ``127.0.0.1:<free port>`` (see the module docstring).

    Args:
        script: answers used in order, one per chat request.
        responder: called with the :class:`RecordedRequest` once the script is empty.
        model: the model name listed by ``GET /v1/models``.

    Use it as a context manager, or call :meth:`close` (it stops the thread and frees the port).
    """

    def __init__(
        self,
        script: Iterable[str | dict[str, Any] | StubResponse] | None = None,
        *,
        responder: Responder | None = None,
        model: str = "stub-model",
    ) -> None:
        self._script: list[str | dict[str, Any] | StubResponse] = list(script or [])
        self._responder = responder
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="openai-stub", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (without ``/v1``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def push(self, *items: str | dict[str, Any] | StubResponse) -> None:
        """Append answers to the script."""
        with self._lock:
            self._script.extend(items)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST .../chat/completions`` requests, in order."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def close(self) -> None:
        """Stop serving (wakes delayed answers) and close the listening socket."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStubServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _answer(self, request: RecordedRequest) -> StubResponse:
        if request.method == "GET" and request.path.rstrip("/").endswith("/models"):
            with self._lock:  # a model listing does not consume a scripted answer
                self.requests.append(request)
            return StubResponse(body={"object": "list", "data": [{"id": self.model, "object": "model"}]})
        with self._lock:
            self.requests.append(request)
            item = self._script.pop(0) if self._script else None
        if item is None:
            item = self._responder(request) if self._responder is not None else _echo(request, self.model)
        if isinstance(item, StubResponse):
            return item
        if isinstance(item, str):
            return StubResponse(body=chat_completion(item, model=self.model))
        return StubResponse(body=item)


def _echo(request: RecordedRequest, model: str) -> StubResponse:
    messages = request.json.get("messages") if isinstance(request.json, dict) else None
    users = [m for m in messages or [] if isinstance(m, dict) and m.get("role") == "user"]
    text = users[-1].get("content") if users else ""
    return StubResponse(body=chat_completion(f"echo: {text}", model=model))


def _make_handler(stub: OpenAIStubServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            text = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            try:
                parsed: Any = json.loads(text) if text else None
            except ValueError:
                parsed = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = stub._answer(RecordedRequest(self.command, self.path, headers, parsed, text))
            if answer.delay_s > 0 and stub._closing.wait(answer.delay_s):
                return
            body = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
            data = body.encode("utf-8")
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # the stub is silent
            return

    return _Handler
