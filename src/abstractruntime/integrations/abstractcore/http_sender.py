"""How the remote LLM client sends HTTP requests: the :class:`RequestSender` protocol and its httpx default.

A sender takes a method, a URL, headers, a JSON body and a timeout (seconds) and returns
``(status, headers, body)`` where ``body`` is the decoded JSON value, or the raw text when the answer is
not JSON.  It raises :class:`~abstractruntime.errors.LLMConnectionError` when no response arrives
(refused, reset, timed out).  Inject your own sender into ``RemoteAbstractCoreLLMClient(request_sender=...)``
to route requests through a proxy, record them, or replay them.

httpx is imported only when :class:`HttpxRequestSender` is built; without it the constructor raises
:class:`~abstractruntime.errors.MissingExtraError` naming the ``llm`` extra.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ...errors import LLMConnectionError, MissingExtraError

__all__ = [
    "BytesRequestSender",
    "BytesResponse",
    "HttpxRequestSender",
    "RequestSender",
    "SenderResponse",
    "import_httpx",
]

SenderResponse = tuple[int, dict[str, str], Any]
"""``(status, headers with lower-case names, JSON value or text)``."""


@runtime_checkable
class RequestSender(Protocol):
    """Sends one HTTP request for the LLM client (see the module docstring)."""

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json: Any,
        timeout_s: float | None,
    ) -> SenderResponse:
        """Send the request; ``timeout_s`` None means no limit.  Raises ``LLMConnectionError`` on no response."""
        ...


BytesResponse = tuple[int, dict[str, str], bytes]
"""``(status, headers with lower-case names, raw body bytes)``."""


@runtime_checkable
class BytesRequestSender(Protocol):
    """A sender that can also send a raw body and return raw bytes (media endpoints: multipart uploads,
    audio answers).  :class:`HttpxRequestSender` is one; a custom sender without ``send_bytes`` can still
    do chat completions, but media generation then fails with a clear error."""

    def send_bytes(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes,
        timeout_s: float | None,
    ) -> BytesResponse:
        """Send ``body`` as is (``headers`` carry its Content-Type); raises ``LLMConnectionError`` on no response."""
        ...


def import_httpx() -> Any:
    """The ``httpx`` module, or :class:`MissingExtraError` (extra ``llm``) when it is not installed."""
    try:
        import httpx
    except ImportError as exc:
        raise MissingExtraError(feature="RemoteAbstractCoreLLMClient", extra="llm", module="httpx") from exc
    return httpx


class HttpxRequestSender:
    """The default sender: one ``httpx.Client`` reused for every request (connection pooling).

    Args:
        timeout_s: default timeout in seconds for connect, read and write (None: no limit).
    """

    def __init__(self, *, timeout_s: float | None = None) -> None:
        self._httpx = import_httpx()
        self._client = self._httpx.Client(timeout=timeout_s)

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json: Any,
        timeout_s: float | None,
    ) -> SenderResponse:
        """Send with httpx; transport failures become :class:`LLMConnectionError`."""
        response = self._request(method, url, headers=headers, timeout_s=timeout_s, json=json)
        return (
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            decode_body(response.text),
        )

    def send_bytes(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes,
        timeout_s: float | None,
    ) -> BytesResponse:
        """Send a raw body and return the raw answer bytes (see :class:`BytesRequestSender`)."""
        response = self._request(method, url, headers=headers, timeout_s=timeout_s, content=body)
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content

    def _request(
        self, method: str, url: str, *, headers: Mapping[str, str], timeout_s: float | None, **body: Any
    ) -> Any:
        httpx = self._httpx
        try:
            return self._client.request(
                method, url, headers=dict(headers), timeout=httpx.Timeout(timeout_s), **body
            )
        except httpx.TimeoutException as exc:
            raise LLMConnectionError(
                f"LLM request to {url} timed out after {timeout_s} s", timed_out=True, url=url
            ) from exc
        except httpx.TransportError as exc:
            raise LLMConnectionError(
                f"LLM server unreachable at {url}: {type(exc).__name__}: {exc}", url=url
            ) from exc

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()


def decode_body(text: str) -> Any:
    """The JSON value of ``text``, or ``text`` itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text
