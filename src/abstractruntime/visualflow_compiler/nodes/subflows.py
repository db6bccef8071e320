"""Nodes that start child workflows: subflow (START_SUBWORKFLOW ``subflowId``) and agent (START_SUBWORKFLOW
``visual_react_agent_<flow_id>_<node_id>``, a ReAct workflow the host registers)."""

from __future__ import annotations

import copy
import re
from typing import Any

from ...core.host_vars import check_flow_write, is_host_owned_path
from ...core.models import EffectType, StepPlan
from .._util import as_dict
from .env import ExecEnv, Runner
from .llm import kg_memory_text, response_schema

__all__ = ["SUBFLOW_MAPPERS", "SUBFLOW_RUNNERS", "agent_workflow_id", "subflow_target"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_SUBFLOW_KEYS = ("subflowId", "flowId", "workflowId", "workflow_id")


def agent_workflow_id(flow_id: str, node_id: str) -> str:
    """The workflow id the host must register for an agent node."""
    return _UNSAFE.sub("_", f"visual_react_agent_{flow_id}_{node_id}")


def subflow_target(data: dict[str, Any]) -> str | None:
    """The child flow id a subflow node references, if any."""
    for key in _SUBFLOW_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _strip_host_owned(env: ExecEnv, child: dict[str, Any]) -> dict[str, Any]:
    """Child vars built from flow data, minus host-owned keys (the kernel passes the parent's policy on).

    A host-owned key whose value repeats the parent's (or is blank) is dropped; any other value is a
    flow trying to hand its child a policy the host did not set.

    Raises:
        HostOwnedVarError: a host-owned key with a value of the flow's own.
    """
    for key in [k for k in child if is_host_owned_path(str(k))]:
        value = child.pop(key)
        if value is None or value == "" or value == env.vars.get(key):
            continue
        check_flow_write(str(key), what=f"the inputs of node '{env.node_id}' (a child run's vars)")
    return child


def _subflow(env: ExecEnv) -> StepPlan:
    target = subflow_target(env.data)
    if target is None:
        return env.fail(f"subflow node '{env.node_id}' has no subflowId")
    inputs = env.inputs()
    inherit = inputs.pop("inherit_context", None)
    inherit = (
        inherit if inherit is not None else env.data.get("inheritContext", env.data.get("inherit_context"))
    )
    child: dict[str, Any] = {k: copy.deepcopy(v) for k, v in inputs.items()}
    if isinstance(inputs.get("input"), dict):
        for key, value in inputs["input"].items():
            child.setdefault(key, copy.deepcopy(value))
    if inherit and isinstance(env.vars.get("context"), dict):
        child["context"] = copy.deepcopy(env.vars["context"])
    payload = {"workflow_id": target, "vars": _strip_host_owned(env, child), "inherit_context": bool(inherit)}
    return env.effect(EffectType.START_SUBWORKFLOW, payload)


def _agent(env: ExecEnv) -> StepPlan:
    """START_SUBWORKFLOW of the node's ReAct agent; task = the ``task`` pin, else ``prompt``.  A ``memory``
    pin with KG memory enabled first queries the KG (see ``nodes/llm.py``) and adds its block to the
    child's ``context.messages`` as a system message; ``response_schema``/``resp_schema`` ``$ref``s are
    resolved."""
    config = as_dict(env.data.get("agentConfig"))
    inputs = env.inputs()
    task = inputs.get("task") or inputs.get("prompt") or ""
    memory = kg_memory_text(env, inputs.get("memory"), str(task))
    if isinstance(memory, StepPlan):
        return memory
    child: dict[str, Any] = {
        **copy.deepcopy(config),
        **{k: copy.deepcopy(v) for k, v in inputs.items() if v is not None},
    }
    schema = child.pop("resp_schema", None)
    schema = child.get("response_schema") or schema
    if schema:
        child["response_schema"] = response_schema(env, schema)
    context: dict[str, Any] = copy.deepcopy(as_dict(inputs.get("context")))
    include = inputs.get("include_context", inputs.get("use_context"))
    if include and isinstance(env.vars.get("context"), dict):
        context = {**copy.deepcopy(env.vars["context"]), **context}
    if memory:
        history = context.get("messages")
        context["messages"] = [
            *(history if isinstance(history, list) else []),
            {"role": "system", "content": memory},
        ]
    context["task"] = task
    child["context"] = context
    child["task"] = task
    workflow_id = agent_workflow_id(env.flow.flow_id, env.node_id)
    return env.effect(
        EffectType.START_SUBWORKFLOW,
        {"workflow_id": workflow_id, "vars": _strip_host_owned(env, child)},
        result_key=f"_temp.agent.{env.node_id}.raw",
    )


def _child_output(raw: Any) -> Any:
    return raw.get("output") if isinstance(raw, dict) and "output" in raw else raw


def _subflow_outputs(raw: Any) -> dict[str, Any]:
    output = _child_output(raw)
    out: dict[str, Any] = dict(output) if isinstance(output, dict) else {}
    out.setdefault("output", output)
    out.setdefault("result", output)
    if isinstance(raw, dict) and raw.get("sub_run_id"):
        out.setdefault("sub_run_id", raw["sub_run_id"])
    return out


def _agent_outputs(raw: Any) -> dict[str, Any]:
    """Agent pins: ``result`` is the whole child output; ``response`` its answer text."""
    output = _child_output(raw)
    out: dict[str, Any] = dict(output) if isinstance(output, dict) else {}
    answer = out.get("answer", out.get("response", out.get("result")))
    out["result"] = output
    out["response"] = answer if isinstance(answer, str) or answer is None else str(answer)
    out.setdefault("success", True)
    for key in ("scratchpad", "meta"):
        out.setdefault(key, {})
    for key in ("tool_calls", "tool_results"):
        out.setdefault(key, [])
    return out


SUBFLOW_RUNNERS: dict[str, Runner] = {"subflow": _subflow, "agent": _agent}
SUBFLOW_MAPPERS = {"subflow": _subflow_outputs, "agent": _agent_outputs}
