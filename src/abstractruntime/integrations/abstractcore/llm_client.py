"""LLM clients for the LLM_CALL handler (SPEC §11.1): the client protocol and the HTTP client.

:class:`RemoteAbstractCoreLLMClient` speaks the OpenAI-compatible ``POST <base>/v1/chat/completions`` API,
so it works against an AbstractCore server and against the OpenAI-compatible endpoints of Ollama
(``http://localhost:11434``), LM Studio (``http://localhost:1234``) and vLLM (``http://localhost:8000``)::

    client = RemoteAbstractCoreLLMClient(server_base_url="http://localhost:11434", model="qwen3:4b")
    result = client.generate(prompt="Say hi")
    result["content"], result["usage"], result["finish_reason"]

Headers sent with every request:

* the configured ``headers`` (server authentication, usually ``Authorization: Bearer ...``);
* ``X-AbstractCore-Provider-API-Key`` when ``params.provider_api_key`` (or ``params.api_key``) is given;
* ``X-AbstractRuntime-Trace-Id``: ``params.trace_id`` when given, else a fresh uuid4 hex; the same id is
  returned as the result's ``trace_id`` so a ledger record can be matched with server logs.

Errors are the typed ``LLMCallError`` subclasses of :mod:`abstractruntime.errors` (``status`` and
``retryable`` attributes): 401/403 :class:`~abstractruntime.errors.LLMAuthError`, 404
:class:`~abstractruntime.errors.LLMNotFoundError`, 429 :class:`~abstractruntime.errors.LLMRateLimitError`,
5xx :class:`~abstractruntime.errors.LLMServerError`, no response
:class:`~abstractruntime.errors.LLMConnectionError`, a 2xx that is not a completion
:class:`~abstractruntime.errors.LLMResponseError`.  The client itself never retries: the LLM_CALL handler
lets the runtime's effect policy retry the retryable ones.

The in-process clients of the local mode, :class:`~.local_client.LocalAbstractCoreLLMClient` and
:class:`~.local_client.MultiLocalAbstractCoreLLMClient`, are defined in :mod:`.local_client` and re-exported here
(SPEC §15); they need the ``abstractcore`` extra, which is imported only when one is built.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ...errors import LLMCallError, LLMConnectionError
from .http_sender import HttpxRequestSender, RequestSender
from .local_client import LocalAbstractCoreLLMClient, MultiLocalAbstractCoreLLMClient
from .media import MediaInput, attach_media, media_limit, resolve_media
from .media_http import request_media
from .openai_format import build_chat_body, error_for_status, parse_chat_completion

__all__ = [
    "AbstractCoreLLMClient",
    "LocalAbstractCoreLLMClient",
    "MultiLocalAbstractCoreLLMClient",
    "PROVIDER_KEY_HEADER",
    "RemoteAbstractCoreLLMClient",
    "TRACE_ID_HEADER",
]

PROVIDER_KEY_HEADER = "X-AbstractCore-Provider-API-Key"
TRACE_ID_HEADER = "X-AbstractRuntime-Trace-Id"


@runtime_checkable
class AbstractCoreLLMClient(Protocol):
    """What the LLM_CALL handler needs from a client (SPEC §11.1)."""

    def generate(
        self,
        *,
        prompt: str,
        messages: list[dict[str, Any]] | None = None,
        system_prompt: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        media: Any = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One completion as the standard LLM result dict (SPEC §4.12)."""
        ...

    def get_model_capabilities(self, model_name: str | None = None) -> dict[str, Any]:
        """Known limits of the model (``max_tokens``, ``max_output_tokens``, ...); may be empty."""
        ...


