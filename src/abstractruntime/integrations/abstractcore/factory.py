"""Ready runtimes wired to an LLM (SPEC §11.1): local, remote and hybrid modes, in memory or over files.

* **local** (:func:`create_local_runtime`, :func:`create_local_file_runtime`): the model runs through AbstractCore
  in this process (:class:`~.llm_client.MultiLocalAbstractCoreLLMClient`: ``ollama``, ``lmstudio``,
  ``openai-compatible``, ...) and tool calls run through AbstractCore's global tool registry
  (:class:`~.tool_executor.AbstractCoreToolExecutor`).  Needs the ``abstractcore`` extra.
* **remote** (:func:`create_remote_runtime`, :func:`create_remote_file_runtime`): any OpenAI-compatible server
  (an AbstractCore server, Ollama, LM Studio, vLLM) through
  :class:`~.llm_client.RemoteAbstractCoreLLMClient`; tool calls go to the given executor, by default
  :class:`~.tool_executor.PassthroughToolExecutor` (the run waits and the host answers with the results).
* **hybrid** (:func:`create_hybrid_runtime`): the remote client, with tools executed locally by
  :class:`~.tool_executor.AbstractCoreToolExecutor` (needs the ``abstractcore`` extra).

What each factory does (SPEC §11.1): missing stores default to the in-memory ones (the file variants use
``JsonFileRunStore``/``JsonlLedgerStore``/``FileArtifactStore`` under ``base_dir``); the ledger is wrapped in
``ObservableLedgerStore`` unless it can already ``subscribe``; an ``InMemoryArtifactStore`` is created when none
is given; LLM and tool timeouts come from AbstractCore's config manager when it is installed, else
:data:`DEFAULT_LLM_TIMEOUT_S`/:data:`DEFAULT_TOOL_TIMEOUT_S`; the handlers come from ``build_effect_handlers``;
the executor is registered for approval resumes (``set_tool_executor_for_resume``) and the client is kept on
``runtime._abstractcore_llm_client``.  The local factories also merge the model's capabilities into the
:class:`~abstractruntime.core.config.RuntimeConfig` and give the runtime an
:class:`~.summarizer.AbstractCoreChatSummarizer` for MEMORY_COMPACT.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...core.config import RuntimeConfig
from ...core.runtime import Runtime
from ...storage.artifacts_files import FileArtifactStore
from ...storage.artifacts_memory import InMemoryArtifactStore
from ...storage.in_memory import InMemoryLedgerStore, InMemoryRunStore
from ...storage.json_files import JsonFileRunStore, JsonlLedgerStore
from ...storage.observable import ObservableLedgerStore
from ._abstractcore import DEFAULT_TIMEOUT_S, abstractcore_timeouts, import_abstractcore_module
from .effect_handlers import build_effect_handlers
from .llm_client import MultiLocalAbstractCoreLLMClient, RemoteAbstractCoreLLMClient
from .summarizer import AbstractCoreChatSummarizer
from .tool_executor import AbstractCoreToolExecutor, PassthroughToolExecutor

__all__ = [
    "DEFAULT_LLM_TIMEOUT_S",
    "DEFAULT_TOOL_TIMEOUT_S",
    "create_hybrid_runtime",
    "create_local_file_runtime",
    "create_local_runtime",
    "create_remote_file_runtime",
    "create_remote_runtime",
]

DEFAULT_LLM_TIMEOUT_S = DEFAULT_TIMEOUT_S
"""Seconds an LLM request may take when no timeout is given and AbstractCore's config gives none (7200)."""
DEFAULT_TOOL_TIMEOUT_S = DEFAULT_TIMEOUT_S
"""Seconds a tool call may take when no timeout is given and AbstractCore's config gives none (7200)."""


def _observable(ledger_store: Any) -> Any:
    return (
        ledger_store
        if callable(getattr(ledger_store, "subscribe", None))
        else ObservableLedgerStore(ledger_store)
    )


def _assemble(
    *,
    llm: Any,
    tools: Any,
    run_store: Any,
    ledger_store: Any,
    context: Any,
    artifact_store: Any,
    effect_policy: Any = None,
    config: RuntimeConfig | None = None,
    extra_effect_handlers: Mapping[Any, Any] | None = None,
    chat_summarizer: Any = None,
) -> Runtime:
    """The runtime every factory returns: default stores, observable ledger, handlers, resume executor."""
    handlers: dict[Any, Any] = dict(
        build_effect_handlers(llm=llm, tools=tools, artifact_store=artifact_store, run_store=run_store)
    )
    handlers.update(extra_effect_handlers or {})
    runtime = Runtime(
        run_store=run_store if run_store is not None else InMemoryRunStore(),
        ledger_store=_observable(ledger_store if ledger_store is not None else InMemoryLedgerStore()),
        effect_handlers=handlers,
        context=context,
        artifact_store=artifact_store,
        effect_policy=effect_policy,
        config=config,
        chat_summarizer=chat_summarizer,
    )
    runtime.set_tool_executor_for_resume(tools)
    runtime._abstractcore_llm_client = llm  # type: ignore[attr-defined]  # documented: used by the facades
    return runtime


