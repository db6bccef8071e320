"""Pure (data-only) nodes owned by the compiler: literals, variable readers, break_object, path_mux.

Everything else pure comes from ``visualflow_compiler.builtins.PURE_BUILTINS`` (``fn(inputs, data)``).
The local functions also see the run vars: ``fn(inputs, data, vars)``.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from typing import Any

from ...core.vars import parse_vars_path, resolve_vars_path
from .._util import as_dict, as_list
from .builders import get_context, tool_parameters

__all__ = ["LITERAL_TYPES", "LOCAL_PURE", "evaluate_pure", "pure_builtins", "read_var"]

LocalPure = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], dict[str, Any]]

LITERAL_TYPES = frozenset(
    {
        "literal_string",
        "literal_number",
        "literal_boolean",
        "literal_json",
        "json_schema",
        "literal_array",
        "tools_allowlist",
    }
)
_MISSING = object()


def pure_builtins() -> dict[str, Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]]:
    """``PURE_BUILTINS`` of the builtins package, or ``{}`` while it is not installed."""
    try:
        module = importlib.import_module("abstractruntime.visualflow_compiler.builtins")
    except ImportError:
        return {}
    table = getattr(module, "PURE_BUILTINS", {})
    return table if isinstance(table, dict) else {}


def read_var(vars: dict[str, Any], name: Any, default: Any = None) -> Any:
    """``vars`` at a dotted path, or ``default`` when missing."""
    if not isinstance(name, str) or not name.strip():
        return default
    try:
        return resolve_vars_path(vars, parse_vars_path(name.strip()))
    except (ValueError, KeyError, IndexError, TypeError):
        return default


def _literal(inputs: dict[str, Any], data: dict[str, Any], vars: dict[str, Any]) -> dict[str, Any]:
    value = copy.deepcopy(data.get("literalValue"))
    return {"value": value, "tools": value}


def _get_var(inputs: dict[str, Any], data: dict[str, Any], vars: dict[str, Any]) -> dict[str, Any]:
    return {"value": read_var(vars, inputs.get("name"), inputs.get("default"))}


def _declared_var(inputs: dict[str, Any], data: dict[str, Any], vars: dict[str, Any]) -> dict[str, Any]:
    decl = as_dict(data.get("literalValue"))
    name = decl.get("name") or inputs.get("name")
    value = read_var(vars, name, _MISSING)
    if value is _MISSING:
        value = copy.deepcopy(decl.get("default"))
    return {"name": name, "value": value}


def _walk(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _break_object(inputs: dict[str, Any], data: dict[str, Any], vars: dict[str, Any]) -> dict[str, Any]:
    obj = inputs.get("object")
    config = as_dict(data.get("breakConfig"))
    paths = as_list(config.get("selectedPaths"))
    if not paths:
        paths = [p["id"] for p in data.get("outputs", []) if isinstance(p, dict) and "id" in p]
    return {str(p): _walk(obj, str(p)) for p in paths}


def _path_mux(inputs: dict[str, Any], data: dict[str, Any], vars: dict[str, Any]) -> dict[str, Any]:
    key = f"in{inputs.get('select')}"
    if inputs.get(key) is not None:
        return {"out": inputs[key]}
    return {"out": inputs.get("fallback")}


def _provider_models(inputs: dict[str, Any], data: dict[str, Any], vars: dict[str, Any]) -> dict[str, Any]:
    config = as_dict(data.get("providerModelsConfig"))
    provider = inputs.get("provider") or config.get("provider")
    return {"provider": provider, "models": list(config.get("allowedModels") or [])}


LOCAL_PURE: dict[str, LocalPure] = {
    **{t: _literal for t in LITERAL_TYPES},
    "get_var": _get_var,
    "bool_var": _declared_var,
    "var_decl": _declared_var,
    "get_context": get_context,
    "break_object": _break_object,
    "path_mux": _path_mux,
    "provider_models": _provider_models,
    "tool_parameters": tool_parameters,
}
_BUILTIN_FIRST = frozenset({"path_mux", "tools_allowlist"})


def evaluate_pure(
    node_type: str, inputs: dict[str, Any], data: dict[str, Any], vars: dict[str, Any]
) -> dict[str, Any]:
    """Evaluate a pure node; an unknown type is the identity (its inputs)."""
    builtins = pure_builtins()
    if node_type in builtins and (node_type in _BUILTIN_FIRST or node_type not in LOCAL_PURE):
        return builtins[node_type](inputs, data)
    local = LOCAL_PURE.get(node_type)
    if local is not None:
        return local(inputs, data, vars)
    return dict(inputs)
