"""Context, message and tool-call builder nodes: get_context, add_message (exec form), tool_parameters.

* **get_context** (pure): ``context`` (a copy of the run's ``vars.context``, ``{}`` when absent),
  ``task`` (its ``task``, else None) and ``messages`` (its ``messages``, else ``[]``).
* **add_message** with exec pins: appends ``{"role", "content", "timestamp", "metadata": {"message_id",
  "kind": "flow_message"}}`` to the run's ``context.messages`` (``role`` defaults to ``user``; a non-string
  content is kept as compact JSON text) and outputs ``message``, ``messages`` (the updated list),
  ``context`` (a copy of the updated context) and ``task``.  Without exec pins ``add_message`` is the pure
  builtin that returns a new context without touching the run.
* **tool_parameters** (pure): one tool call ``{"name", "arguments"}``.  The name is the first non-blank of
  the pins ``tool_name``/``name``/``tool`` and the node data ``toolName``/``tool_name``/``tool``; the
  arguments are the ``arguments`` pin (an object) plus every other non-None input pin.  Outputs
  ``tool_call`` (and ``result``, the same object), ``name``, ``arguments``.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from ...core.effects.memory_messages import context_messages
from ...core.models import StepPlan
from .._util import as_dict
from .env import ExecEnv, Runner

__all__ = ["BUILDER_RUNNERS", "get_context", "tool_parameters"]

_NAME_PINS = ("tool_name", "name", "tool")
_NAME_DATA = ("toolName", "tool_name", "tool")


def get_context(inputs: dict[str, Any], data: dict[str, Any], vars: dict[str, Any]) -> dict[str, Any]:
    """get_context outputs (see the module docstring)."""
    context = copy.deepcopy(as_dict(vars.get("context")))
    messages = context.get("messages")
    return {
        "context": context,
        "task": context.get("task"),
        "messages": messages if isinstance(messages, list) else [],
    }


def tool_parameters(inputs: dict[str, Any], data: dict[str, Any], vars: dict[str, Any]) -> dict[str, Any]:
    """tool_parameters outputs (see the module docstring)."""
    candidates = [inputs.get(k) for k in _NAME_PINS] + [data.get(k) for k in _NAME_DATA]
    name = next((c.strip() for c in candidates if isinstance(c, str) and c.strip()), "")
    arguments: dict[str, Any] = copy.deepcopy(as_dict(inputs.get("arguments")))
    for pin, value in inputs.items():
        if pin not in _NAME_PINS and pin != "arguments" and value is not None:
            arguments.setdefault(pin, copy.deepcopy(value))
    call = {"name": name, "arguments": arguments}
    return {"tool_call": call, "result": call, "name": name, "arguments": arguments}


def _add_message(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    content = inputs.get("content")
    role = inputs.get("role")
    message: dict[str, Any] = {
        "role": role.strip() if isinstance(role, str) and role.strip() else "user",
        "content": content if isinstance(content, str) else ("" if content is None else json.dumps(content)),
        "timestamp": env.ctx.now_iso(),
        "metadata": {"message_id": f"msg_{uuid.uuid4().hex}", "kind": "flow_message"},
    }
    messages = context_messages(env.run, create=True)
    messages.append(message)
    context = env.vars["context"]
    outputs = {
        "message": copy.deepcopy(message),
        "messages": copy.deepcopy(messages),
        "context": copy.deepcopy(context),
        "task": context.get("task"),
    }
    return env.go("exec-out", outputs)


BUILDER_RUNNERS: dict[str, Runner] = {"add_message": _add_message}