def _set_tool_timeout(tools: Any, tool_timeout_s: float | None) -> None:
    setter = getattr(tools, "set_timeout_s", None)
    if tool_timeout_s is not None and callable(setter):
        setter(tool_timeout_s)


def create_remote_runtime(
    *,
    server_base_url: str,
    model: str,
    headers: dict[str, str] | None = None,
    timeout_s: float | None = None,
    run_store: Any = None,
    ledger_store: Any = None,
    tool_executor: Any = None,
    context: Any = None,
    artifact_store: Any = None,
) -> Runtime:
    """A :class:`Runtime` whose LLM_CALL effects go to ``server_base_url`` (SPEC §11.1, remote mode).

    Args:
        server_base_url: the server, e.g. ``http://127.0.0.1:11434`` (requests go to ``<base>/v1/...``).
        model: the model name sent with every request (a call's ``payload.model`` overrides it).
        headers: extra HTTP headers, usually ``{"Authorization": "Bearer <token>"}``.
        timeout_s: seconds per LLM request (default: AbstractCore's configured default timeout when the
            package is installed, else :data:`DEFAULT_LLM_TIMEOUT_S`).
        run_store, ledger_store: the stores (default in-memory); the ledger is made observable.
        tool_executor: runs TOOL_CALLS (default ``PassthroughToolExecutor()``: the run waits for the host).
        context: the RunContext handed to nodes.
        artifact_store: for media and evidence (default ``InMemoryArtifactStore()``).

    Raises:
        MissingExtraError: the ``llm`` extra (httpx) is not installed.
    """
    artifacts = artifact_store if artifact_store is not None else InMemoryArtifactStore()
    llm = RemoteAbstractCoreLLMClient(
        server_base_url=server_base_url,
        model=model,
        timeout_s=abstractcore_timeouts()[0] if timeout_s is None else timeout_s,
        headers=headers,
        artifact_store=artifacts,
    )
    tools = tool_executor if tool_executor is not None else PassthroughToolExecutor()
    return _assemble(
        llm=llm,
        tools=tools,
        run_store=run_store,
        ledger_store=ledger_store,
        context=context,
        artifact_store=artifacts,
    )


def create_remote_file_runtime(
    *,
    base_dir: str | os.PathLike[str],
    server_base_url: str,
    model: str,
    headers: dict[str, str] | None = None,
    timeout_s: float | None = None,
    context: Any = None,
) -> Runtime:
    """:func:`create_remote_runtime` over JSON files in ``base_dir`` (runs, ledgers and artifacts survive).

    Raises:
        MissingExtraError: the ``llm`` extra (httpx) is not installed.
    """
    return create_remote_runtime(
        server_base_url=server_base_url,
        model=model,
        headers=headers,
        timeout_s=timeout_s,
        run_store=JsonFileRunStore(base_dir),
        ledger_store=JsonlLedgerStore(base_dir),
        context=context,
        artifact_store=FileArtifactStore(base_dir),
    )


def create_hybrid_runtime(
    *,
    server_base_url: str,
    model: str,
    headers: dict[str, str] | None = None,
    timeout_s: float | None = None,
    tool_timeout_s: float | None = None,
    run_store: Any = None,
    ledger_store: Any = None,
    context: Any = None,
    artifact_store: Any = None,
) -> Runtime:
    """:func:`create_remote_runtime` whose tool calls run in this process (SPEC §11.1, hybrid mode).

    The LLM is reached over HTTP; TOOL_CALLS run through AbstractCore's global tool registry
    (:class:`~.tool_executor.AbstractCoreToolExecutor`), so the run does not wait for the host.

    Args:
        server_base_url, model, headers, timeout_s, run_store, ledger_store, context, artifact_store: as
            :func:`create_remote_runtime`.
        tool_timeout_s: seconds per tool call (default: AbstractCore's ``timeouts.tool_timeout``, else
            :data:`DEFAULT_TOOL_TIMEOUT_S`; 0 or less: no limit).

    Raises:
        MissingExtraError: the ``abstractcore`` extra (or the ``llm`` extra, httpx) is not installed.
    """
    tools = AbstractCoreToolExecutor(timeout_s=abstractcore_timeouts()[1])
    _set_tool_timeout(tools, tool_timeout_s)
    return create_remote_runtime(
        server_base_url=server_base_url,
        model=model,
        headers=headers,
        timeout_s=timeout_s,
        run_store=run_store,
        ledger_store=ledger_store,
        tool_executor=tools,
        context=context,
        artifact_store=artifact_store,
    )


