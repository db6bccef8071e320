"""``memact_compose``: rebuild the per-turn MemAct CURRENT CONTEXT from a KG query result, deterministically.

Pins: ``kg_result`` (a ``memory_kg_query`` raw result: a dict with ``items``/``packets``/``assertions`` lists
of ``{subject, predicate, object, observed_at?}``, a ``results[0].output`` tool shape, or such a list itself),
``stimulus`` (the current turn's text), ``marker`` (line prefix, default ``"KG:"``), ``max_items``
(default 12).  Items are ranked by word overlap with the stimulus, then recency (``observed_at``), then
input order; duplicates are dropped; the first ``max_items`` are kept.  No LLM is needed.

Outputs: ``ok``; ``memact_blocks`` (``[{kind, text, item}]``); ``active_memory`` (``{stimulus, lines,
count}``); ``delta`` (``{added, removed, kept}`` against the previous compose of this node in the run, kept
in ``_temp.memact.<node_id>``); ``trace`` (counts and ranking); ``memact_system_prompt`` (the
``## CURRENT CONTEXT`` block, empty when nothing was selected).
"""

from __future__ import annotations

import re
from typing import Any

from ...core.models import StepPlan
from .env import ExecEnv, Runner

__all__ = ["MEMACT_RUNNERS", "compose"]

_WORD = re.compile(r"[a-z0-9]+")


def _items(kg_result: Any) -> list[dict[str, Any]]:
    if isinstance(kg_result, list):
        return [i for i in kg_result if isinstance(i, dict)]
    if not isinstance(kg_result, dict):
        return []
    for key in ("items", "packets", "assertions"):
        if isinstance(kg_result.get(key), list) and kg_result[key]:
            return [i for i in kg_result[key] if isinstance(i, dict)]
    results = kg_result.get("results")
    if isinstance(results, list) and results and isinstance(results[0], dict):
        return _items(results[0].get("output"))
    return []


def _line(item: dict[str, Any], marker: str) -> str:
    if all(k in item for k in ("subject", "predicate", "object")):
        body = f"{item['subject']} {item['predicate']} {item['object']}"
    else:
        body = str(item.get("text") or item.get("content") or item)
    return f"{marker} {body}".strip() if marker else body


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def compose(kg_result: Any, stimulus: str, marker: str, max_items: int) -> dict[str, Any]:
    """The selected lines, blocks and ranking trace of one compose (without the delta)."""
    items = _items(kg_result)
    wanted = _words(stimulus)
    scored = []
    for index, item in enumerate(items):
        overlap = len(wanted & _words(_line(item, "")))
        scored.append((-overlap, _neg_time(item.get("observed_at")), index, item))
    scored.sort(key=lambda s: (s[0], s[1], s[2]))
    seen: set[str] = set()
    blocks: list[dict[str, Any]] = []
    for score, _, index, item in scored:
        text = _line(item, marker)
        if text in seen:
            continue
        seen.add(text)
        blocks.append({"kind": "kg", "text": text, "item": item, "score": -score, "index": index})
    selected = blocks[: max(max_items, 0)]
    return {"items": items, "selected": selected, "dropped": len(blocks) - len(selected)}


def _neg_time(value: Any) -> str:
    # Sort newer first with an ascending sort: invert the ISO string's characters.
    text = value if isinstance(value, str) else ""
    return "".join(chr(0x10FFFF - ord(c)) for c in text) if text else "\U0010ffff"


def _int(value: Any, default: int) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    return default


def _memact_compose(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    stimulus = inputs.get("stimulus") if isinstance(inputs.get("stimulus"), str) else ""
    marker = inputs.get("marker") if isinstance(inputs.get("marker"), str) else "KG:"
    max_items = _int(inputs.get("max_items"), 12)
    result = compose(inputs.get("kg_result"), str(stimulus), str(marker), max_items)
    lines = [b["text"] for b in result["selected"]]
    state = env.temp_dict("memact")
    stored = state.get(env.node_id)
    previous: list[str] = [str(x) for x in stored] if isinstance(stored, list) else []
    state[env.node_id] = list(lines)
    delta = {
        "added": [ln for ln in lines if ln not in previous],
        "removed": [ln for ln in previous if ln not in lines],
        "kept": [ln for ln in lines if ln in previous],
    }
    prompt = ""
    if lines:
        header = ["## CURRENT CONTEXT"] + ([f"Stimulus: {stimulus}"] if stimulus else [])
        prompt = "\n".join(header + [f"- {ln}" for ln in lines])
    trace = {
        "stimulus": stimulus,
        "marker": marker,
        "max_items": max_items,
        "source_count": len(result["items"]),
        "selected_count": len(lines),
        "dropped": result["dropped"],
        "ranking": [
            {"text": b["text"], "score": b["score"], "index": b["index"]} for b in result["selected"]
        ],
    }
    outputs = {
        "ok": True,
        "delta": delta,
        "trace": trace,
        "active_memory": {"stimulus": stimulus, "lines": lines, "count": len(lines)},
        "memact_blocks": [
            {"kind": b["kind"], "text": b["text"], "item": b["item"]} for b in result["selected"]
        ],
        "memact_system_prompt": prompt,
    }
    return env.go("exec-out", outputs)


MEMACT_RUNNERS: dict[str, Runner] = {"memact_compose": _memact_compose}
