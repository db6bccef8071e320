"""A loopback OpenAI-compatible chat server for tests (standard library only).

:class:`OpenAIStubServer` listens on ``127.0.0.1`` (a free port) in a background thread, answers
``POST /v1/chat/completions`` turn by turn from a script and records every request, so tests can drive a
real HTTP client (``RemoteAbstractCoreLLMClient``) without a model::

    from abstractruntime.testing.openai_stub import OpenAIStubServer, StubResponse, chat_completion

    with OpenAIStubServer(["hello", StubResponse.error(429, "slow down"), chat_completion("again")]) as srv:
        client = RemoteAbstractCoreLLMClient(server_base_url=srv.base_url, model="m")
        ...
        assert srv.requests[0].json["messages"][-1] == {"role": "user", "content": "hi"}

Script items (consumed one per request; a ``GET /v1/models`` does not use one): a string (an assistant
answer), a dict (a JSON body sent with status 200, e.g. :func:`chat_completion` or :func:`image_generation`),
or a :class:`StubResponse` (any status, raw text or bytes, headers, a delay in seconds).  When the script is
empty, ``responder(request)`` is called if given, else the answer echoes the last user message
(``"echo: <text>"``, without a leading ``<runtime_metadata>`` grounding prefix).  ``GET /v1/models`` lists
``model``.

The media endpoints answer from the same script, or by default: ``POST /v1/images/generations`` with
:func:`image_generation` of :data:`STUB_PNG`, ``/v1/audio/speech`` and ``/v1/audio/music`` with the bytes
:data:`STUB_AUDIO` (``audio/mpeg``), ``/v1/audio/transcriptions`` with ``{"text": "stub transcript"}``.
:func:`multipart_fields` reads a recorded multipart upload.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "OpenAIStubServer",
    "RecordedRequest",
    "STUB_AUDIO",
    "STUB_PNG",
    "StubResponse",
    "chat_completion",
    "image_generation",
    "multipart_fields",
]

STUB_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
"""A 1x1 PNG: the default image of ``POST /v1/images/generations``."""
STUB_AUDIO = b"ID3\x04\x00stub-audio"
"""The default bytes of ``POST /v1/audio/speech`` and ``/v1/audio/music``."""
_GROUNDING = re.compile(r"^<runtime_metadata>.*?</runtime_metadata>\s*", re.S)


def image_generation(*images: bytes) -> dict[str, Any]:
    """An OpenAI images answer ``{"created", "data": [{"b64_json"}]}`` (default: one :data:`STUB_PNG`)."""
    data = [{"b64_json": base64.b64encode(image).decode("ascii")} for image in images or (STUB_PNG,)]
    return {"created": 0, "data": data}


def multipart_fields(request: RecordedRequest) -> dict[str, Any]:
    """The fields of a recorded ``multipart/form-data`` request: ``{name: str}`` for plain fields and
    ``{name: (filename, content_type, bytes)}`` for files."""
    head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        filename = part.get_filename()
        if filename is None:
            fields[str(name)] = data.decode("utf-8")
        else:
            fields[str(name)] = (filename, part.get_content_type(), data)
    return fields


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
        body: a dict/list (sent as JSON), a string (sent as is, e.g. malformed JSON) or bytes (sent as is,
            with the ``Content-Type`` of ``headers``, default ``application/octet-stream``).
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
    def binary(cls, data: bytes, content_type: str = "audio/mpeg") -> StubResponse:
        """Status 200 with raw ``data`` of type ``content_type`` (an audio answer)."""
        return cls(status=200, body=data, headers={"Content-Type": content_type})

    @classmethod
    def malformed(cls, text: str = "this is not json {") -> StubResponse:
        """Status 200 with a body that is not a chat completion."""
        return cls(status=200, body=text)


@dataclass
class RecordedRequest:
    """A request the stub received: ``headers`` keys are lower-case; ``json`` is None when not JSON;
    ``body`` holds the raw bytes (multipart uploads)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    text: str
    body: bytes = b""


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

    @property
    def media_requests(self) -> list[RecordedRequest]:
        """The recorded requests to the images and audio endpoints, in order."""
        return [r for r in self.requests if "/images/" in r.path or "/audio/" in r.path]

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
            media = _media_default(request.path)
            if media is not None:
                return media
            item = self._responder(request) if self._responder is not None else _echo(request, self.model)
        if isinstance(item, StubResponse):
            return item
        if isinstance(item, str):
            return StubResponse(body=chat_completion(item, model=self.model))
        return StubResponse(body=item)


def _echo(request: RecordedRequest, model: str) -> StubResponse:
    messages = request.json.get("messages") if isinstance(request.json, dict) else None
    users = [m for m in messages or [] if isinstance(m, dict) and m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    if isinstance(content, list):  # content parts: echo the text ones
        content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    text = _GROUNDING.sub("", content) if isinstance(content, str) else content
    return StubResponse(body=chat_completion(f"echo: {text}", model=model))


def _media_default(path: str) -> StubResponse | None:
    route = path.split("?", 1)[0].rstrip("/")
    if route.endswith("/images/generations"):
        return StubResponse(body=image_generation())
    if route.endswith(("/audio/speech", "/audio/music")):
        return StubResponse.binary(STUB_AUDIO)
    if route.endswith("/audio/transcriptions"):
        return StubResponse(body={"text": "stub transcript"})
    return None


def _make_handler(stub: OpenAIStubServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            text = raw.decode("utf-8", "replace")
            try:
                parsed: Any = json.loads(text) if text else None
            except ValueError:
                parsed = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = stub._answer(RecordedRequest(self.command, self.path, headers, parsed, text, raw))
            if answer.delay_s > 0 and stub._closing.wait(answer.delay_s):
                return
            if isinstance(answer.body, bytes):
                data, content_type = answer.body, "application/octet-stream"
            else:
                body = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
                data, content_type = body.encode("utf-8"), "application/json"
            extra = {k: v for k, v in answer.headers.items() if k.lower() != "content-type"}
            given = [v for k, v in answer.headers.items() if k.lower() == "content-type"]
            self.send_response(answer.status)
            self.send_header("Content-Type", given[0] if given else content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # the stub is silent
            return

    return _Handler
