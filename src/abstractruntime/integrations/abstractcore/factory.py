"""Ready runtimes wired to an LLM server (SPEC §11.1): ``create_remote_runtime`` and ``create_remote_file_runtime``.

Remote mode talks to any OpenAI-compatible server (an AbstractCore server, Ollama, LM Studio, vLLM) through
:class:`~abstractruntime.integrations.abstractcore.llm_client.RemoteAbstractCoreLLMClient`; tool calls go to
the given executor, by default :class:`~.tool_executor.PassthroughToolExecutor` (the run waits and the host
answers with the results).  The local and hybrid modes of §11.1 need the ``abstractcore`` package, which this
build does not wire yet.

What each factory does (SPEC §11.1): missing stores default to the in-memory ones (the file variant uses
``JsonFileRunStore``/``JsonlLedgerStore``/``FileArtifactStore`` under ``base_dir``); the ledger is wrapped in
``ObservableLedgerStore`` unless it can already ``subscribe``; an ``InMemoryArtifactStore`` is created when none
is given; the handlers come from ``build_effect_handlers``; the executor is registered for approval resumes
(``set_tool_executor_for_resume``) and the client is kept on ``runtime._abstractcore_llm_client``.
"""

from __future__ import annotations

import os
from typing import Any

from ...core.runtime import Runtime
from ...storage.artifacts_files import FileArtifactStore
from ...storage.artifacts_memory import InMemoryArtifactStore
from ...storage.in_memory import InMemoryLedgerStore, InMemoryRunStore
from ...storage.json_files import JsonFileRunStore, JsonlLedgerStore
from ...storage.observable import ObservableLedgerStore
from .effect_handlers import build_effect_handlers
from .llm_client import RemoteAbstractCoreLLMClient
from .tool_executor import PassthroughToolExecutor

__all__ = [
    "DEFAULT_LLM_TIMEOUT_S",
    "DEFAULT_TOOL_TIMEOUT_S",
    "create_remote_file_runtime",
    "create_remote_runtime",
]

DEFAULT_LLM_TIMEOUT_S = 7200.0
"""Seconds an LLM request may take when no timeout is given."""
DEFAULT_TOOL_TIMEOUT_S = 7200.0
"""Seconds a tool call may take when no timeout is given."""


def _observable(ledger_store: Any) -> Any:
    return (
        ledger_store
        if callable(getattr(ledger_store, "subscribe", None))
        else ObservableLedgerStore(ledger_store)
    )


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
        timeout_s: seconds per LLM request (default :data:`DEFAULT_LLM_TIMEOUT_S`).
        run_store, ledger_store: the stores (default in-memory); the ledger is made observable.
        tool_executor: runs TOOL_CALLS (default ``PassthroughToolExecutor()``: the run waits for the host).
        context: the RunContext handed to nodes.
        artifact_store: for media and evidence (default ``InMemoryArtifactStore()``).

    Raises:
        MissingExtraError: the ``llm`` extra (httpx) is not installed.
    """
    llm = RemoteAbstractCoreLLMClient(
        server_base_url=server_base_url,
        model=model,
        timeout_s=DEFAULT_LLM_TIMEOUT_S if timeout_s is None else timeout_s,
        headers=headers,
        artifact_store=artifact_store,
    )
    tools = tool_executor if tool_executor is not None else PassthroughToolExecutor()
    artifacts = artifact_store if artifact_store is not None else InMemoryArtifactStore()
    runtime = Runtime(
        run_store=run_store if run_store is not None else InMemoryRunStore(),
        ledger_store=_observable(ledger_store if ledger_store is not None else InMemoryLedgerStore()),
        effect_handlers=build_effect_handlers(llm=llm, tools=tools, artifact_store=artifacts),
        context=context,
        artifact_store=artifacts,
    )
    runtime.set_tool_executor_for_resume(tools)
    runtime._abstractcore_llm_client = llm  # type: ignore[attr-defined]  # documented: used by the facades
    return runtime


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