class RemoteAbstractCoreLLMClient:
    """An OpenAI-compatible HTTP chat client (see the module docstring).

    Args:
        server_base_url: the server root, e.g. ``http://localhost:8000``; a trailing ``/v1`` is accepted.
        model: the model name sent when ``params.model`` does not override it.
        timeout_s: per-request timeout in seconds (None: no limit).
        headers: headers sent with every request (authentication).
        request_sender: how requests are sent (default: one pooled ``httpx.Client``; needs the ``llm``
            extra, else ``MissingExtraError``).
        artifact_store: where raw ``{"$artifact": id}`` media given to :meth:`generate` are read.
    """

    def __init__(
        self,
        *,
        server_base_url: str,
        model: str,
        timeout_s: float | None = None,
        headers: Mapping[str, str] | None = None,
        request_sender: RequestSender | None = None,
        artifact_store: Any = None,
    ) -> None:
        base = str(server_base_url).strip().rstrip("/")
        self.server_base_url = base[: -len("/v1")] if base.endswith("/v1") else base
        self.model = model
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})
        self.artifact_store = artifact_store
        self._sender: RequestSender = request_sender or HttpxRequestSender(timeout_s=timeout_s)

    @property
    def chat_url(self) -> str:
        """``<server_base_url>/v1/chat/completions``."""
        return f"{self.server_base_url}/v1/chat/completions"

    def generate(
        self,
        *,
        prompt: str,
        messages: list[dict[str, Any]] | None = None,
        system_prompt: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        media: Any = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One chat completion as the standard LLM result (SPEC §4.12).

        Args:
            prompt: the user turn appended after ``messages`` (skipped when empty).
            messages: earlier turns ``[{role, content, ...}]``.
            system_prompt: sent first as a ``system`` message.
            tools: tool specs (plain or OpenAI format).
            media: media inputs sent as content parts of the user turn (:mod:`.media`): resolved
                :class:`~.media.MediaInput` items (what the LLM_CALL handler passes), or raw values
                resolved here with this client's ``artifact_store`` and any local path (host code is trusted).
            params: see :mod:`.openai_format` for the mapping; also ``provider_api_key``/``api_key``,
                ``trace_id``, ``trace_metadata`` (returned in ``metadata``), ``timeout_s``.

        Returns:
            ``{content, data, tool_calls, usage, model, finish_reason, metadata, trace_id, gen_time}``
            (``gen_time`` in milliseconds).

        Raises:
            LLMCallError: a subclass per failure kind; ``retryable`` says whether to try again.
        """
        params = dict(params or {})
        body = build_chat_body(
            model=self.model,
            prompt=prompt,
            messages=messages,
            system_prompt=system_prompt,
            tools=tools,
            params=params,
        )
        attach_media(body["messages"], self._media(media))
        trace_id = str(params.get("trace_id") or uuid.uuid4().hex)
        url = self.chat_url
        began = time.perf_counter()
        status, headers, answer = self._send(url, body, self._request_headers(params, trace_id), params)
        gen_time = round((time.perf_counter() - began) * 1000.0, 3)
        if not 200 <= status < 300:
            raise error_for_status(status, headers, answer, url=url)
        wants_json = "response_format" in body
        result = parse_chat_completion(answer, requested_model=body["model"], wants_json=wants_json, url=url)
        metadata = result["metadata"]
        metadata.update({"server_base_url": self.server_base_url, "status": status})
        if isinstance(params.get("trace_metadata"), Mapping):
            metadata["trace_metadata"] = dict(params["trace_metadata"])
        result["trace_id"] = trace_id
        result["gen_time"] = gen_time
        return result

    def generate_media(
        self,
        *,
        task: str,
        selector: Mapping[str, Any],
        prompt: str,
        media: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Generate or transcribe media through the server's media endpoints (:mod:`.media_http`).

        Args:
            task: ``text_to_image``, ``text_to_speech``, ``text_to_music`` or ``speech_to_text``.
            selector: the output selector (``format``, ``voice``, ``size``, ``language``, ``model``, ...).
            prompt: the text to draw, speak or set to music.
            media: media inputs, as for :meth:`generate` (transcription sends the first audio one).
            params: ``model``/``provider`` overrides, ``provider_api_key``, ``trace_id``, ``timeout_s``.

        Returns:
            ``{"task", "model", "items": [{"content": bytes, "content_type"}], "text"?, "trace_id"}``.

        Raises:
            LLMCallError: a typed failure (see :func:`.media_http.request_media`).
        """
        params = dict(params or {})
        trace_id = str(params.get("trace_id") or uuid.uuid4().hex)
        answer = request_media(
            base_url=self.server_base_url,
            default_model=self.model,
            sender=self._sender,
            headers=self._request_headers(params, trace_id),
            timeout_s=params.get("timeout_s", self.timeout_s),
            task=task,
            selector=selector,
            prompt=prompt,
            media=self._media(media),
            params=params,
        )
        answer["trace_id"] = trace_id
        return answer

    def _media(self, media: Any) -> list[MediaInput]:
        return resolve_media(
            media, artifact_store=self.artifact_store, trusted_paths=True, limit_bytes=media_limit(None)
        )

    def get_model_capabilities(self, model_name: str | None = None) -> dict[str, Any]:
        """``{}``: an OpenAI-compatible server does not report token limits (no request is made)."""
        return {}

    def default_prompt_cache_identity(self) -> tuple[str, str]:
        """``(provider, model)``: the part before ``/`` of ``provider/model`` names, else ``"remote"``."""
        provider, sep, name = self.model.partition("/")
        return (provider, name) if sep and name else ("remote", self.model)

    def close(self) -> None:
        """Close the sender's pooled connections (when it has a ``close`` method)."""
        close = getattr(self._sender, "close", None)
        if callable(close):
            close()

    def _request_headers(self, params: Mapping[str, Any], trace_id: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.headers)
        key = params.get("provider_api_key") or params.get("api_key")
        if isinstance(key, str) and key:
            headers[PROVIDER_KEY_HEADER] = key
        headers[TRACE_ID_HEADER] = trace_id
        return headers

    def _send(
        self, url: str, body: dict[str, Any], headers: dict[str, str], params: Mapping[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        timeout = params.get("timeout_s", self.timeout_s)
        try:
            status, raw_headers, answer = self._sender.send(
                "POST", url, headers=headers, json=body, timeout_s=timeout
            )
        except LLMCallError:
            raise
        except OSError as exc:  # a custom sender that lets socket errors through
            raise LLMConnectionError(f"LLM server unreachable at {url}: {exc}", url=url) from exc
        return int(status), {str(k).lower(): str(v) for k, v in dict(raw_headers).items()}, answer
