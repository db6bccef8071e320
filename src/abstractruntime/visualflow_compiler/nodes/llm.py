"""The llm_call node (LLM_CALL, SPEC §11.2) and the memory-pin expansion shared with agent nodes.

**llm_call pins** (a connected pin wins over ``effectConfig``): ``prompt`` (the user turn; there is no
other alias), ``system`` -> ``system_prompt``, ``provider``/``model`` (routing), ``tools``,
``response_schema`` (alias ``resp_schema``; ``$ref``s resolved by :mod:`.schemas`), ``include_context``
(alias ``use_context``: the run's ``context.messages`` are the history and the handler appends the turn),
``context`` (an explicit ``{messages}`` history), ``temperature``, ``seed``, ``max_input_tokens`` (alias
``max_in_tokens``), ``max_out_tokens`` -> ``max_output_tokens``, and ``memory``.

**Memory pin.** A ``memory`` object with ``use_kg_memory`` (or ``kg_enabled``) true makes the node first
request MEMORY_KG_QUERY (result at ``_temp.memory_kg.<node_id>``) and then re-enter itself: the query's
``active_memory_text`` (else lines built from its ``packets``/``items``) is added as a system message
before the prompt.  Query keys: ``memory_query`` (else the prompt) -> ``query_text``; ``kg_scope``/
``memory_scope`` (default ``all``) -> ``scope``; ``kg_limit`` -> ``limit``; ``kg_min_score`` ->
``min_score``; ``kg_max_input_tokens`` -> ``max_input_tokens``; ``recall_level``.  A missing, non-object
or disabled memory pin adds nothing (no effect, no message).
"""

from __future__ import annotations

import json
from typing import Any

from ...core.models import EffectType, StepPlan
from .._util import as_dict, as_list
from .env import ExecEnv, Runner
from .schemas import collect_definitions, resolve_schema_refs

__all__ = ["LLM_MAPPERS", "LLM_RUNNERS", "kg_memory_text", "llm_outputs", "response_schema"]

_PRELUDE = "memory_prelude"
_KG_SLOT = "memory_kg"
_PARAM_KEYS = ("temperature", "seed", "structured_output_fallback", "max_tokens", "response_schema_name")
_KG_KEYS = {
    "kg_limit": "limit",
    "kg_min_score": "min_score",
    "kg_max_input_tokens": "max_input_tokens",
    "recall_level": "recall_level",
}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def response_schema(env: ExecEnv, value: Any) -> Any:
    """``value`` with its ``$ref``s resolved against itself and the flow's definitions (warns if not)."""
    if not isinstance(value, dict):
        return value
    graph = env.flow.data_graph
    nodes = getattr(graph, "nodes", {}) if graph is not None else {}
    flow_defs = collect_definitions([getattr(n, "data", {}) for n in nodes.values()])
    resolved, missing = resolve_schema_refs(value, flow_defs)
    for ref in missing:
        env.warn(f"node '{env.node_id}': response_schema $ref {ref!r} is not a known schema")
    return resolved


def _kg_settings(memory: Any) -> dict[str, Any] | None:
    if not isinstance(memory, dict) or memory.get("enabled") is False:
        return None
    if not (memory.get("use_kg_memory") or memory.get("kg_enabled")):
        return None
    return memory


def _active_text(raw: Any) -> str:
    result = as_dict(raw)
    text = result.get("active_memory_text")
    if isinstance(text, str):
        return text.strip()
    lines = []
    for item in as_list(result.get("packets")) or as_list(result.get("items")):
        if isinstance(item, dict) and all(k in item for k in ("subject", "predicate", "object")):
            lines.append(f"- {item['subject']} {item['predicate']} {item['object']}")
    return "\n".join(["## KG ACTIVE MEMORY", *lines]) if lines else ""


def kg_memory_text(env: ExecEnv, memory: Any, query_text: str) -> StepPlan | str | None:
    """The memory-pin expansion of an llm_call/agent node (see the module docstring).

    Returns:
        None when memory is disabled; a StepPlan requesting MEMORY_KG_QUERY (the node runs again once it
        completes); on that second run, the KG block text (``""`` when nothing was found).
    """
    settings = _kg_settings(memory)
    if settings is None:
        return None
    pending = env.temp_dict(_PRELUDE)
    if pending.pop(env.node_id, None) == "kg":
        return _active_text(env.temp_dict(_KG_SLOT).get(env.node_id))
    query = settings.get("memory_query")
    payload: dict[str, Any] = {
        "query_text": query if isinstance(query, str) and query.strip() else query_text,
        "scope": settings.get("kg_scope") or settings.get("memory_scope") or "all",
    }
    payload.update({new: settings[old] for old, new in _KG_KEYS.items() if settings.get(old) is not None})
    pending[env.node_id] = "kg"
    return env.prelude(EffectType.MEMORY_KG_QUERY, payload, result_key=f"_temp.{_KG_SLOT}.{env.node_id}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _positive(value: Any) -> int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return int(value)
    return None


def _payload(env: ExecEnv, config: dict[str, Any], inputs: dict[str, Any], prompt: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"prompt": prompt}
    system = _first(inputs.get("system"), config.get("system"))
    if system:
        payload["system_prompt"] = system
    for key in ("provider", "model"):
        if inputs.get(key) or config.get(key):
            payload[key] = inputs.get(key) or config.get(key)
    tools = _first(inputs.get("tools"), config.get("tools"))
    if tools:
        payload["tools"] = tools
    schema = inputs.get("response_schema") or inputs.get("resp_schema") or config.get("response_schema")
    if schema:
        payload["response_schema"] = response_schema(env, schema)
    include = _first(
        inputs.get("include_context"),
        inputs.get("use_context"),
        config.get("include_context"),
        config.get("use_context"),
    )
    explicit = as_dict(inputs.get("context")).get("messages")
    context = as_dict(env.vars.get("context")).get("messages")
    if isinstance(explicit, list):
        payload["messages"] = list(explicit)
    elif include and isinstance(context, list):
        payload["messages"] = list(context)
    if include:
        payload["include_context"] = True
    params = {k: config[k] for k in _PARAM_KEYS if k in config}
    params.update({k: inputs[k] for k in ("temperature", "seed") if inputs.get(k) is not None})
    if params:
        payload["params"] = params
    if "structured_output_fallback" in config:
        payload["structured_output_fallback"] = config["structured_output_fallback"]
    budgets = {
        "max_input_tokens": _first(inputs.get("max_input_tokens"), inputs.get("max_in_tokens")),
        "max_output_tokens": _first(inputs.get("max_out_tokens"), inputs.get("max_output_tokens")),
    }
    payload.update({k: _positive(v) for k, v in budgets.items() if _positive(v) is not None})
    return payload


def _llm_call(env: ExecEnv) -> StepPlan:
    config, inputs = as_dict(env.data.get("effectConfig")), env.inputs()
    prompt = _text(inputs.get("prompt"))
    memory = kg_memory_text(env, inputs.get("memory"), prompt)
    if isinstance(memory, StepPlan):
        return memory
    payload = _payload(env, config, inputs, prompt)
    if memory:
        payload["messages"] = [*payload.get("messages", []), {"role": "system", "content": memory}]
    return env.effect(EffectType.LLM_CALL, payload)


def llm_outputs(raw: Any) -> dict[str, Any]:
    """llm_call pins: ``response`` (text), ``result`` (the raw result), ``tool_calls``, ``data``, ``meta``,
    ``success``."""
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


LLM_RUNNERS: dict[str, Runner] = {"llm_call": _llm_call}
LLM_MAPPERS = {"llm_call": llm_outputs}
