"""What one ReAct agent run is asked to do: :class:`AgentSettings`, read from the child run's vars.

A VisualFlow ``agent`` node starts its agent run with vars built from the node's ``agentConfig`` overlaid
with its connected pins (``task``, ``context``, ``system``, ``provider``, ``model``, ``tools``,
``max_iterations``, ``temperature``, ``seed``, ``response_schema``, ``max_input_tokens``, ...).  The node's
``agentConfig`` is also baked into the agent's WorkflowSpec as ``defaults``: a key the vars leave unset
(None, blank string) falls back to it.

Limits (SPEC §5.5): ``max_iterations`` comes from vars/config, then ``_limits.max_iterations``, then
:data:`DEFAULT_MAX_ITERATIONS`; the token budget ``max_tokens`` (tokens) from vars/config, then
``_limits.max_tokens``; a non-positive or non-integer value means "not set".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AgentSettings", "DEFAULT_MAX_ITERATIONS", "tool_names"]

DEFAULT_MAX_ITERATIONS = 25
"""LLM calls an agent may make when neither its vars/config nor ``_limits`` set ``max_iterations``."""

_ALIASES: dict[str, tuple[str, ...]] = {
    "system": ("system", "system_prompt"),
    "response_schema": ("response_schema", "resp_schema"),
    "max_input_tokens": ("max_input_tokens", "max_in_tokens"),
}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value > 0 else None


def tool_names(tools: Any) -> list[str]:
    """The names in a tool list: plain names, ``{"name"}`` specs or OpenAI ``{"function": {"name"}}`` specs."""
    names: list[str] = []
    for item in tools if isinstance(tools, list) else []:
        tool = (
            item["function"]
            if isinstance(item, Mapping) and isinstance(item.get("function"), Mapping)
            else item
        )
        name = tool.get("name") if isinstance(tool, Mapping) else tool
        if isinstance(name, str) and name.strip() and name.strip() not in names:
            names.append(name.strip())
    return names


@dataclass(frozen=True)
class AgentSettings:
    """The resolved inputs of one agent run.

    Attributes:
        task: the user request (``vars.task``, else ``vars.prompt``, else ``vars.context.task``).
        system: the agent's system prompt, or None.
        context_messages: ``vars.context.messages`` (the history the agent starts from).
        provider, model: LLM routing, or None for the host's default.
        tools: the tool list sent with every LLM_CALL (names or specs, as given).
        allowed_tools: the TOOL_CALLS allowlist: ``vars.allowed_tools``, else the names in ``tools``
            (an agent without tools may call none).
        max_iterations: the most LLM calls the agent makes (a count).
        max_tokens: the token budget (tokens) for one LLM turn (input + output), or None.
        params: LLM params (``temperature``; ``seed`` unless negative).
        response_schema: JSON Schema for the final answer, or None.
        max_input_tokens: per-call input budget (tokens), or None.
    """

    task: str
    system: str | None = None
    context_messages: list[dict[str, Any]] = field(default_factory=list)
    provider: str | None = None
    model: str | None = None
    tools: list[Any] = field(default_factory=list)
    allowed_tools: list[str] = field(default_factory=list)
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    max_tokens: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    response_schema: dict[str, Any] | None = None
    max_input_tokens: int | None = None

    @classmethod
    def from_vars(cls, vars: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> AgentSettings:
        """Resolve the settings from a run's ``vars`` over the node's ``defaults`` (its agentConfig)."""
        base = defaults or {}

        def pick(key: str) -> Any:
            for source in (vars, base):
                for name in _ALIASES.get(key, (key,)):
                    if not _blank(source.get(name)):
                        return copy.deepcopy(source[name])
            return None

        context = vars.get("context") if isinstance(vars.get("context"), Mapping) else {}
        assert isinstance(context, Mapping)
        task = pick("task") or pick("prompt") or context.get("task") or ""
        messages = context.get("messages")
        tools = pick("tools")
        tools = tools if isinstance(tools, list) else []
        allowed = pick("allowed_tools")
        limits = vars.get("_limits") if isinstance(vars.get("_limits"), Mapping) else {}
        assert isinstance(limits, Mapping)
        schema = pick("response_schema")
        return cls(
            task=str(task),
            system=str(pick("system")) if pick("system") is not None else None,
            context_messages=[copy.deepcopy(dict(m)) for m in messages if isinstance(m, Mapping)]
            if isinstance(messages, list)
            else [],
            provider=_text(pick("provider")),
            model=_text(pick("model")),
            tools=tools,
            allowed_tools=tool_names(allowed) if isinstance(allowed, list) else tool_names(tools),
            max_iterations=_positive_int(pick("max_iterations"))
            or _positive_int(limits.get("max_iterations"))
            or DEFAULT_MAX_ITERATIONS,
            max_tokens=_positive_int(pick("max_tokens")) or _positive_int(limits.get("max_tokens")),
            params=_params(pick("temperature"), pick("seed")),
            response_schema=dict(schema) if isinstance(schema, Mapping) and schema else None,
            max_input_tokens=_positive_int(pick("max_input_tokens")),
        )


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _params(temperature: Any, seed: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        params["temperature"] = temperature
    if isinstance(seed, (int, float)) and not isinstance(seed, bool) and seed >= 0:
        params["seed"] = int(seed)
    return params
