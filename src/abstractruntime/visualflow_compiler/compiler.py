"""``compile_flow`` (Flow IR -> WorkflowSpec), ``compile_visualflow`` and ``compile_visualflow_tree``."""

from __future__ import annotations

from collections import deque
from typing import Any

from ..agents.react import react_agent_spec
from ..core.models import RunState, StepPlan
from ..core.spec import NodeHandler, RunContext, WorkflowSpec
from .errors import Diagnostic, VisualFlowError
from .flow import Flow, FlowNode
from .nodes.env import ExecEnv
from .nodes.subflows import agent_workflow_id, subflow_target
from .visual.executor import visual_to_flow
from .visual.models import VisualFlow, load_visualflow_json

__all__ = ["agent_specs", "compile_flow", "compile_visualflow", "compile_visualflow_tree"]

_BRANCH_HANDLES = ("true", "false", "default", "loop", "done", "completed", "success", "error")


def _routes(flow: Flow) -> dict[str, dict[str, str]]:
    """``{node_id: {handle: target}}``; several edges out of one handle is unsupported branching."""
    routes: dict[str, dict[str, str]] = {}
    for edge in flow.edges:
        handle = edge.source_handle or edge.condition or "exec-out"
        by_handle = routes.setdefault(edge.source, {})
        if handle in by_handle and by_handle[handle] != edge.target:
            message = f"Node '{edge.source}' has several exec edges from '{handle}'. Branching is not yet supported."
            raise VisualFlowError(
                message, diagnostics=[Diagnostic("branching", message, edge.source)], flow_id=flow.flow_id
            )
        by_handle[handle] = edge.target
    for node_id, by_handle in routes.items():
        extra = [
            h
            for h in by_handle
            if h != "exec-out" and not h.startswith(("case:", "then:")) and h not in _BRANCH_HANDLES
        ]
        if extra and len(by_handle) > 1:
            message = f"Node '{node_id}' has unsupported exec outputs {sorted(by_handle)}. Branching is not yet supported."
            raise VisualFlowError(
                message, diagnostics=[Diagnostic("branching", message, node_id)], flow_id=flow.flow_id
            )
    return routes


def _handler(flow: Flow, node: FlowNode, routes: dict[str, dict[str, str]]) -> NodeHandler:
    def handle(run: RunState, ctx: RunContext) -> StepPlan:
        plan: StepPlan = node.handler(ExecEnv(flow, node, run, ctx, routes))
        return plan

    handle.__name__ = f"visual_node_{node.node_id}"
    return handle


def compile_flow(flow: Flow) -> WorkflowSpec:
    """Validate ``flow`` and build its WorkflowSpec (workflow_id = flow id).

    Raises:
        VisualFlowError (a ValueError): the flow is invalid (see ``Flow.validate``) or branches unsupportedly.
    """
    errors = flow.validate()
    if errors:
        diags = [Diagnostic("invalid_flow", e) for e in errors]
        raise VisualFlowError(
            f"Invalid flow '{flow.flow_id}': " + "; ".join(errors), diagnostics=diags, flow_id=flow.flow_id
        )
    routes = _routes(flow)
    assert flow.entry_node is not None
    nodes = {node_id: _handler(flow, node, routes) for node_id, node in flow.nodes.items()}
    return WorkflowSpec(workflow_id=flow.flow_id, entry_node=flow.entry_node, nodes=nodes)


def compile_visualflow(raw: Any) -> WorkflowSpec:
    """``load_visualflow_json`` -> ``visual_to_flow`` -> ``compile_flow``."""
    return compile_flow(visual_to_flow(load_visualflow_json(raw)))


def _subflow_refs(flow: VisualFlow) -> list[str]:
    refs = [subflow_target(n.data) for n in flow.nodes if n.type == "subflow"]
    return [r for r in refs if r]


def agent_specs(flow: VisualFlow) -> dict[str, WorkflowSpec]:
    """The built-in ReAct agent spec of every ``agent`` node of ``flow``, keyed by its workflow id.

    Each spec is :func:`~abstractruntime.agents.react_agent_spec` under
    ``visual_react_agent_<flow>_<node>`` with the node's ``agentConfig`` as defaults.
    """
    specs: dict[str, WorkflowSpec] = {}
    for node in flow.nodes:
        if node.type == "agent":
            workflow_id = agent_workflow_id(flow.id, node.id)
            config = node.data.get("agentConfig")
            specs[workflow_id] = react_agent_spec(
                workflow_id, defaults=config if isinstance(config, dict) else None
            )
    return specs


def compile_visualflow_tree(
    *, root_id: str | None = None, flows_by_id: dict[str, Any]
) -> dict[str, WorkflowSpec]:
    """Compile ``root_id`` (or the first flow) and every subflow it references, breadth first, once each.

    Missing subflows are skipped; cycles are allowed.  The result also holds, for every ``agent`` node of
    those flows, the built-in ReAct agent it starts (``visual_react_agent_<flow>_<node>``, see
    :func:`agent_specs`).  Register every returned spec in the runtime's registry.
    """
    if not flows_by_id:
        return {}
    start = root_id if root_id is not None else next(iter(flows_by_id))
    specs: dict[str, WorkflowSpec] = {}
    queue, seen = deque([start]), {start}
    while queue:
        flow_id = queue.popleft()
        if flow_id not in flows_by_id:
            continue
        visual = flows_by_id[flow_id]
        visual = visual if isinstance(visual, VisualFlow) else load_visualflow_json(visual)
        spec = compile_flow(visual_to_flow(visual))
        specs[spec.workflow_id] = spec
        for agent_id, agent in agent_specs(visual).items():
            specs.setdefault(agent_id, agent)
        for ref in _subflow_refs(visual):
            if ref not in seen:
                seen.add(ref)
                queue.append(ref)
    return specs