def create_local_runtime(
    *,
    provider: str,
    model: str,
    llm_kwargs: dict[str, Any] | None = None,
    bloc_root_dir: str | os.PathLike[str] | None = None,
    prompt_cache_export_root_dir: str | os.PathLike[str] | None = None,
    run_store: Any = None,
    ledger_store: Any = None,
    tool_executor: Any = None,
    tool_timeout_s: float | None = None,
    context: Any = None,
    effect_policy: Any = None,
    config: RuntimeConfig | None = None,
    artifact_store: Any = None,
    extra_effect_handlers: Mapping[Any, Any] | None = None,
) -> Runtime:
    """A :class:`Runtime` whose LLM calls run through AbstractCore in this process (SPEC §11.1, local mode).

    Args:
        provider: AbstractCore provider (``ollama``, ``lmstudio``, ``openai-compatible``, ``openai``, ...).
        model: the default model; a call's ``payload.provider``/``payload.model`` routes to another client,
            created on first use and kept warm (:class:`~.llm_client.MultiLocalAbstractCoreLLMClient`).
        llm_kwargs: ``create_llm`` keyword arguments (``base_url``, ``api_key``, ...); ``timeout`` (seconds)
            defaults to AbstractCore's configured default timeout, else :data:`DEFAULT_LLM_TIMEOUT_S`.
        bloc_root_dir, prompt_cache_export_root_dir: local roots for the host facade (default under
            ``~/.abstractruntime``).
        run_store, ledger_store: the stores (default in-memory); the ledger is made observable.
        tool_executor: runs TOOL_CALLS (default :class:`~.tool_executor.AbstractCoreToolExecutor` with
            AbstractCore's tool timeout, else :data:`DEFAULT_TOOL_TIMEOUT_S`).
        tool_timeout_s: seconds per tool call, pushed into the executor with ``set_timeout_s``.
        context: the RunContext handed to nodes.
        effect_policy: retries and idempotency keys (default ``DefaultEffectPolicy``).
        config: limits for new runs; the model's capabilities are merged in (``config.with_capabilities``),
            or a ``RuntimeConfig(provider, model, model_capabilities)`` is made when None.
        artifact_store: for media and evidence (default ``InMemoryArtifactStore()``).
        extra_effect_handlers: ``{EffectType: handler}`` added over the LLM and tool handlers.

    MEMORY_COMPACT summaries are written by an :class:`~.summarizer.AbstractCoreChatSummarizer` over the
    default model.

    Raises:
        MissingExtraError: the ``abstractcore`` extra is not installed.
        LLMCallError: AbstractCore could not build the provider (unknown model, credentials, unreachable).
    """
    llm_timeout, tool_timeout = abstractcore_timeouts()
    kwargs = dict(llm_kwargs or {})
    kwargs.setdefault("timeout", llm_timeout)
    artifacts = artifact_store if artifact_store is not None else InMemoryArtifactStore()
    llm = MultiLocalAbstractCoreLLMClient(
        provider=provider,
        model=model,
        llm_kwargs=kwargs,
        artifact_store=artifacts,
        bloc_root_dir=bloc_root_dir,
        prompt_cache_export_root_dir=prompt_cache_export_root_dir,
    )
    tools = tool_executor if tool_executor is not None else AbstractCoreToolExecutor(timeout_s=tool_timeout)
    _set_tool_timeout(tools, tool_timeout_s)
    capabilities = llm.get_model_capabilities()
    if config is None:
        config = RuntimeConfig(provider=provider, model=model, model_capabilities=capabilities)
    else:
        config = config.with_capabilities(capabilities)
    return _assemble(
        llm=llm,
        tools=tools,
        run_store=run_store,
        ledger_store=ledger_store,
        context=context,
        artifact_store=artifacts,
        effect_policy=effect_policy,
        config=config,
        extra_effect_handlers=extra_effect_handlers,
        chat_summarizer=AbstractCoreChatSummarizer(llm.client_for({})),
    )


def create_local_file_runtime(
    *,
    base_dir: str | os.PathLike[str],
    provider: str,
    model: str,
    llm_kwargs: dict[str, Any] | None = None,
    bloc_root_dir: str | os.PathLike[str] | None = None,
    prompt_cache_export_root_dir: str | os.PathLike[str] | None = None,
    context: Any = None,
    config: RuntimeConfig | None = None,
    tool_timeout_s: float | None = None,
) -> Runtime:
    """:func:`create_local_runtime` over JSON files in ``base_dir`` (runs, ledgers and artifacts survive).

    Blocs default to ``<base_dir>/blocs`` and prompt-cache exports to ``<base_dir>/prompt_cache_exports``.

    Raises:
        MissingExtraError: the ``abstractcore`` extra is not installed.
        LLMCallError: AbstractCore could not build the provider.
    """
    import_abstractcore_module(feature="create_local_file_runtime")  # fail before any file is created
    base = Path(base_dir)
    return create_local_runtime(
        provider=provider,
        model=model,
        llm_kwargs=llm_kwargs,
        bloc_root_dir=bloc_root_dir if bloc_root_dir is not None else base / "blocs",
        prompt_cache_export_root_dir=(
            prompt_cache_export_root_dir
            if prompt_cache_export_root_dir is not None
            else base / "prompt_cache_exports"
        ),
        run_store=JsonFileRunStore(base),
        ledger_store=JsonlLedgerStore(base),
        context=context,
        config=config,
        artifact_store=FileArtifactStore(base),
        tool_timeout_s=tool_timeout_s,
    )
