"""Memory nodes: memory_note/query/tag/compact/rehydrate and memory_kg_assert/query/resolve (SPEC §4.9, §11.7).

Each node's payload is its ``effectConfig`` overlaid with its non-None input pins, with pin names mapped to
the effect's payload keys:

==================  ===========================================================================================
node                pins -> payload keys
==================  ===========================================================================================
memory_note         ``content`` -> ``note``; ``tags``, ``sources``, ``location``, ``scope``, ``keep_in_context``
memory_query        ``query``, ``limit`` -> ``limit_spans``, ``usernames`` -> ``authors``, ``locations``,
                    ``tags``, ``tags_mode``, ``since``, ``until``, ``scope``, ``recall_level``; ``return``
                    defaults to ``both`` (rendered text and span list)
memory_tag          ``span_id``, ``tags``, ``merge``, ``scope``
memory_compact      ``preserve_recent``, ``compression_mode``, ``focus``
memory_rehydrate    ``span_ids`` (a single ``span_id`` becomes a list), ``placement``, ``max_messages``,
                    ``recall_level``
memory_kg_*         as named (``assertions``, ``scope``, ``owner_id``, ``span_id``, ``attributes_defaults``;
                    ``query_text``, ``subject``, ``predicate``, ``object``, ``since``, ``until``, ``active_at``,
                    ``limit``, ``min_score``, ``max_input_tokens``, ``recall_level``, ``model``; ``label``,
                    ``expected_type``, ``max_candidates``, ``include_semantic``)
==================  ===========================================================================================

Output pins: every memory node has ``raw`` (the effect result), ``ok``/``success`` and ``rendered`` (the
first tool result's text output); plus ``note_id`` (memory_note), ``rendered``/``results`` (memory_query:
the span list), ``span_id`` (memory_compact), ``inserted``/``skipped`` (memory_rehydrate), and the KG
result keys (``assertion_ids``, ``count``, ``items``, ``packets``, ``active_memory_text``, ``candidates``...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...core.models import EffectType, StepPlan
from .._util import as_dict
from .env import ExecEnv, Runner

__all__ = ["MEMORY_MAPPERS", "MEMORY_RUNNERS", "memory_payload"]

_RENAMES: dict[str, dict[str, str]] = {
    "memory_note": {"content": "note"},
    "memory_query": {"limit": "limit_spans", "usernames": "authors"},
}
_EFFECTS: dict[str, EffectType] = {
    "memory_note": EffectType.MEMORY_NOTE,
    "memory_query": EffectType.MEMORY_QUERY,
    "memory_tag": EffectType.MEMORY_TAG,
    "memory_compact": EffectType.MEMORY_COMPACT,
    "memory_rehydrate": EffectType.MEMORY_REHYDRATE,
    "memory_kg_assert": EffectType.MEMORY_KG_ASSERT,
    "memory_kg_query": EffectType.MEMORY_KG_QUERY,
    "memory_kg_resolve": EffectType.MEMORY_KG_RESOLVE,
}


def memory_payload(node_type: str, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """The effect payload of a memory node from its ``effectConfig`` and input pins (see the table)."""
    payload = {**config, **{k: v for k, v in inputs.items() if v is not None}}
    for old, new in _RENAMES.get(node_type, {}).items():
        if old in payload:
            value = payload.pop(old)
            payload.setdefault(new, value)
    if node_type == "memory_query":
        payload.setdefault("return", "both")
    if node_type == "memory_rehydrate" and isinstance(payload.get("span_ids"), str):
        payload["span_ids"] = [payload["span_ids"]]
    return payload


def _runner(node_type: str) -> Runner:
    def run(env: ExecEnv) -> StepPlan:
        payload = memory_payload(node_type, as_dict(env.data.get("effectConfig")), env.inputs())
        return env.effect(_EFFECTS[node_type], payload)

    return run


def _first_result(raw: Any) -> dict[str, Any]:
    results = raw.get("results") if isinstance(raw, dict) else None
    if isinstance(results, list) and results and isinstance(results[0], dict):
        return results[0]
    return {}


def tool_shaped_outputs(raw: Any) -> dict[str, Any]:
    """Outputs of a tool-shaped (or flat) memory result: its keys plus ``success``, ``ok``, ``rendered``,
    ``error``, the first result's ``meta`` keys, and ``raw``."""
    out: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
    first = _first_result(raw)
    if first:
        out.setdefault("success", bool(first.get("success")))
        output = first.get("output")
        out.setdefault("rendered", output if isinstance(output, str) else None)
        out.setdefault("error", first.get("error"))
        for key, value in as_dict(first.get("meta")).items():
            out.setdefault(key, value)
    out.setdefault("success", out.get("ok", raw is not None))
    out.setdefault("ok", out["success"])
    out["raw"] = raw
    return out


def _output(raw: Any) -> dict[str, Any]:
    return as_dict(_first_result(raw).get("output"))


def _note_outputs(raw: Any) -> dict[str, Any]:
    out = tool_shaped_outputs(raw)
    out["note_id"] = _output(raw).get("span_id")
    return out


def _query_outputs(raw: Any) -> dict[str, Any]:
    out = tool_shaped_outputs(raw)
    output = _first_result(raw).get("output")
    if isinstance(output, dict):
        out["rendered"] = output.get("rendered")
        out["results"] = output.get("spans") or []
    else:
        out["results"] = []
    return out


def _tag_outputs(raw: Any) -> dict[str, Any]:
    out = tool_shaped_outputs(raw)
    output = _output(raw)
    if output and out.get("rendered") is None:
        out["rendered"] = (
            f"tagged {output.get('span_id', output.get('artifact_id', ''))}: {output.get('tags')}"
        )
    return out


def _compact_outputs(raw: Any) -> dict[str, Any]:
    out = tool_shaped_outputs(raw)
    out["span_id"] = _output(raw).get("span_id") or out.get("span_id")
    return out


MEMORY_RUNNERS: dict[str, Runner] = {t: _runner(t) for t in _EFFECTS}
MEMORY_MAPPERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    **dict.fromkeys(_EFFECTS, tool_shaped_outputs),
    "memory_note": _note_outputs,
    "memory_query": _query_outputs,
    "memory_tag": _tag_outputs,
    "memory_compact": _compact_outputs,
}
