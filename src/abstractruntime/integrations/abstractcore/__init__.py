"""LLM calls, tool calls and agents as durable effects (SPEC §11.1-§11.7).

Importing this package imports nothing heavy: every public name is resolved on first access (PEP 562), so
``import abstractruntime.integrations.abstractcore`` works without the ``llm`` or ``abstractcore`` extras and a
name whose extra is missing raises ``MissingExtraError`` (an ``ImportError``) naming the extra to install.  The
local-mode names (``LocalAbstractCoreLLMClient``, ``MultiLocalAbstractCoreLLMClient``, ``AbstractCoreToolExecutor``,
``create_local_runtime``, ``create_hybrid_runtime``, ``create_local_file_runtime``) import; building one without
the ``abstractcore`` extra raises ``MissingExtraError``.

Modules (SPEC §15): ``llm_client`` (LLM clients), ``effect_handlers`` (``build_effect_handlers``,
``make_llm_call_handler``, ``make_tool_calls_handler``), ``tool_executor`` (executors and the approval policy),
``factory`` (ready runtimes).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    # name -> module (relative to this package); each module imports its own extras lazily
    # LLM (llm_client, effect_handlers)
    "AbstractCoreLLMClient": "llm_client",
    "LocalAbstractCoreLLMClient": "llm_client",
    "MultiLocalAbstractCoreLLMClient": "llm_client",
    "RemoteAbstractCoreLLMClient": "llm_client",
    "build_effect_handlers": "effect_handlers",
    # tools (tool_executor); make_tool_calls_handler: effect_handlers / tool_handler (not a package name)
    "AbstractCoreToolExecutor": "tool_executor",
    "ApprovalToolExecutor": "tool_executor",
    "MappingToolExecutor": "tool_executor",
    "PassthroughToolExecutor": "tool_executor",
    "ToolApprovalPolicy": "tool_executor",
    "ToolExecutor": "tool_executor",
    # ready runtimes (factory); RuntimeConfig (core.config) is re-exported for create_local_runtime(config=...)
    "RuntimeConfig": "factory",
    "create_hybrid_runtime": "factory",
    "create_local_file_runtime": "factory",
    "create_local_runtime": "factory",
    "create_remote_file_runtime": "factory",
    "create_remote_runtime": "factory",
}

__all__ = sorted(_LAZY)  # noqa: PLE0605 - the lazy names are the public names


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{module_name}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
