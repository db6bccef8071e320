"""Node families of compiled VisualFlows and their dispatch tables.

``RUNNERS`` maps an exec node type to its runner ``(ExecEnv) -> StepPlan``; ``OUTPUT_MAPPERS`` maps an
effect node type to the function turning its raw effect result into output pins.  A pure node type that
has exec pins runs as a "pure-exec" node; an unknown exec type runs as the identity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...core.models import StepPlan
from .._util import as_dict
from .builders import BUILDER_RUNNERS
from .code import CODE_RUNNERS
from .control import CONTROL_RUNNERS
from .effects import EFFECT_MAPPERS, EFFECT_RUNNERS
from .env import ExecEnv, Runner
from .events import EVENT_MAPPERS, EVENT_RUNNERS
from .files import FILE_RUNNERS
from .llm import LLM_MAPPERS, LLM_RUNNERS
from .media import MEDIA_MAPPERS, MEDIA_RUNNERS
from .memact import MEMACT_RUNNERS
from .memory import MEMORY_MAPPERS, MEMORY_RUNNERS
from .pure import LOCAL_PURE, evaluate_pure, pure_builtins
from .subflows import SUBFLOW_MAPPERS, SUBFLOW_RUNNERS
from .unsupported import UNSUPPORTED_RUNNERS
from .user import USER_MAPPERS, USER_RUNNERS
from .variables import VARIABLE_RUNNERS

__all__ = ["OUTPUT_MAPPERS", "RUNNERS", "exec_output", "known_node_types", "runner_for"]

RUNNERS: dict[str, Runner] = {
    **CONTROL_RUNNERS,
    **EVENT_RUNNERS,
    **USER_RUNNERS,
    **VARIABLE_RUNNERS,
    **EFFECT_RUNNERS,
    **LLM_RUNNERS,
    **MEMORY_RUNNERS,
    **MEDIA_RUNNERS,
    **BUILDER_RUNNERS,
    **SUBFLOW_RUNNERS,
    **CODE_RUNNERS,
    **FILE_RUNNERS,
    **MEMACT_RUNNERS,
    **UNSUPPORTED_RUNNERS,
}

OUTPUT_MAPPERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    **EVENT_MAPPERS,
    **USER_MAPPERS,
    **EFFECT_MAPPERS,
    **LLM_MAPPERS,
    **MEMORY_MAPPERS,
    **MEDIA_MAPPERS,
    **SUBFLOW_MAPPERS,
}

# Recognized by 0.4.20 (SPEC §9.1) and run as pure-exec nodes (no dedicated runner needed).
_OTHER_KNOWN = frozenset({"concat", "make_array", "array_concat", "tool_parameters", "provider_models"})


def known_node_types() -> frozenset[str]:
    """Every node type the compiler recognizes (runners, local pure nodes, pure builtins)."""
    return frozenset(RUNNERS) | frozenset(LOCAL_PURE) | frozenset(pure_builtins()) | _OTHER_KNOWN


def _pure_exec(env: ExecEnv) -> StepPlan:
    """A data node with exec pins: evaluate it like a pure node, persist the outputs, continue."""
    outputs = evaluate_pure(env.node.node_type, env.inputs(), env.data, env.vars)
    return env.go("exec-out", outputs)


def _identity(env: ExecEnv) -> StepPlan:
    env.warn(f"node '{env.node_id}' of type '{env.node.node_type}' has no handler; passed through")
    return env.go("exec-out", env.inputs())


def runner_for(node_type: str) -> Runner:
    """The runner of an exec node type."""
    if node_type in RUNNERS:
        return RUNNERS[node_type]
    if node_type in LOCAL_PURE or node_type in pure_builtins():
        return _pure_exec
    return _identity


def _raw_result(node_type: str, node_id: str, vars: dict[str, Any]) -> Any:
    temp = as_dict(vars.get("_temp"))
    if node_type == "agent":
        agent = as_dict(temp.get("agent"))
        slot = agent.get(node_id)
        return slot.get("raw") if isinstance(slot, dict) else None
    effects = as_dict(temp.get("effects"))
    return effects.get(node_id)


def exec_output(node_type: str, node_id: str, vars: dict[str, Any]) -> dict[str, Any]:
    """The current outputs of an exec node: persisted node outputs, else its mapped effect result."""
    temp = as_dict(vars.get("_temp"))
    outputs = as_dict(temp.get("node_outputs"))
    if isinstance(outputs.get(node_id), dict):
        result: dict[str, Any] = outputs[node_id]
        return result
    mapper = OUTPUT_MAPPERS.get(node_type)
    raw = _raw_result(node_type, node_id, vars)
    if mapper is None or raw is None:
        return {}
    return mapper(raw)
