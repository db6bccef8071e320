"""VisualFlow documents and their lowering into the Flow IR."""

from __future__ import annotations

from .executor import visual_to_flow
from .models import VisualEdge, VisualFlow, VisualNode, load_visualflow_json

__all__ = ["VisualFlow", "VisualNode", "VisualEdge", "load_visualflow_json", "visual_to_flow"]
