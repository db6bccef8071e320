"""Tiny builders for hand-written VisualFlow documents used by the tests."""

from __future__ import annotations

from typing import Any

EXEC = {"id": "exec-in", "type": "execution"}
OUT = {"id": "exec-out", "type": "execution"}


def pin(pin_id: str, pin_type: str = "any") -> dict[str, Any]:
    return {"id": pin_id, "type": pin_type}


def node(
    node_id: str, node_type: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], **data: Any
) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "data": {"inputs": inputs, "outputs": outputs, **data}}


def edge(source: str, source_handle: str, target: str, target_handle: str = "exec-in") -> dict[str, Any]:
    return {"source": source, "sourceHandle": source_handle, "target": target, "targetHandle": target_handle}


def flow(
    flow_id: str, nodes: list[dict[str, Any]], edges: list[dict[str, Any]], entry: str | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": flow_id, "name": flow_id, "nodes": nodes, "edges": edges}
    if entry:
        doc["entryNode"] = entry
    return doc


def start(node_id: str = "start", *outs: str) -> dict[str, Any]:
    return node(node_id, "on_flow_start", [], [OUT, *(pin(o) for o in outs)])


def end(node_id: str = "end", *ins: str) -> dict[str, Any]:
    return node(node_id, "on_flow_end", [EXEC, *(pin(i) for i in ins)], [])


def bare(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    """A node as minimal documents give it: no pin lists, a generic ``type``, the real one in ``data.nodeType``."""
    return {"id": node_id, "type": "custom", "data": {"nodeType": node_type, **data}}
