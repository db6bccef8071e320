"""What a VisualFlow file declares: its ``--input`` keys, outputs, nodes, subflows and needs (``flow show``).

Read with the VisualFlow loader (:func:`~abstractruntime.visualflow_compiler.visual.models.load_visualflow_json`),
which completes missing pin lists from the node registry.  The *inputs* of a flow are the data output pins
of its entry node (``on_flow_start`` and the other entry kinds): exactly the keys ``run --input KEY=VALUE``
sets; its *outputs* are the data input pins of its ``on_flow_end`` nodes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from abstractruntime.core.host_vars import is_host_owned_path
from abstractruntime.visualflow_compiler.visual.models import VisualFlow, VisualNode, load_visualflow_json

from .targets import _read_json, _subflow_ids

__all__ = ["describe_flow", "flow_input_names", "unknown_input_keys"]

ENTRY_TYPES = ("on_flow_start", "on_user_request", "on_agent_message")

NEEDS: dict[str, frozenset[str]] = {
    "llm": frozenset({"llm_call", "agent", "memory_compact", "memact_compose"}),
    "tools": frozenset({"tool_calls", "call_tool", "agent", "read_file", "write_file"}),
    "memory": frozenset({"memory_note", "memory_query", "memory_tag", "memory_rehydrate", "memory_compact"}),
    "knowledge_graph": frozenset({"memory_kg_assert", "memory_kg_query", "memory_kg_resolve"}),
    "artifact_store": frozenset(
        {
            "memory_note",
            "memory_rehydrate",
            "generate_image",
            "generate_voice",
            "transcribe_audio",
            "listen_voice",
        }
    ),
    "media": frozenset({"generate_image", "generate_voice", "transcribe_audio", "listen_voice"}),
    "user": frozenset({"ask_user", "answer_user"}),
    "events": frozenset({"wait_event", "on_event", "emit_event"}),
    "timers": frozenset({"wait_until", "on_schedule"}),
}
"""Which node types need which host facility (``needs`` in :func:`describe_flow`)."""


def _entry_node(flow: VisualFlow) -> VisualNode | None:
    """The flow's ``entryNode`` when it is an entry kind, else its first entry-kind node, else ``entryNode``."""
    named = flow.node_map().get(flow.entry_node or "")
    if named is not None and named.type in ENTRY_TYPES:
        return named
    return next((node for node in flow.nodes if node.type in ENTRY_TYPES), named)


def _data_pins(node: VisualNode, direction: str) -> list[dict[str, Any]]:
    return [p for p in node.pins(direction) if p.get("type") != "execution"]


def _pin_info(node: VisualNode, pin: dict[str, Any]) -> dict[str, Any]:
    name = str(pin["id"])
    info: dict[str, Any] = {"name": name, "type": pin.get("type") or "any"}
    if name in node.pin_defaults:
        info["default"] = node.pin_defaults[name]
    return info


def _load(path: Path) -> tuple[dict[str, Any], VisualFlow]:
    raw = _read_json(path)
    return raw, load_visualflow_json(raw)


def flow_input_names(path: Path) -> list[str]:
    """The ``--input`` keys the VisualFlow at ``path`` declares (its entry node's data output pins).

    Raises:
        TargetError: the file cannot be read. VisualFlowError: it is no VisualFlow.
    """
    _, flow = _load(path)
    entry = _entry_node(flow)
    return [] if entry is None else [str(p["id"]) for p in _data_pins(entry, "outputs")]


def unknown_input_keys(keys: list[str], allowed: list[str]) -> list[str]:
    """The ``keys`` that are neither a declared input nor a host-owned variable (``workspace_root``...)."""
    return [k for k in keys if k not in allowed and not is_host_owned_path(k)]


def describe_flow(path: Path) -> dict[str, Any]:
    """The JSON-safe description ``flow show`` prints.

    Returns:
        ``{id, name, description, file, entry, inputs: [{name, type, default?}], outputs: [{name, type}],
        node_count, node_types: {type: count}, subflows: [id], needs: [facility]}``; ``needs`` names keys of
        :data:`NEEDS` whose node types occur in the flow.

    Raises:
        TargetError: the file cannot be read. VisualFlowError: it is no VisualFlow.
    """
    raw, flow = _load(path)
    entry = _entry_node(flow)
    outputs: list[dict[str, Any]] = []
    for node in flow.nodes:
        if node.type == "on_flow_end":
            for pin in _data_pins(node, "inputs"):
                if all(o["name"] != pin["id"] for o in outputs):
                    outputs.append({"name": str(pin["id"]), "type": pin.get("type") or "any"})
    counts = Counter(node.type for node in flow.nodes)
    return {
        "id": flow.id,
        "name": flow.name or flow.id,
        "description": flow.description,
        "file": str(path),
        "entry": None if entry is None else {"node_id": entry.id, "type": entry.type},
        "inputs": [] if entry is None else [_pin_info(entry, p) for p in _data_pins(entry, "outputs")],
        "outputs": outputs,
        "node_count": len(flow.nodes),
        "node_types": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "subflows": sorted(_subflow_ids(raw)),
        "needs": [need for need, types in NEEDS.items() if types & counts.keys()],
    }
