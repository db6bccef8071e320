"""VisualFlow compiler: VisualFlow JSON -> Flow IR -> WorkflowSpec (SPEC §9).

Modules: ``visual`` (document model, loader, lowering), ``flow`` (IR), ``compiler``, ``nodes`` (one module
per node family, dispatch tables), ``adapters`` (runners for hand-built Flows), ``validate`` (diagnostics).
"""

from __future__ import annotations

from .compiler import compile_flow, compile_visualflow, compile_visualflow_tree
from .flow import Flow, FlowEdge, FlowNode
from .visual import VisualEdge, VisualFlow, VisualNode, load_visualflow_json, visual_to_flow

__all__ = [
    "Flow",
    "FlowNode",
    "FlowEdge",
    "VisualFlow",
    "VisualNode",
    "VisualEdge",
    "load_visualflow_json",
    "visual_to_flow",
    "compile_flow",
    "compile_visualflow",
    "compile_visualflow_tree",
]
