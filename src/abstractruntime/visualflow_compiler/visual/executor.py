"""``visual_to_flow``: VisualFlow -> Flow IR (SPEC §9.2 step 2).

Exec edges (``targetHandle == "exec-in"``) become Flow edges; every other edge is a data edge resolved
lazily by :class:`DataGraph` when a node runs.  Pure nodes are recomputed on every access (memoized within
one input resolution only); exec nodes not reachable from the entry are ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import Diagnostic, VisualFlowError
from ..flow import Flow
from ..nodes import exec_output, runner_for
from ..nodes.pure import evaluate_pure
from .models import VisualEdge, VisualFlow, VisualNode, load_visualflow_json
from .multi_entry_lowering import lower_multi_entry

__all__ = ["DataGraph", "duplicate_data_edges", "is_exec_node", "visual_to_flow"]


def is_exec_node(node: VisualNode) -> bool:
    """Exec nodes have at least one ``execution`` pin; ``join_exec`` always is one."""
    return node.type == "join_exec" or node.has_exec_pins()


class DataGraph:
    """Resolves the data inputs of nodes from data edges, pure nodes and persisted exec outputs."""

    def __init__(self, flow: VisualFlow) -> None:
        self.flow_id = flow.id
        self.nodes = flow.node_map()
        self.exec_ids = {n.id for n in flow.nodes if is_exec_node(n)}
        self.data_in: dict[str, dict[str, tuple[str, str]]] = {}
        for edge in flow.edges:
            if edge.is_exec:
                continue
            pins = self.data_in.setdefault(edge.target, {})
            if edge.target_handle in pins:
                message = f"Two data edges into pin '{edge.target_handle}' of node '{edge.target}'"
                diag = Diagnostic("duplicate_data_edge", message, edge.target, edge.id)
                raise VisualFlowError(message, diagnostics=[diag], flow_id=flow.id)
            pins[edge.target_handle] = (edge.source, edge.source_handle)

    def inputs_for(self, node_id: str, vars: dict[str, Any]) -> dict[str, Any]:
        """Connected pins (a connected pin wins, even when None), then deep-copied pinDefaults."""
        return self._inputs(node_id, vars, {}, ())

    def _inputs(
        self, node_id: str, vars: dict[str, Any], memo: dict[str, dict[str, Any]], path: tuple[str, ...]
    ) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for pin, (src, src_pin) in self.data_in.get(node_id, {}).items():
            output = self._output(src, vars, memo, path)
            if src_pin in output:
                inputs[pin] = output[src_pin]
            elif src_pin in ("result", "output"):
                inputs[pin] = output
            else:
                inputs[pin] = None
        node = self.nodes.get(node_id)
        if node is not None:
            for pin, value in node.pin_defaults.items():
                if pin not in inputs:
                    inputs[pin] = copy.deepcopy(value)
        return inputs

    def _output(
        self, node_id: str, vars: dict[str, Any], memo: dict[str, dict[str, Any]], path: tuple[str, ...]
    ) -> dict[str, Any]:
        node = self.nodes.get(node_id)
        if node is None:
            return {}
        if node_id in self.exec_ids:
            return exec_output(node.type, node_id, vars)
        if node_id in memo:
            return memo[node_id]
        if node_id in path:
            message = f"Data edge cycle detected at '{node_id}'"
            raise VisualFlowError(
                message, diagnostics=[Diagnostic("data_cycle", message, node_id)], flow_id=self.flow_id
            )
        inputs = self._inputs(node_id, vars, memo, (*path, node_id))
        result = evaluate_pure(node.type, inputs, node.data, vars)
        memo[node_id] = result if isinstance(result, dict) else {"value": result}
        return memo[node_id]


def _entry(flow: VisualFlow, exec_nodes: list[VisualNode], incoming: set[str]) -> str | None:
    ids = [n.id for n in exec_nodes]
    if flow.entry_node in ids:
        return flow.entry_node
    roots = [i for i in ids if i not in incoming]
    return roots[0] if roots else (ids[0] if ids else None)


def duplicate_data_edges(flow: VisualFlow) -> list[Diagnostic]:
    """One ``duplicate_data_edge`` diagnostic per input pin that several data edges feed (SPEC §9.1)."""
    sources: dict[tuple[str, str], list[VisualEdge]] = {}
    for edge in flow.edges:
        if not edge.is_exec:
            sources.setdefault((edge.target, edge.target_handle), []).append(edge)
    diags: list[Diagnostic] = []
    for (target, pin), edges in sources.items():
        if len(edges) > 1:
            froms = ", ".join(f"{e.source}.{e.source_handle}" for e in edges)
            message = f"Two data edges into pin '{pin}' of node '{target}' (from {froms})"
            diags.append(Diagnostic("duplicate_data_edge", message, target, edges[1].id))
    return diags


def visual_to_flow(visual: Any) -> Flow:
    """Lower a VisualFlow (or its raw dict) into the Flow IR (SPEC §9.2 steps 1-2).

    Raises:
        VisualFlowError (a ValueError): several data edges into one pin (every such pin is listed in
            ``diagnostics``), or invalid multi-entry metadata (stale or duplicate routes, stale overrides).
    """
    vf = visual if isinstance(visual, VisualFlow) else load_visualflow_json(visual)
    duplicates = duplicate_data_edges(vf)
    if duplicates:
        raise VisualFlowError("; ".join(d.message for d in duplicates), diagnostics=duplicates, flow_id=vf.id)
    vf = lower_multi_entry(vf)
    graph = DataGraph(vf)
    exec_nodes = [n for n in vf.nodes if n.id in graph.exec_ids]
    exec_edges = [
        e for e in vf.edges if e.is_exec and e.source in graph.exec_ids and e.target in graph.exec_ids
    ]
    flow = Flow(vf.id)
    flow.data_graph = graph
    entry = _entry(vf, exec_nodes, {e.target for e in exec_edges})
    reach: set[str] = set()
    frontier = [entry] if entry else []
    while frontier:
        current = frontier.pop()
        if current not in reach:
            reach.add(current)
            frontier.extend(e.target for e in exec_edges if e.source == current)
    for node in exec_nodes:
        if node.id not in reach:
            flow._ignored_exec_nodes.append(node.id)
            continue
        output_key = node.data.get("outputKey")
        input_key = node.data.get("inputKey")
        flow.add_node(
            node.id,
            runner_for(node.type),
            input_key=input_key if isinstance(input_key, str) else None,
            output_key=output_key if isinstance(output_key, str) and output_key else None,
            effect_type=node.type if node.type in _EFFECT_TYPES else None,
            effect_config=node.data.get("effectConfig")
            if isinstance(node.data.get("effectConfig"), dict)
            else None,
            node_type=node.type,
            data=node.data,
        )
    for edge in exec_edges:
        if edge.source in reach and edge.target in reach:
            flow.add_edge(
                edge.source, edge.target, condition=edge.source_handle, source_handle=edge.source_handle
            )
    if entry is not None:
        flow.set_entry(entry)
    else:
        flow.entry_node = None
    return flow


_EFFECT_TYPES = frozenset(
    {
        "ask_user", "answer_user", "llm_call", "tool_calls", "call_tool", "wait_until", "wait_event", "emit_event",
        "memory_note", "memory_query", "memory_tag", "memory_compact", "memory_rehydrate", "memory_kg_assert",
        "memory_kg_query", "memory_kg_resolve", "model_residency", "agent", "subflow", "on_event", "on_schedule",
    }
)  # fmt: skip
