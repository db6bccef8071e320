"""``response_schema`` ``$ref`` resolution for llm_call and agent nodes.

A schema that is (or contains) ``{"$ref": ref}`` has each such reference replaced by its target, found:

1. in the schema's own ``$defs`` / ``definitions`` (``"#/$defs/Name"``, ``"#/definitions/Name"`` or a bare
   ``"Name"``);
2. in a ``$defs`` / ``definitions`` object anywhere in the flow's node data (for example a ``json_schema``
   literal that only holds definitions);
3. among :data:`KNOWN_SCHEMAS` by full id (``"abstractsemantics:kg_assertion_schema_v0"``).

Sibling keys of a ``$ref`` are kept (they override the target's).  A reference that cannot be found is
left in place and reported, so the caller can warn; cycles stop after :data:`MAX_DEPTH` levels.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

__all__ = ["KNOWN_SCHEMAS", "MAX_DEPTH", "collect_definitions", "resolve_schema_refs"]

MAX_DEPTH = 8

_KG_ASSERTION = {
    "type": "object",
    "properties": {
        "subject": {"type": "string"},
        "predicate": {"type": "string"},
        "object": {"type": "string"},
        "confidence": {"type": "number"},
        "evidence_quote": {"type": "string"},
    },
    "required": ["subject", "predicate", "object"],
}

KNOWN_SCHEMAS: dict[str, dict[str, Any]] = {
    "abstractsemantics:kg_assertion_schema_v0": {
        "type": "object",
        "properties": {"assertions": {"type": "array", "items": _KG_ASSERTION}},
        "required": ["assertions"],
    },
}
"""Schemas known by id without AbstractSemantics: the KG assertion list of the ``ltm-ai-kg-*`` flows."""


def collect_definitions(values: Iterable[Any]) -> dict[str, Any]:
    """Every ``$defs``/``definitions`` entry found (recursively) in ``values`` (first one wins)."""
    found: dict[str, Any] = {}
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key in ("$defs", "definitions"):
                defs = value.get(key)
                if isinstance(defs, dict):
                    for name, target in defs.items():
                        found.setdefault(str(name), target)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _target(ref: str, defs: dict[str, Any]) -> Any:
    if ref in KNOWN_SCHEMAS:
        return KNOWN_SCHEMAS[ref]
    for prefix in ("#/$defs/", "#/definitions/", "#"):
        if ref.startswith(prefix):
            return defs.get(ref[len(prefix) :])
    return defs.get(ref)


def resolve_schema_refs(schema: Any, flow_defs: dict[str, Any] | None = None) -> tuple[Any, list[str]]:
    """``schema`` with its ``$ref`` targets inlined, and the references that could not be resolved.

    Args:
        schema: a JSON Schema (dict); any other value is returned unchanged.
        flow_defs: definitions collected from the flow (see :func:`collect_definitions`).

    Returns:
        ``(resolved_schema, unresolved_refs)``; the input is not modified.
    """
    if not isinstance(schema, dict):
        return schema, []
    defs = {**(flow_defs or {}), **collect_definitions([schema])}
    missing: list[str] = []

    def walk(value: Any, depth: int) -> Any:
        if isinstance(value, list):
            return [walk(v, depth) for v in value]
        if not isinstance(value, dict):
            return value
        ref = value.get("$ref")
        if isinstance(ref, str) and depth < MAX_DEPTH:
            target = _target(ref, defs)
            if isinstance(target, dict):
                merged = {**copy.deepcopy(target), **{k: v for k, v in value.items() if k != "$ref"}}
                return walk(merged, depth + 1)
            if ref not in missing:
                missing.append(ref)
        return {k: (v if k in ("$defs", "definitions") else walk(v, depth)) for k, v in value.items()}

    return walk(copy.deepcopy(schema), 0), missing
