"""The HTTP guard in process: scopes other than HTTP, and how the body reaches the wrapped app."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from abstractruntime.integrations.abstractcore._mcp_security import HttpGuard, is_loopback_host

TOKEN = "guard-token"


class App:
    """The wrapped ASGI app: records what it was called with and the body it read."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        if scope["type"] == "http":
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        self.calls.append((scope["type"], body))


def drive(guard: HttpGuard, scope: dict[str, Any], chunks: list[bytes]) -> list[dict[str, Any]]:
    """Run one connection through ``guard``; the messages it sent back."""
    sent: list[dict[str, Any]] = []
    incoming = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(guard, scope, receive, send)
    return sent


def http_scope(**headers: str) -> dict[str, Any]:
    raw = [(k.lower().replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "method": "POST", "path": "/mcp", "headers": raw, "client": ("127.0.0.1", 1)}


def test_chunked_body_is_buffered_and_replayed_whole() -> None:
    app = App()
    guard = HttpGuard(app, token=TOKEN, max_body_bytes=10)
    sent = drive(
        guard, http_scope(host="localhost", authorization=f"Bearer {TOKEN}"), [b"abc", b"def", b"gh"]
    )
    assert sent[0]["status"] == 200 and app.calls == [("http", b"abcdefgh")]
    sent = drive(guard, http_scope(host="localhost", authorization=f"Bearer {TOKEN}"), [b"abcdef", b"ghijk"])
    assert sent[0]["status"] == 413 and len(app.calls) == 1


def test_websocket_is_closed_and_lifespan_passes() -> None:
    app = App()
    guard = HttpGuard(app, token=TOKEN)
    sent = drive(guard, {"type": "websocket", "headers": [(b"host", b"localhost")]}, [])
    assert sent == [{"type": "websocket.close", "code": 1008}] and app.calls == []
    drive(guard, {"type": "lifespan"}, [])
    assert app.calls == [("lifespan", b"")]


def test_empty_token_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="empty token"):
        HttpGuard(App(), token="")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.org", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
