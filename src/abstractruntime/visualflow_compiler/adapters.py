"""Factories of Flow node runners for hand-built :class:`~abstractruntime.visualflow_compiler.flow.Flow` graphs.

Each factory returns a runner ``(ExecEnv) -> StepPlan`` to pass to ``Flow.add_node``; ``compile_flow`` then
turns the Flow into a WorkflowSpec.  They follow the runtime behaviour of compiled VisualFlows (SPEC §9.2).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..core.models import EffectType, StepPlan
from ..core.vars import set_vars_path
from .nodes.env import ExecEnv, Runner
from .nodes.subflows import agent_workflow_id

__all__ = ["create_function_node_handler", "create_agent_node_handler", "create_subflow_node_handler"]

_MISSING = object()


def _node_input(env: ExecEnv, input_key: str | None) -> Any:
    """``vars[input_key]`` when set, else ``vars["_last_output"]``, else all of vars."""
    if input_key:
        return env.vars.get(input_key)
    last = env.vars.get("_last_output", _MISSING)
    return env.vars if last is _MISSING else last


def create_function_node_handler(
    func: Callable[[Any], Any], *, input_key: str | None = None, output_key: str | None = None
) -> Runner:
    """A node calling ``func(input)``.

    The result goes to ``_last_output``, ``_temp.node_outputs[node_id]`` and ``output_key`` (dotted).  A dict
    result with ``branch`` picks that exec handle.  An exception completes the run with
    ``{"error", "success": False, "node"}`` (and sets ``_flow_error`` / ``_flow_error_node``).
    """

    def run(env: ExecEnv) -> StepPlan:
        try:
            result = func(_node_input(env, input_key or env.node.input_key))
        except Exception as exc:  # noqa: BLE001 - user function: any error becomes a failed flow result
            return env.fail(exc)
        outputs = result if isinstance(result, dict) else {"result": result}
        handle = str(result["branch"]) if isinstance(result, dict) and "branch" in result else "exec-out"
        env.temp_dict("node_outputs")[env.node_id] = outputs
        env.run.vars["_last_output"] = result
        key = output_key or env.node.output_key
        if key:
            set_vars_path(env.run.vars, key, copy.deepcopy(result))
        return env.go(handle, None, result=result if result is not None else {})

    return run


def create_subflow_node_handler(
    workflow_id: str, *, input_key: str | None = None, inherit_context: bool = False
) -> Runner:
    """A START_SUBWORKFLOW of ``workflow_id``; child vars are ``vars[input_key]`` (a dict) when set."""

    def run(env: ExecEnv) -> StepPlan:
        child = env.vars.get(input_key) if input_key else None
        child_vars: dict[str, Any] = copy.deepcopy(child) if isinstance(child, dict) else {}
        if inherit_context and isinstance(env.vars.get("context"), dict):
            child_vars["context"] = copy.deepcopy(env.vars["context"])
        payload = {"workflow_id": workflow_id, "vars": child_vars, "inherit_context": inherit_context}
        return env.effect(EffectType.START_SUBWORKFLOW, payload)

    return run


def create_agent_node_handler(
    *, task_key: str = "task", agent_workflow_id_override: str | None = None
) -> Runner:
    """A START_SUBWORKFLOW of the ReAct workflow ``visual_react_agent_<flow_id>_<node_id>`` (host-registered)."""

    def run(env: ExecEnv) -> StepPlan:
        target = agent_workflow_id_override or agent_workflow_id(env.flow.flow_id, env.node_id)
        task = env.vars.get(task_key)
        payload = {"workflow_id": target, "vars": {"context": {"task": task}, "task": task}}
        return env.effect(EffectType.START_SUBWORKFLOW, payload, result_key=f"_temp.agent.{env.node_id}.raw")

    return run
