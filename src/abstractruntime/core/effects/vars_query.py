"""VARS_QUERY (SPEC §4.9): let a workflow or agent inspect a run's vars as a tool result."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ...errors import VarsPathError
from ..models import Effect, RunState
from ..outcome import EffectOutcome
from ..vars import parse_vars_path, resolve_vars_path
from .kernel import Kernel

__all__ = ["make_vars_query_handler"]

_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def make_vars_query_handler(kernel: Kernel) -> Callable[[RunState, Effect, str | None], EffectOutcome]:
    """A VARS_QUERY handler bound to ``kernel`` (for ``target_run_id`` lookups).

    Payload: ``path``/``var_path`` (default ``scratchpad``; dot path with ``[i]`` or JSON pointer),
    ``keys_only``, ``target_run_id``, ``tool_name`` (default ``inspect_vars``), ``call_id`` (default
    ``vars``).  Always completes, in tool shape; the call's ``output`` is indented, key-sorted JSON of
    ``{"path", "type", "value"}`` (or ``keys`` / ``length`` with ``keys_only``).
    """

    def vars_query(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        path = str(payload.get("path") or payload.get("var_path") or "scratchpad")
        call = {
            "call_id": str(payload.get("call_id") or "vars"),
            "name": str(payload.get("tool_name") or "inspect_vars"),
        }
        target = run
        target_id = payload.get("target_run_id")
        if target_id and target_id != run.run_id:
            loaded = kernel.run_store.load(str(target_id))
            if loaded is None:
                return _result(call, success=False, output=None, error=f"Unknown target_run_id: {target_id}")
            target = loaded
        try:
            value = resolve_vars_path(target.vars, parse_vars_path(path))
        except VarsPathError as exc:
            return _result(call, success=False, output=None, error=str(exc))
        body: dict[str, Any] = {"path": path, "type": _type_name(value)}
        if payload.get("keys_only") and isinstance(value, dict):
            body["keys"] = sorted(str(k) for k in value)
        elif payload.get("keys_only") and isinstance(value, list):
            body["length"] = len(value)
        else:
            body["value"] = value
        text = json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        return _result(call, success=True, output=text, error=None)

    return vars_query


def _result(call: dict[str, str], *, success: bool, output: Any, error: str | None) -> EffectOutcome:
    entry = {
        "call_id": call["call_id"],
        "name": call["name"],
        "success": success,
        "output": output,
        "error": error,
    }
    return EffectOutcome.completed({"mode": "executed", "results": [entry]})
