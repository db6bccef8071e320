"""HTTP guard of the MCP worker: host, origin, bearer token and body size, as plain ASGI (SPEC §11.8).

:class:`HttpGuard` wraps the MCP SDK's streamable-HTTP app and answers a request itself when it must be
refused, before the SDK sees it:

* ``403`` when the ``Host`` header is not an allowed host (DNS-rebinding protection), or the request carries
  an ``Origin`` that is not in the allow-list (with no allow-list, any ``Origin`` is refused: browsers send
  one, desktop MCP clients do not);
* ``401`` (with ``WWW-Authenticate: Bearer``) when a token is configured and the request has neither
  ``Authorization: Bearer <token>`` nor ``X-Abstract-Worker-Token: <token>`` with the right value (compared
  with :func:`hmac.compare_digest`);
* ``413`` when the body is larger than ``max_body_bytes`` (by ``Content-Length``, or counted while reading a
  chunked body, which is buffered up to the limit and then replayed to the app).

Refusals are logged with the reason and the client address, never with a header value.  Only the
standard library is used here, so the guard is importable without the ``mcp-worker`` extra.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = ["DEFAULT_MAX_BODY_BYTES", "HttpGuard", "is_loopback_host", "normalize_origin"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""Default request body limit of the worker (4 MiB)."""

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
logger = logging.getLogger("abstractruntime.mcp_worker")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``); False for wildcards."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` lower-cased, without a trailing slash (how browsers send ``Origin``)."""
    return origin.strip().rstrip("/").lower()


def _host_name(host_header: str) -> str:
    """The host part of a ``Host`` header value (``[::1]:8765`` -> ``::1``, ``a.b:80`` -> ``a.b``)."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HttpGuard:
    """ASGI middleware refusing requests before they reach the MCP app (see the module docstring).

    Args:
        app: the wrapped ASGI app (the SDK's streamable-HTTP Starlette app).
        token: the bearer token, or None for no authentication (loopback only; the CLI enforces that).
        allowed_origins: ``Origin`` values accepted (compared after :func:`normalize_origin`).
        allowed_hosts: host names accepted in the ``Host`` header (any port); ``*`` accepts every host.
        max_body_bytes: the largest request body accepted, in bytes.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        allowed_origins: Iterable[str] = (),
        allowed_hosts: Iterable[str] = ("localhost", "127.0.0.1", "::1"),
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if token is not None and not token:
            raise ValueError("an empty token would accept an empty Authorization header")
        self.app = app
        self._token = token.encode("utf-8") if token is not None else None
        self.allowed_origins = frozenset(normalize_origin(o) for o in allowed_origins if o.strip())
        self.allowed_hosts = frozenset(h.strip().strip("[]").lower() for h in allowed_hosts if h.strip())
        self.max_body_bytes = int(max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check an HTTP request; pass lifespan events through; close any other connection (websockets)."""
        if scope.get("type") == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope.get("type") != "http":
            logger.warning("refused a %s connection: only HTTP is served", scope.get("type"))
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = _headers(scope)
        refusal = self._refusal(headers)
        if refusal is not None:
            status, reason = refusal
            await self._refuse(scope, send, status, reason)
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._refuse(scope, send, 413, f"request body larger than {self.max_body_bytes} bytes")
            return
        body = await _read_body(receive, self.max_body_bytes)
        if body is None:
            await self._refuse(scope, send, 413, f"request body larger than {self.max_body_bytes} bytes")
            return
        await self.app(scope, _replay(body, receive), send)

    def _refusal(self, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if "*" not in self.allowed_hosts and _host_name(host) not in self.allowed_hosts:
            return 403, "host not allowed"
        origin = headers.get("origin")
        if origin is not None and normalize_origin(origin) not in self.allowed_origins:
            return 403, "origin not allowed"
        if self._token is not None and not self._token_matches(headers):
            return 401, "missing or invalid bearer token"
        return None

    def _token_matches(self, headers: dict[str, str]) -> bool:
        assert self._token is not None
        candidates: list[str] = []
        authorization = headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            candidates.append(value.strip())
        if "x-abstract-worker-token" in headers:
            candidates.append(headers["x-abstract-worker-token"].strip())
        matched = False
        for candidate in candidates:  # every candidate is compared: no early exit on the first
            matched |= hmac.compare_digest(candidate.encode("utf-8"), self._token)
        return matched

    async def _refuse(self, scope: Scope, send: Send, status: int, reason: str) -> None:
        client = scope.get("client") or ("?", 0)
        logger.warning(
            "refused %s %s from %s: %s (%d)",
            scope.get("method"),
            scope.get("path"),
            client[0],
            reason,
            status,
        )
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32001 if status == 401 else -32000, "message": reason},
            }
        ).encode("utf-8")
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="abstractruntime-mcp-worker"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers by lower-cased name (a repeated header keeps its last value)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") != "http.request":
            return b"".join(chunks)  # disconnect: the app sees the partial body and the disconnect next
        chunk = message.get("body", b"") or b""
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` once, then defers to the real one (disconnect messages)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
