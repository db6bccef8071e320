"""Variable nodes with exec pins: set_var, set_var_property, set_vars, add_message."""

from __future__ import annotations

import copy
from typing import Any

from ...core.host_vars import check_flow_write
from ...core.models import StepPlan
from ...core.vars import set_vars_path
from .env import ExecEnv, Runner
from .pure import read_var

__all__ = ["VARIABLE_RUNNERS"]


def _set_var(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    name, value = inputs.get("name"), copy.deepcopy(inputs.get("value"))
    if not isinstance(name, str) or not name.strip():
        return env.fail(f"set_var: missing variable name on node '{env.node_id}'")
    check_flow_write(name, what=f"set_var on node '{env.node_id}'")
    set_vars_path(env.vars, name.strip(), value)
    return env.go("exec-out", {"value": value})


def _set_var_property(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    name, key = inputs.get("name"), inputs.get("key")
    if not isinstance(name, str) or not name.strip() or key in (None, ""):
        return env.fail(f"set_var_property: missing name or key on node '{env.node_id}'")
    check_flow_write(name, what=f"set_var_property on node '{env.node_id}'")
    current = read_var(env.vars, name)
    obj = dict(current) if isinstance(current, dict) else {}
    obj[str(key)] = copy.deepcopy(inputs.get("value"))
    set_vars_path(env.vars, name.strip(), obj)
    return env.go("exec-out", {"value": obj})


def _set_vars(env: ExecEnv) -> StepPlan:
    updates = env.inputs().get("updates")
    if not isinstance(updates, dict):
        updates = {}
    for key in updates:
        check_flow_write(str(key), what=f"set_vars on node '{env.node_id}'")
    for key, value in updates.items():
        set_vars_path(env.vars, str(key), copy.deepcopy(value))
    return env.go("exec-out", {"updates": updates})


def _add_message(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    message: dict[str, Any] = {"role": inputs.get("role") or "user", "content": inputs.get("content") or ""}
    context = env.vars.get("context")
    if not isinstance(context, dict):
        context = {}
        env.vars["context"] = context
    messages = context.get("messages")
    if not isinstance(messages, list):
        messages = []
        context["messages"] = messages
    messages.append(message)
    return env.go(
        "exec-out",
        {"message": message, "context": context, "task": context.get("task"), "messages": messages},
    )


VARIABLE_RUNNERS: dict[str, Runner] = {
    "set_var": _set_var,
    "set_var_property": _set_var_property,
    "set_vars": _set_vars,
    "add_message": _add_message,
}
