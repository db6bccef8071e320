"""The traits of the model-facing effects, LLM_CALL and TOOL_CALLS (``docs/concepts.md``, "Effect traits").

Their handlers come from the host (or an integration), but what the engine does around them is kernel
behaviour, declared here once so the engine never tests effect type names:

* both have external side effects (durable intent), count against the run budget (checked before
  they run, counted after: ``core/budget.py``);
* LLM_CALL copies its result's token usage to ``_limits.estimated_tokens_used`` (SPEC §5.5);
* TOOL_CALLS is in-doubt aware (``docs/llm.md``, "In-doubt calls"), normalizes its payload
  (``core/engine/tool_calls.py``), hands fresh results to the evidence hook (SPEC §4.3 e.6) and, when
  it waits, is completed by its resume payload.
"""

from __future__ import annotations

from typing import Any

from ..budget import llm_call_usage, tool_calls_usage
from ..engine.tool_calls import normalize_tool_calls_payload, record_tool_call_warnings
from ..models import Effect, EffectType, RunState
from ..vars import LIMITS, get_namespace
from .registry import EffectRegistry, EffectTraits

__all__ = ["LLM_CALL_TRAITS", "TOOL_CALLS_TRAITS", "declare_model_traits"]


def copy_token_usage(run: RunState, result: Any) -> None:
    """Set ``_limits.estimated_tokens_used`` from an LLM result's usage (input tokens first)."""
    usage = result.get("usage") if isinstance(result, dict) else None
    if not isinstance(usage, dict):
        return
    for key in ("input_tokens", "prompt_tokens", "total_tokens"):
        value = usage.get(key)
        if value is None:
            continue
        try:
            tokens = int(value)
        except (TypeError, ValueError):
            continue
        get_namespace(run.vars, LIMITS)["estimated_tokens_used"] = tokens
        return


def prepare_tool_calls(run: RunState, node_id: str, effect: Effect, idempotency_key: str) -> Effect:
    """Record call-id warnings and normalize a TOOL_CALLS payload (``core/engine/tool_calls.py``)."""
    if not isinstance(effect.payload, dict):
        return effect
    record_tool_call_warnings(run, effect.payload, node_id=node_id)
    payload = normalize_tool_calls_payload(effect.payload, idempotency_key=idempotency_key)
    return Effect(type=effect.type, payload=payload, result_key=effect.result_key)


LLM_CALL_TRAITS = EffectTraits(
    durable_intent=True,
    counts_before_run=True,
    budget_counter=llm_call_usage,
    on_completed=copy_token_usage,
)
"""LLM_CALL: durable intent, budget-gated and counted, token usage copied to ``_limits``."""

TOOL_CALLS_TRAITS = EffectTraits(
    durable_intent=True,
    in_doubt_aware=True,
    counts_before_run=True,
    budget_counter=tool_calls_usage,
    prepare=prepare_tool_calls,
    evidence=True,
    complete_on_resume=True,
)
"""TOOL_CALLS: durable intent, in-doubt aware, budget-gated and counted, normalized, evidence."""


def declare_model_traits(registry: EffectRegistry) -> None:
    """Declare :data:`LLM_CALL_TRAITS` and :data:`TOOL_CALLS_TRAITS` in ``registry``."""
    registry.declare(EffectType.LLM_CALL, LLM_CALL_TRAITS)
    registry.declare(EffectType.TOOL_CALLS, TOOL_CALLS_TRAITS)
