"""Effect handlers for LLM and tool calls, ready for ``Runtime(effect_handlers=...)`` (SPEC §11.1, §15).

::

    from abstractruntime import Runtime
    from abstractruntime.integrations.abstractcore.effect_handlers import build_effect_handlers
    from abstractruntime.integrations.abstractcore.llm_client import RemoteAbstractCoreLLMClient

    llm = RemoteAbstractCoreLLMClient(server_base_url="http://localhost:11434", model="qwen3:4b")
    runtime = Runtime(run_store=..., ledger_store=..., effect_handlers=build_effect_handlers(llm=llm))

``make_tool_calls_handler`` is resolved from :mod:`.tool_handler` on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from ...core.models import EffectType
from ...core.outcome import EffectHandler
from .llm_handler import make_llm_call_handler
from .model_residency import make_model_residency_handler
from .tool_specs import executor_tool_specs

__all__ = ["build_effect_handlers", "make_llm_call_handler", "make_tool_calls_handler"]  # noqa: F822 - lazy


def build_effect_handlers(
    *, llm: Any, tools: Any = None, artifact_store: Any = None, run_store: Any = None
) -> dict[EffectType, EffectHandler]:
    """``{LLM_CALL, MODEL_RESIDENCY, TOOL_CALLS}`` handlers over ``llm`` and the tool executor ``tools``.

    Args:
        llm: the LLM client (``generate(...)``; see :mod:`.llm_client`).
        tools: a tool executor (``execute(*, tool_calls)``); None gives a TOOL_CALLS handler that fails
            the effect, as SPEC §11.3 step 1 says.
        artifact_store: passed to the handlers (media, attachments).
        run_store: passed to the TOOL_CALLS handler.
    """
    handlers: dict[EffectType, EffectHandler] = {
        EffectType.LLM_CALL: make_llm_call_handler(
            llm=llm, artifact_store=artifact_store, tool_specs=executor_tool_specs(tools)
        ),
        EffectType.MODEL_RESIDENCY: make_model_residency_handler(llm=llm),
    }
    try:
        tool_handler = importlib.import_module(f"{__package__}.tool_handler")
    except ModuleNotFoundError as exc:  # the TOOL_CALLS handler ships separately: LLM only until then
        if exc.name != f"{__package__}.tool_handler":
            raise
        return handlers
    handlers[EffectType.TOOL_CALLS] = tool_handler.make_tool_calls_handler(
        tools=tools, artifact_store=artifact_store, run_store=run_store
    )
    return handlers


def __getattr__(name: str) -> Any:
    if name == "make_tool_calls_handler":
        return importlib.import_module(f"{__package__}.tool_handler").make_tool_calls_handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
