"""The Flow IR: exec nodes with runners, exec edges, an entry (SPEC §9.2 step 2).

A :class:`FlowNode` handler is a *runner* ``(ExecEnv) -> StepPlan`` (see ``nodes.env``); ``compile_flow``
wraps each runner into a kernel node handler.  ``data_graph`` (optional) resolves data-pin inputs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Flow", "FlowEdge", "FlowNode"]


@dataclass
class FlowNode:
    """One executable node of a Flow."""

    node_id: str
    handler: Callable[..., Any]
    input_key: str | None = None
    output_key: str | None = None
    effect_type: str | None = None
    effect_config: dict[str, Any] = field(default_factory=dict)
    node_type: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FlowEdge:
    """An execution edge; ``source_handle`` names the exec output pin (``exec-out``, ``true``, ``loop``...)."""

    source: str
    target: str
    condition: str | None = None
    source_handle: str | None = None


class Flow:
    """A graph of exec nodes; ``validate()`` lists problems, ``compile_flow`` turns it into a WorkflowSpec."""

    def __init__(self, flow_id: str) -> None:
        self.flow_id = flow_id
        self.nodes: dict[str, FlowNode] = {}
        self.edges: list[FlowEdge] = []
        self.entry_node: str | None = None
        self.exit_node: str | None = None
        self.data_graph: Any = None
        self._ignored_exec_nodes: list[str] = []

    def add_node(
        self,
        node_id: str,
        handler: Callable[..., Any],
        *,
        input_key: str | None = None,
        output_key: str | None = None,
        effect_type: str | None = None,
        effect_config: dict[str, Any] | None = None,
        node_type: str = "",
        data: dict[str, Any] | None = None,
    ) -> FlowNode:
        node = FlowNode(
            node_id,
            handler,
            input_key,
            output_key,
            effect_type,
            dict(effect_config or {}),
            node_type,
            data or {},
        )
        self.nodes[node_id] = node
        if self.entry_node is None:
            self.entry_node = node_id
        return node

    def add_edge(
        self, source: str, target: str, *, condition: str | None = None, source_handle: str | None = None
    ) -> None:
        self.edges.append(FlowEdge(source, target, condition, source_handle))

    def set_entry(self, node_id: str) -> None:
        self.entry_node = node_id

    def set_exit(self, node_id: str) -> None:
        self.exit_node = node_id

    def get_next_nodes(self, node_id: str) -> list[str]:
        return [e.target for e in self.edges if e.source == node_id]

    def get_terminal_nodes(self) -> list[str]:
        sources = {e.source for e in self.edges}
        return [n for n in self.nodes if n not in sources]

    def reachable(self) -> set[str]:
        """Node ids reachable from the entry through exec edges."""
        if self.entry_node is None:
            return set()
        seen = {self.entry_node}
        queue = deque([self.entry_node])
        while queue:
            for nxt in self.get_next_nodes(queue.popleft()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return seen

    def validate(self) -> list[str]:
        """Problems: no entry, edges to missing nodes, unreachable nodes (empty list: valid)."""
        errors: list[str] = []
        if self.entry_node is None or self.entry_node not in self.nodes:
            errors.append(f"Flow '{self.flow_id}' has no entry node")
        for edge in self.edges:
            for end in (edge.source, edge.target):
                if end not in self.nodes:
                    errors.append(f"Edge {edge.source}->{edge.target} references missing node '{end}'")
        if not errors:
            reach = self.reachable()
            errors.extend(f"Node '{n}' is unreachable from the entry" for n in self.nodes if n not in reach)
        return errors
