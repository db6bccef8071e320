"""``validate_visualflow(raw) -> list[Diagnostic]``: every problem of a flow document at once.

Reports unknown node types, dangling edges, a missing entry, two data edges into one pin and exec cycles
that contain no loop node.  Malformed input (non-dict, JSON text that does not parse) gives diagnostics,
never an exception.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ._util import as_list
from .compiler import compile_flow
from .errors import Diagnostic, VisualFlowError, VisualFlowTypeError
from .nodes import known_node_types
from .visual.executor import duplicate_data_edges, is_exec_node, visual_to_flow
from .visual.models import VisualFlow, load_visualflow_json

__all__ = ["Diagnostic", "validate_visualflow"]

_LOOP_TYPES = frozenset({"loop", "while", "for", "on_event", "on_schedule"})


def _structure(raw: Any) -> list[Diagnostic]:
    """Diagnostics for nodes/edges entries the tolerant loader would silently drop."""
    if not isinstance(raw, dict):
        return []
    diags: list[Diagnostic] = []
    for key in ("nodes", "edges"):
        if key in raw and not isinstance(raw[key], list):
            diags.append(Diagnostic(f"invalid_{key}", f"'{key}' must be a list"))
    for i, node in enumerate(as_list(raw.get("nodes"))):
        if not isinstance(node, dict) or not node.get("id"):
            diags.append(Diagnostic("invalid_node", f"nodes[{i}] is not a node with an id"))
    return diags


def _edge_problems(flow: VisualFlow) -> list[Diagnostic]:
    ids = {n.id for n in flow.nodes}
    diags: list[Diagnostic] = []
    for edge in flow.edges:
        for end in (edge.source, edge.target):
            if end not in ids:
                diags.append(
                    Diagnostic(
                        "dangling_edge",
                        f"Edge {edge.source}->{edge.target} references missing node '{end}'",
                        end,
                        edge.id,
                    )
                )
    diags.extend(duplicate_data_edges(flow))
    return diags


def _exec_cycles(flow: VisualFlow) -> list[Diagnostic]:
    """Exec cycles (strongly connected components) with no loop-capable node and no exec edge out.

    A cycle through a branch (``if``/``switch``...) whose other handle leaves the cycle is a conditional
    loop, which runs fine; a cycle nothing leaves never ends.
    """
    types = {n.id: n.type for n in flow.nodes}
    succ: dict[str, list[str]] = {}
    for e in flow.edges:
        if e.is_exec and e.source in types and e.target in types:
            succ.setdefault(e.source, []).append(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    diags: list[Diagnostic] = []

    def visit(v: str) -> None:  # Tarjan; flows are small, recursion depth is bounded by node count
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            cyclic = len(comp) > 1 or v in succ.get(v, [])
            members = set(comp)
            exits = any(w not in members for n in comp for w in succ.get(n, []))
            if cyclic and not exits and not any(types[n] in _LOOP_TYPES for n in comp):
                nodes = ", ".join(sorted(comp))
                diags.append(
                    Diagnostic("exec_cycle", f"Exec cycle without a loop node: {nodes}", sorted(comp)[0])
                )

    for node_id in types:
        if node_id not in index:
            visit(node_id)
    return diags


def validate_visualflow(raw: Any) -> list[Diagnostic]:
    """Every problem of ``raw`` (dict, model or JSON text) as diagnostics; empty when the flow is valid."""
    try:
        flow = load_visualflow_json(raw)
    except (VisualFlowError, VisualFlowTypeError) as exc:
        return list(getattr(exc, "diagnostics", [])) or [Diagnostic("invalid_document", str(exc))]
    if isinstance(raw, (str, bytes)):
        import json

        raw = json.loads(raw)
    diags = _structure(raw if isinstance(raw, dict) else None)
    known = known_node_types()
    seen: Counter[str] = Counter(n.id for n in flow.nodes)
    diags.extend(
        Diagnostic("duplicate_node_id", f"Node id '{i}' is used {c} times", i)
        for i, c in seen.items()
        if c > 1
    )
    for node in flow.nodes:
        if node.type not in known:
            diags.append(
                Diagnostic("unknown_node_type", f"Node '{node.id}' has unknown type '{node.type}'", node.id)
            )
    diags.extend(_edge_problems(flow))
    exec_ids = [n.id for n in flow.nodes if is_exec_node(n)]
    if not exec_ids:
        diags.append(Diagnostic("missing_entry", "The flow has no execution node to start from"))
    elif flow.entry_node is not None and flow.entry_node not in {n.id for n in flow.nodes}:
        diags.append(
            Diagnostic(
                "missing_entry", f"entryNode '{flow.entry_node}' is not a node of the flow", flow.entry_node
            )
        )
    diags.extend(_exec_cycles(flow))
    if not diags:
        diags.extend(_lowering_problems(flow))
    return diags


def _lowering_problems(flow: VisualFlow) -> list[Diagnostic]:
    """What the lowering pipeline rejects (stale entryRoutes, duplicate exec edges, branching...)."""
    try:
        compile_flow(visual_to_flow(flow))
    except VisualFlowError as exc:
        return list(exc.diagnostics) or [Diagnostic("invalid_flow", str(exc))]
    return []
