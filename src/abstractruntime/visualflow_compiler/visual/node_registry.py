"""The node registry: default pins of every node type, and pin completion for minimal documents (SPEC §9.1).

Hand-written and generated flows often give a node as only ``{"id", "type", "data": {"nodeType": ...}}``.
Whether a node is an execution node is decided by its pins (SPEC §9.2), so the loader completes such
nodes from this registry:

* the node type is ``type``, unless that is blank or generic (``"custom"``, ``"default"``...) or unknown
  while ``data.nodeType`` names a known type: then ``data.nodeType`` is the type;
* a pin direction (``inputs``/``outputs``) missing from ``data`` gets the type's default pins plus a pin for
  every handle the document's edges use on that side of the node (data edges add ``any`` pins, exec edges
  ``execution`` pins);
* a pin direction given explicitly is kept as written (explicit wins), except that an exec edge into
  ``exec-in`` / out of a handle the list does not declare adds that ``execution`` pin, so the edge is an
  execution edge of an execution node rather than silently dropped.

The input dicts are never mutated: a completed node gets a new ``data`` dict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .node_pins import DATA_PINS, EXEC_PINS

__all__ = [
    "GENERIC_NODE_TYPES",
    "complete_pins",
    "default_pins",
    "is_exec_type",
    "normalize_node_type",
    "registry_types",
    "resolve_node_type",
]

GENERIC_NODE_TYPES = frozenset({"", "custom", "default", "generic", "node", "visual", "flownode", "basenode"})
"""Editor/React-Flow node kinds that say nothing about the node; ``data.nodeType`` then holds the type."""

Pin = dict[str, Any]


def _parse(spec: str) -> list[Pin]:
    pins: list[Pin] = []
    for token in spec.split():
        if token.startswith(">"):
            pins.append({"id": token[1:], "label": token[1:], "type": "execution"})
            continue
        pin_id, _, pin_type = token.partition(":")
        pins.append({"id": pin_id, "label": pin_id, "type": pin_type or "any"})
    return pins


def registry_types() -> frozenset[str]:
    """Every node type the registry has default pins for."""
    return frozenset(EXEC_PINS) | frozenset(DATA_PINS)


def is_exec_type(node_type: str) -> bool:
    """True when the type is an execution node by default (its default pins include execution pins)."""
    return node_type in EXEC_PINS


def default_pins(node_type: str) -> tuple[list[Pin], list[Pin]]:
    """Fresh ``(inputs, outputs)`` pin dicts ``{id, label, type}`` of ``node_type``; ``([], [])`` if unknown."""
    spec = EXEC_PINS.get(node_type) or DATA_PINS.get(node_type) or ("", "")
    return _parse(spec[0]), _parse(spec[1])


def normalize_node_type(value: Any) -> str:
    """``"NodeType.X"`` -> ``"x"``; enums use their value; everything else ``str()``."""
    raw = getattr(value, "value", value)
    text = str(raw if raw is not None else "").strip()
    if text.startswith("NodeType."):
        text = text[len("NodeType.") :].lower()
    return text


def resolve_node_type(raw_type: Any, data: dict[str, Any]) -> str:
    """The node's type: normalized ``type``, or ``data.nodeType`` when ``type`` is generic or unknown.

    ``"NodeType.LLM_CALL"`` becomes ``"llm_call"``.  ``data.nodeType`` wins when ``type`` is blank or one
    of :data:`GENERIC_NODE_TYPES`, or when ``type`` is not a registry type but ``data.nodeType`` is.
    """
    node_type = normalize_node_type(raw_type)
    declared = normalize_node_type(data.get("nodeType"))
    if not declared:
        return node_type
    known = registry_types()
    if node_type.lower() in GENERIC_NODE_TYPES or (node_type not in known and declared in known):
        return declared
    return node_type


def _add(pins: list[Pin], pin_id: str, pin_type: str) -> None:
    if not any(p.get("id") == pin_id for p in pins):
        pins.append({"id": pin_id, "label": pin_id, "type": pin_type})


def _has_exec(pins: list[Pin]) -> bool:
    return any(p.get("type") == "execution" for p in pins)


def complete_pins(
    node_type: str,
    data: dict[str, Any],
    in_handles: Iterable[tuple[str, bool]],
    out_handles: Iterable[tuple[str, bool]],
) -> dict[str, Any]:
    """``data`` with its pin lists completed (the same object when nothing changes).

    Args:
        node_type: the resolved node type.
        data: the node's ``data`` dict (not mutated).
        in_handles: ``(target_handle, is_exec_edge)`` of every edge into the node.
        out_handles: ``(source_handle, is_exec_edge)`` of every edge out of the node.

    Returns:
        ``data`` itself, or a shallow copy with new ``inputs``/``outputs`` lists.
    """
    defaults = default_pins(node_type)
    updated: dict[str, Any] = {}
    for direction, default, handles in (
        ("inputs", defaults[0], list(in_handles)),
        ("outputs", defaults[1], list(out_handles)),
    ):
        given = data.get(direction)
        if isinstance(given, list):
            explicit = [p for p in given if isinstance(p, dict)]
            missing = [h for h, is_exec in handles if is_exec and not any(p.get("id") == h for p in explicit)]
            if missing and not (direction == "inputs" and _has_exec(explicit)):
                pins = list(given)
                for handle in missing:
                    _add(pins, handle, "execution")
                updated[direction] = pins
            continue
        pins = default
        for handle, is_exec in handles:
            _add(pins, handle, "execution" if is_exec else "any")
        updated[direction] = pins
    return {**data, **updated} if updated else data
