"""Effect nodes: llm_call, tool_calls, call_tool, model_residency and the memory_* / memory_kg_* family.

Each builds its kernel effect payload from the node's inputs and ``effectConfig``; the raw result lands at
``_temp.effects.<node_id>`` and a mapper turns it into the node's output pins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...core.models import EffectType, StepPlan
from .env import ExecEnv, Runner

__all__ = ["EFFECT_MAPPERS", "EFFECT_RUNNERS"]

_LLM_CONFIG_KEYS = ("temperature", "seed", "structured_output_fallback", "max_tokens", "response_schema_name")


def _config(env: ExecEnv) -> dict[str, Any]:
    value = env.data.get("effectConfig")
    return value if isinstance(value, dict) else {}


def _present(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inputs.items() if v is not None}


def _llm_call(env: ExecEnv) -> StepPlan:
    config, inputs = _config(env), env.inputs()
    payload: dict[str, Any] = {"prompt": inputs.get("prompt") or ""}
    if inputs.get("system"):
        payload["system_prompt"] = inputs["system"]
    for key in ("provider", "model"):
        if inputs.get(key) or config.get(key):
            payload[key] = inputs.get(key) or config.get(key)
    tools = inputs.get("tools") if inputs.get("tools") is not None else config.get("tools")
    if tools:
        payload["tools"] = tools
    schema = inputs.get("response_schema") or config.get("response_schema")
    if schema:
        payload["response_schema"] = schema
    include = inputs.get("include_context", config.get("include_context", False))
    context = env.vars.get("context")
    if include and isinstance(context, dict) and isinstance(context.get("messages"), list):
        payload["messages"] = list(context["messages"])
    params = {k: config[k] for k in _LLM_CONFIG_KEYS if k in config}
    if params:
        payload["params"] = params
        payload.update({k: v for k, v in params.items() if k == "structured_output_fallback"})
    return env.effect(EffectType.LLM_CALL, payload)


def _tool_calls(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    calls = inputs.get("tool_calls")
    payload: dict[str, Any] = {
        "tool_calls": calls if isinstance(calls, list) else ([] if calls is None else [calls])
    }
    if isinstance(inputs.get("allowed_tools"), list):
        payload["allowed_tools"] = inputs["allowed_tools"]
    return env.effect(EffectType.TOOL_CALLS, payload)


def _call_tool(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    call = inputs.get("tool_call")
    payload: dict[str, Any] = {"tool_calls": [call] if isinstance(call, dict) else []}
    if isinstance(inputs.get("allowed_tools"), list):
        payload["allowed_tools"] = inputs["allowed_tools"]
    return env.effect(EffectType.TOOL_CALLS, payload)


def _simple(effect_type: EffectType, renames: dict[str, str] | None = None) -> Runner:
    def run(env: ExecEnv) -> StepPlan:
        payload = {**_config(env), **_present(env.inputs())}
        for old, new in (renames or {}).items():
            if old in payload:
                payload.setdefault(new, payload.pop(old))
        return env.effect(effect_type, payload)

    return run


def _llm_outputs(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {"response": raw, "result": raw, "success": raw is not None}
    return {
        "response": raw.get("content"),
        "result": raw,
        "tool_calls": raw.get("tool_calls") or [],
        "data": raw.get("data"),
        "meta": raw.get("metadata"),
        "success": True,
    }


def _tool_outputs(raw: Any) -> dict[str, Any]:
    results = raw.get("results") if isinstance(raw, dict) else None
    results = results if isinstance(results, list) else []
    success = bool(results) and all(isinstance(r, dict) and r.get("success") for r in results)
    first = results[0] if results and isinstance(results[0], dict) else {}
    return {"results": results, "success": success, "result": first.get("output"), "raw": raw}


def _tool_shaped(raw: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {"raw": raw}
    results = out.get("results")
    if isinstance(results, list) and results and isinstance(results[0], dict):
        first = results[0]
        out.setdefault("success", first.get("success"))
        output = first.get("output")
        out.setdefault("rendered", output if isinstance(output, str) else None)
        if isinstance(first.get("meta"), dict):
            for key, value in first["meta"].items():
                out.setdefault(key, value)
    out.setdefault("raw", raw)
    out.setdefault("ok", out.get("success", True))
    return out


EFFECT_RUNNERS: dict[str, Runner] = {
    "llm_call": _llm_call,
    "tool_calls": _tool_calls,
    "call_tool": _call_tool,
    "model_residency": _simple(EffectType.MODEL_RESIDENCY),
    "memory_note": _simple(EffectType.MEMORY_NOTE, {"content": "note"}),
    "memory_query": _simple(EffectType.MEMORY_QUERY, {"limit": "limit_spans", "usernames": "authors"}),
    "memory_tag": _simple(EffectType.MEMORY_TAG),
    "memory_compact": _simple(EffectType.MEMORY_COMPACT),
    "memory_rehydrate": _simple(EffectType.MEMORY_REHYDRATE),
    "memory_kg_assert": _simple(EffectType.MEMORY_KG_ASSERT),
    "memory_kg_query": _simple(EffectType.MEMORY_KG_QUERY),
    "memory_kg_resolve": _simple(EffectType.MEMORY_KG_RESOLVE),
}

EFFECT_MAPPERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "llm_call": _llm_outputs,
    "tool_calls": _tool_outputs,
    "call_tool": _tool_outputs,
    **{t: _tool_shaped for t in EFFECT_RUNNERS if t.startswith("memory_") or t == "model_residency"},
}
