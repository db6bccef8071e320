"""VisualFlow document model and its tolerant loader (SPEC §9.1)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .._util import as_list
from ..errors import Diagnostic, VisualFlowError, VisualFlowTypeError
from .node_registry import complete_pins, normalize_node_type, resolve_node_type

__all__ = ["VisualEdge", "VisualFlow", "VisualNode", "load_visualflow_json", "normalize_node_type"]


@dataclass
class VisualNode:
    """A node: ``type`` is normalized (``"NodeType.LLM_CALL"`` -> ``"llm_call"``, a generic ``type`` such as
    ``"custom"`` gives way to ``data.nodeType``); ``data`` is kept as is, with missing pin lists completed
    from the node registry (see :mod:`.node_registry`)."""

    id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def pins(self, direction: str) -> list[dict[str, Any]]:
        """The ``inputs`` or ``outputs`` pin dicts of the node (malformed entries skipped)."""
        raw = self.data.get(direction)
        return [p for p in raw if isinstance(p, dict) and "id" in p] if isinstance(raw, list) else []

    def has_exec_pins(self) -> bool:
        """True when the node has at least one pin of type ``execution``."""
        return any(p.get("type") == "execution" for p in self.pins("inputs") + self.pins("outputs"))

    @property
    def pin_defaults(self) -> dict[str, Any]:
        raw = self.data.get("pinDefaults")
        return raw if isinstance(raw, dict) else {}


@dataclass
class VisualEdge:
    """An edge between two pins; ``target_handle == "exec-in"`` makes it an execution edge."""

    source: str
    target: str
    source_handle: str
    target_handle: str
    id: str | None = None

    @property
    def is_exec(self) -> bool:
        return self.target_handle == "exec-in"


@dataclass
class VisualFlow:
    """A whole VisualFlow document."""

    id: str
    name: str = ""
    description: str = ""
    interfaces: list[str] = field(default_factory=list)
    nodes: list[VisualNode] = field(default_factory=list)
    edges: list[VisualEdge] = field(default_factory=list)
    entry_node: str | None = None

    def node_map(self) -> dict[str, VisualNode]:
        return {n.id: n for n in self.nodes}


def _to_mapping(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    dump = getattr(raw, "model_dump", None)
    if callable(dump):
        out = dump(mode="json")
        if isinstance(out, dict):
            return out
    as_dict = getattr(raw, "dict", None)
    if callable(as_dict):
        out = as_dict()
        if isinstance(out, dict):
            return out
    raise VisualFlowTypeError(f"VisualFlow must be a dict, got {type(raw).__name__}")


def _load_node(raw: Any) -> VisualNode | None:
    if not isinstance(raw, dict) or raw.get("id") in (None, ""):
        return None
    data = raw.get("data")
    data = data if isinstance(data, dict) else {}
    return VisualNode(id=str(raw["id"]), type=resolve_node_type(raw.get("type"), data), data=data)


def _load_edge(raw: Any) -> VisualEdge | None:
    if not isinstance(raw, dict):
        return None
    sh, th = raw.get("sourceHandle"), raw.get("targetHandle")
    if not sh or not th or raw.get("source") is None or raw.get("target") is None:
        return None
    edge_id = raw.get("id")
    return VisualEdge(
        source=str(raw["source"]),
        target=str(raw["target"]),
        source_handle=str(sh),
        target_handle=str(th),
        id=str(edge_id) if edge_id is not None else None,
    )


def load_visualflow_json(raw: Any) -> VisualFlow:
    """Load a VisualFlow from a dict (or a Pydantic-like model, or JSON text).

    Unknown fields are ignored; edges without handles are dropped.  Nodes without ``inputs``/``outputs``
    pin lists get their type's default pins plus the pins their edges use (:func:`.node_registry.complete_pins`),
    so minimal documents (nodes as ``{id, type, data: {nodeType}}``, ``exec-out`` -> ``exec-in`` edges) work.

    Raises:
        VisualFlowTypeError (a TypeError): the input is not a mapping.
        VisualFlowError (a ValueError): the flow has no id, or JSON text does not parse.
    """
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            diag = Diagnostic("invalid_json", f"VisualFlow JSON does not parse: {exc}")
            raise VisualFlowError(diag.message, diagnostics=[diag]) from None
    data = _to_mapping(raw)
    flow_id = data.get("id") or data.get("flow_id") or data.get("workflow_id")
    if not flow_id:
        diag = Diagnostic("missing_id", "VisualFlow has no id (id, flow_id or workflow_id)")
        raise VisualFlowError(diag.message, diagnostics=[diag])
    raw_nodes = as_list(data.get("nodes"))
    raw_edges = as_list(data.get("edges"))
    interfaces = as_list(data.get("interfaces"))
    entry = data.get("entryNode")
    nodes = [n for n in (_load_node(r) for r in raw_nodes) if n is not None]
    edges = [e for e in (_load_edge(r) for r in raw_edges) if e is not None]
    into: dict[str, list[tuple[str, bool]]] = {}
    out_of: dict[str, list[tuple[str, bool]]] = {}
    for edge in edges:
        into.setdefault(edge.target, []).append((edge.target_handle, edge.is_exec))
        out_of.setdefault(edge.source, []).append((edge.source_handle, edge.is_exec))
    for node in nodes:
        node.data = complete_pins(node.type, node.data, into.get(node.id, []), out_of.get(node.id, []))
    return VisualFlow(
        id=str(flow_id),
        name=str(data.get("name") or ""),
        description=str(data.get("description") or ""),
        interfaces=[str(i) for i in interfaces],
        nodes=nodes,
        edges=edges,
        entry_node=str(entry) if entry else None,
    )
