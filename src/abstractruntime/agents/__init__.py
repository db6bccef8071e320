"""Built-in agent workflows (stdlib only).

:func:`react_agent_spec` is the durable ReAct loop (LLM_CALL -> TOOL_CALLS -> ... -> answer) that VisualFlow
``agent`` nodes run; ``compile_visualflow_tree`` returns one per agent node, so hosts register it with the
flow's own specs.
"""

from __future__ import annotations

from .react import react_agent_spec
from .settings import DEFAULT_MAX_ITERATIONS, AgentSettings

__all__ = ["AgentSettings", "DEFAULT_MAX_ITERATIONS", "react_agent_spec"]
