"""In-process LLM clients over AbstractCore (SPEC §11.1, local mode; needs the ``abstractcore`` extra).

:class:`LocalAbstractCoreLLMClient` wraps one ``abstractcore.create_llm(provider, model=..., **llm_kwargs)``
provider (``ollama``, ``lmstudio``, ``openai-compatible``, ``openai``, ``anthropic``, ``mlx``, ...) and returns the
same result dict as the remote client (SPEC §4.12)::

    client = LocalAbstractCoreLLMClient(provider="ollama", model="qwen3:4b")
    client = LocalAbstractCoreLLMClient(
        provider="openai-compatible", model="my-model", llm_kwargs={"base_url": "http://127.0.0.1:8080/v1"}
    )
    result = client.generate(prompt="Say hi")
    result["content"], result["tool_calls"], result["usage"], result["finish_reason"]

:class:`MultiLocalAbstractCoreLLMClient` routes each request by ``params.provider``/``params.model`` (what the
LLM_CALL handler copies from ``payload.provider``/``payload.model``; ``params._provider``/``params._model``
are read too) and ``params.base_url``, creating one local client per route on first use and keeping it warm.

``params`` mapping: ``temperature``, ``top_p``, ``top_k``, ``seed``, ``thinking``, ``reasoning_effort``,
``prompt_cache_key``, ``trace_metadata`` pass through; ``max_tokens``/``max_output_tokens`` become
AbstractCore's ``max_output_tokens``; ``response_schema`` (a JSON object schema; ``response_schema_name``)
becomes a generated Pydantic ``response_model``.  AbstractCore is imported in the constructors only, so this
module loads without it; without the package they raise :class:`~abstractruntime.errors.MissingExtraError`.

AbstractCore's exceptions become the typed :class:`~abstractruntime.errors.LLMCallError` family
(:func:`llm_error_from_abstractcore`), so the effect policy retries 429, 5xx and connection failures and fails
401/403 and 404 at once.  AbstractCore keeps its own provider-level retry settings (``llm_kwargs["retry_config"]``).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import LLMCallError
from ._abstractcore import import_abstractcore_module, llm_error_from_abstractcore
from ._schema_model import pydantic_model_from_schema
from .media import MediaInput
from .openai_format import _usage, normalize_tool_calls, parse_json_content, tools_to_openai

__all__ = ["LocalAbstractCoreLLMClient", "MultiLocalAbstractCoreLLMClient", "llm_error_from_abstractcore"]

_PASSTHROUGH = (
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "thinking",
    "reasoning_effort",
    "prompt_cache_key",
    "trace_metadata",
)
_MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


def _generate_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    kwargs = {key: params[key] for key in _PASSTHROUGH if params.get(key) is not None}
    budget = params.get("max_output_tokens", params.get("max_tokens"))
    if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
        kwargs["max_output_tokens"] = budget
    schema = params.get("response_schema")
    if isinstance(schema, Mapping):
        kwargs["response_model"] = pydantic_model_from_schema(
            schema, name=str(params.get("response_schema_name") or "Response")
        )
    return kwargs


def _abstractcore_media(media: Any) -> list[Any] | None:
    items = media if isinstance(media, list) else [media] if media else []
    out = [item.to_abstractcore() if isinstance(item, MediaInput) else item for item in items]
    return out or None


class LocalAbstractCoreLLMClient:
    """One in-process AbstractCore provider (see the module docstring).

    Args:
        provider: AbstractCore provider name (``ollama``, ``lmstudio``, ``openai-compatible``, ...).
        model: the model name.
        llm_kwargs: extra ``create_llm`` keyword arguments (``base_url``, ``api_key``, ``timeout`` in seconds,
            ``retry_config``, ``validate_model``, ...).
        artifact_store: kept for media features (the facades).
        bloc_root_dir: where the host facade keeps text blocs (default ``~/.abstractruntime/blocs``).
        prompt_cache_export_root_dir: where prompt-cache exports go (default
            ``~/.abstractruntime/prompt_cache_exports``).

    Raises:
        MissingExtraError: ``abstractcore`` is not installed (extra ``abstractcore``).
        LLMCallError: empty ``provider``/``model``, or AbstractCore refused to build the provider (unknown
            model, credentials, unreachable server).
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        llm_kwargs: Mapping[str, Any] | None = None,
        artifact_store: Any = None,
        bloc_root_dir: str | os.PathLike[str] | None = None,
        prompt_cache_export_root_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        abstractcore = import_abstractcore_module(feature="LocalAbstractCoreLLMClient")
        self.provider = str(provider).strip()
        self.model = str(model).strip()
        if not self.provider or not self.model:
            raise LLMCallError(
                "LocalAbstractCoreLLMClient needs a non-empty provider and model", retryable=False
            )
        self.llm_kwargs = dict(llm_kwargs or {})
        self.artifact_store = artifact_store
        home = Path.home() / ".abstractruntime"
        self.bloc_root_dir = Path(bloc_root_dir) if bloc_root_dir else home / "blocs"
        self.prompt_cache_export_root_dir = (
            Path(prompt_cache_export_root_dir)
            if prompt_cache_export_root_dir
            else home / "prompt_cache_exports"
        )
        try:
            self._llm: Any = abstractcore.create_llm(self.provider, model=self.model, **self.llm_kwargs)
        except Exception as exc:
            mapped = llm_error_from_abstractcore(exc, where=self._where)
            if mapped is None:
                raise
            raise mapped from exc

    @property
    def _where(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def llm(self) -> Any:
        """The underlying AbstractCore provider instance."""
        return self._llm

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
        """One generation as the standard LLM result (SPEC §4.12).

        Args:
            prompt: the user turn after ``messages`` (may be empty when ``messages`` carry the turn).
            messages: earlier turns ``[{role, content, ...}]``.
            system_prompt: the system prompt.
            tools: tool specs (plain ``{name, description, parameters}`` or OpenAI format).
            media: resolved :class:`~.media.MediaInput` items (what the LLM_CALL handler passes) are given
                to AbstractCore as its ``MediaContent`` dicts; anything else (paths, media dicts) as is.
            params: see the module docstring; also ``trace_id`` (returned as ``trace_id``).

        Returns:
            ``{content, data, tool_calls, usage, model, finish_reason, metadata, trace_id, gen_time,
            reasoning?}``: ``tool_calls`` as ``[{name, arguments: dict, call_id}]`` or None, ``gen_time`` in
            milliseconds, ``data`` the structured output (or the JSON in ``content`` when JSON was asked for).

        Raises:
            LLMCallError: a subclass per failure kind; ``retryable`` says whether to try again.
        """
        params = dict(params or {})
        kwargs = _generate_kwargs(params)
        chat = [
            {k: m[k] for k in _MESSAGE_KEYS if k in m}
            for m in messages or []
            if isinstance(m, Mapping) and m.get("role")
        ]
        specs = [entry["function"] for entry in tools_to_openai(tools)] if tools else None
        began = time.perf_counter()
        try:
            response = self._llm.generate(
                prompt=prompt or "",
                messages=chat or None,
                system_prompt=system_prompt or None,
                tools=specs or None,
                media=_abstractcore_media(media),
                **kwargs,
            )
        except Exception as exc:
            mapped = llm_error_from_abstractcore(exc, where=self._where)
            if mapped is None:
                raise
            raise mapped from exc
        elapsed_ms = round((time.perf_counter() - began) * 1000.0, 3)
        result = self._result(response, wants_json=params.get("response_format") in ("json", "json_object"))
        if isinstance(params.get("trace_metadata"), Mapping):
            result["metadata"]["trace_metadata"] = dict(params["trace_metadata"])
        result["trace_id"] = str(params.get("trace_id") or uuid.uuid4().hex)
        if not isinstance(result.get("gen_time"), int | float):
            result["gen_time"] = elapsed_ms
        return result

    def _result(self, response: Any, *, wants_json: bool) -> dict[str, Any]:
        metadata: dict[str, Any] = {"provider": self.provider}
        dump = getattr(response, "model_dump", None)
        if callable(dump) and not hasattr(response, "finish_reason"):  # a structured-output Pydantic model
            data = dump()
            return {
                "content": json.dumps(data, ensure_ascii=False),
                "data": data,
                "tool_calls": None,
                "usage": None,
                "model": self.model,
                "finish_reason": "stop",
                "metadata": metadata,
            }
        content = getattr(response, "content", None)
        if content is not None and not isinstance(content, str):
            content = str(content)
        result: dict[str, Any] = {
            "content": content,
            "data": parse_json_content(content) if wants_json else None,
            "tool_calls": normalize_tool_calls(getattr(response, "tool_calls", None)),
            "usage": _usage(getattr(response, "usage", None)),
            "model": getattr(response, "model", None) or self.model,
            "finish_reason": getattr(response, "finish_reason", None),
            "metadata": metadata,
        }
        reasoning = getattr(response, "reasoning", None)
        if isinstance(reasoning, str) and reasoning:
            result["reasoning"] = reasoning
        gen_time = getattr(response, "gen_time", None)
        if isinstance(gen_time, int | float) and not isinstance(gen_time, bool):
            result["gen_time"] = float(gen_time)
        return result

    def get_model_capabilities(self, model_name: str | None = None) -> dict[str, Any]:
        """AbstractCore's capability record of ``model_name`` (default: this client's model): ``max_tokens``,
        ``max_output_tokens``, ``tool_support``, ...; ``{}`` when AbstractCore has none."""
        if model_name is None or model_name == self.model:
            known = getattr(self._llm, "model_capabilities", None)
            if isinstance(known, Mapping) and known:
                return dict(known)
        architectures = import_abstractcore_module(
            "abstractcore.architectures", feature="LocalAbstractCoreLLMClient"
        )
        caps = architectures.get_model_capabilities(model_name or self.model)
        return dict(caps) if isinstance(caps, Mapping) else {}

    def default_prompt_cache_identity(self) -> tuple[str, str]:
        """``(provider, model)`` of this client."""
        return self.provider, self.model

    def close(self) -> None:
        """Close the provider's HTTP client, when it has one (in-process model weights stay loaded)."""
        client = getattr(self._llm, "client", None)
        close = getattr(client, "close", None)
        if callable(close):
            close()


class MultiLocalAbstractCoreLLMClient:
    """Routes each request to a :class:`LocalAbstractCoreLLMClient` per ``(provider, model, base_url)``.

    The default route is ``(provider, model)`` with ``llm_kwargs``; a request's ``params.provider`` /
    ``params._provider``, ``params.model`` / ``params._model`` and ``params.base_url`` pick another one, whose
    client is created on first use (with the same ``llm_kwargs``, ``base_url`` replaced) and kept warm.

    Args: as :class:`LocalAbstractCoreLLMClient`.

    Raises:
        MissingExtraError: ``abstractcore`` is not installed (extra ``abstractcore``).
        LLMCallError: AbstractCore refused to build the default provider.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        llm_kwargs: Mapping[str, Any] | None = None,
        artifact_store: Any = None,
        bloc_root_dir: str | os.PathLike[str] | None = None,
        prompt_cache_export_root_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "artifact_store": artifact_store,
            "bloc_root_dir": bloc_root_dir,
            "prompt_cache_export_root_dir": prompt_cache_export_root_dir,
        }
        self.llm_kwargs = dict(llm_kwargs or {})
        self._lock = threading.Lock()
        default = LocalAbstractCoreLLMClient(
            provider=provider, model=model, llm_kwargs=self.llm_kwargs, **self._options
        )
        self.provider, self.model = default.provider, default.model
        self.artifact_store = artifact_store
        self.bloc_root_dir = default.bloc_root_dir
        self.prompt_cache_export_root_dir = default.prompt_cache_export_root_dir
        self._clients: dict[tuple[str, str, str | None], LocalAbstractCoreLLMClient] = {
            self._key(self.provider, self.model, self.llm_kwargs.get("base_url")): default
        }

    @staticmethod
    def _key(provider: str, model: str, base_url: Any) -> tuple[str, str, str | None]:
        return provider, model, str(base_url) if base_url else None

    def client_for(self, params: Mapping[str, Any] | None = None) -> LocalAbstractCoreLLMClient:
        """The client for a request's ``params`` (created on first use, then reused)."""
        params = params or {}
        provider = str(params.get("_provider") or params.get("provider") or self.provider).strip()
        model = str(params.get("_model") or params.get("model") or self.model).strip()
        base_url = params.get("base_url") or self.llm_kwargs.get("base_url")
        key = self._key(provider, model, base_url)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                kwargs = dict(self.llm_kwargs)
                if base_url:
                    kwargs["base_url"] = base_url
                client = LocalAbstractCoreLLMClient(
                    provider=provider, model=model, llm_kwargs=kwargs, **self._options
                )
                self._clients[key] = client
        return client

    @property
    def routes(self) -> list[tuple[str, str, str | None]]:
        """The ``(provider, model, base_url)`` routes with a warm client, in creation order."""
        return list(self._clients)

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
        """:meth:`LocalAbstractCoreLLMClient.generate` on the routed client (routing keys are not forwarded).

        Raises:
            LLMCallError: the routed client could not be built or the generation failed.
        """
        params = dict(params or {})
        client = self.client_for(params)
        for key in ("provider", "model", "_provider", "_model", "base_url"):
            params.pop(key, None)
        return client.generate(
            prompt=prompt,
            messages=messages,
            system_prompt=system_prompt,
            tools=tools,
            media=media,
            params=params,
        )

    def get_model_capabilities(self, model_name: str | None = None) -> dict[str, Any]:
        """The capabilities of ``model_name`` (default: the default model), see the local client."""
        return self.client_for({}).get_model_capabilities(model_name)

    def default_prompt_cache_identity(self) -> tuple[str, str]:
        """``(provider, model)`` of the default route."""
        return self.provider, self.model

    def close(self) -> None:
        """Close every warm client."""
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            client.close()
