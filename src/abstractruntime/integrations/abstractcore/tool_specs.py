"""Tool definitions for the model: JSON-schema specs built from Python tool functions.

An ``LLM_CALL`` may list its tools as full specs (``{"name", "description", "parameters"}``) or, as the
built-in ReAct agent and many VisualFlow nodes do, by **name** only.  A model can only call a tool it was
described, so names are resolved against the specs of the runtime's tool executor before the request is
sent: :func:`executor_tool_specs` reads the functions of a ``MappingToolExecutor`` (also through approval and
other wrapping executors that expose ``delegate``), and :func:`resolve_tool_specs` swaps each known name for
its spec.  A name with no known tool still goes out as a function with no parameters, so the model sees it.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["executor_tool_specs", "resolve_tool_specs", "tool_spec"]

_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}
_MAX_DEPTH = 8


def _json_type(annotation: Any) -> str | None:
    if annotation in _JSON_TYPES:
        return _JSON_TYPES[annotation]
    origin = typing.get_origin(annotation)
    if origin in _JSON_TYPES:
        return _JSON_TYPES[origin]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, getattr(types, "UnionType", None)) and len(args) == 1:
        return _json_type(args[0])
    return None


def _description(func: Callable[..., Any]) -> str:
    doc = inspect.getdoc(func) or ""
    return doc.strip().split("\n\n", 1)[0].replace("\n", " ")


def tool_spec(func: Callable[..., Any], name: str | None = None) -> dict[str, Any]:
    """``{"name", "description", "parameters"}`` of a Python tool function (a JSON schema of its arguments).

    Parameter types come from annotations (``str``, ``int``, ``float``, ``bool``, ``list``, ``dict`` and their
    optional forms); parameters without a default are required.  A ``_tool_definition`` attribute with a
    ``to_dict()`` (AbstractCore tools) wins when present.
    """
    definition = getattr(func, "_tool_definition", None)
    to_dict = getattr(definition, "to_dict", None)
    if callable(to_dict):
        data = to_dict()
        if isinstance(data, Mapping) and data.get("name"):
            return dict(data)
    try:
        signature = inspect.signature(func)
        hints = typing.get_type_hints(func)
    except (TypeError, ValueError, NameError):
        signature, hints = None, {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in signature.parameters.values() if signature is not None else ():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name == "self":
            continue
        json_type = _json_type(hints.get(param.name, param.annotation))
        properties[param.name] = {"type": json_type} if json_type else {}
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return {
        "name": name or str(getattr(func, "__name__", "tool")),
        "description": _description(func),
        "parameters": parameters,
    }


def executor_tool_specs(executor: Any) -> dict[str, dict[str, Any]]:
    """``{name: spec}`` for the tools an executor runs (empty when it exposes none, e.g. passthrough)."""
    current = executor
    for _ in range(_MAX_DEPTH):
        tools = getattr(current, "_tools", None)
        if isinstance(tools, Mapping):
            return {str(n): tool_spec(f, str(n)) for n, f in tools.items() if callable(f)}
        current = getattr(current, "delegate", None)
        if current is None:
            break
    return {}


def resolve_tool_specs(tools: Any, specs: Mapping[str, Mapping[str, Any]] | None) -> list[Any] | None:
    """``tools`` with every tool given by name replaced by its spec (names with no spec get an empty one)."""
    if not isinstance(tools, list) or not tools:
        return None
    resolved: list[Any] = []
    for tool in tools:
        if isinstance(tool, str) and tool.strip():
            name = tool.strip()
            known = (specs or {}).get(name)
            resolved.append(
                dict(known) if known else {"name": name, "parameters": {"type": "object", "properties": {}}}
            )
        else:
            resolved.append(tool)
    return resolved
