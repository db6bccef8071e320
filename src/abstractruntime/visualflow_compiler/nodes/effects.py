"""Tool nodes (tool_calls, call_tool: TOOL_CALLS, SPEC §11.3) and model_residency (MODEL_RESIDENCY, §11.5).

* **tool_calls**: ``tool_calls`` (a list, or one call) and ``allowed_tools`` (pin, else ``effectConfig``)
  -> ``{"tool_calls": [...], "allowed_tools"?}``.  Outputs ``results``, ``success`` (every call
  succeeded), ``result`` (the first output), ``raw``.
* **call_tool**: one ``tool_call`` ``{"name", "arguments"}`` (as built by ``tool_parameters``) through
  TOOL_CALLS.  Outputs: ``result`` (the call's output, None on failure), ``success``, ``error`` (None on
  success), ``tool_call``, ``results``, ``raw``.  When the node declares exec output pins ``success`` or
  ``error`` (type ``execution``), it runs the effect first, re-enters itself and continues through the
  pin matching the outcome (``exec-out`` when that pin is not declared).  A missing or malformed
  ``tool_call`` gives ``success: False`` with an error without running anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...core.models import EffectType, StepPlan
from .._util import as_dict
from .env import EFFECTS_KEY, ExecEnv, Runner

__all__ = ["EFFECT_MAPPERS", "EFFECT_RUNNERS", "call_tool_outputs"]

_BRANCHES = ("success", "error")
_PENDING = "call_tool"


def _allowed(env: ExecEnv, inputs: dict[str, Any]) -> dict[str, Any]:
    allowed = inputs.get("allowed_tools")
    if not isinstance(allowed, list):
        allowed = as_dict(env.data.get("effectConfig")).get("allowed_tools")
    return {"allowed_tools": allowed} if isinstance(allowed, list) else {}


def _tool_calls(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    calls = inputs.get("tool_calls")
    payload: dict[str, Any] = {
        "tool_calls": calls if isinstance(calls, list) else ([] if calls is None else [calls]),
        **_allowed(env, inputs),
    }
    return env.effect(EffectType.TOOL_CALLS, payload)


def _exec_outputs(env: ExecEnv) -> set[str]:
    pins = env.data.get("outputs")
    return {
        str(p.get("id"))
        for p in (pins if isinstance(pins, list) else [])
        if isinstance(p, dict) and p.get("type") == "execution"
    }


def _call_error(call: Any) -> str | None:
    if not isinstance(call, dict):
        return "call_tool needs a tool_call object {name, arguments}"
    name = call.get("name")
    if not isinstance(name, str) or not name.strip():
        return "call_tool: the tool_call has no name"
    if call.get("arguments") is not None and not isinstance(call.get("arguments"), dict):
        return f"call_tool: the arguments of tool '{name}' are not an object"
    return None


def _call_tool(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    call = inputs.get("tool_call")
    branches = _exec_outputs(env) & set(_BRANCHES)
    pending = env.temp_dict(_PENDING)
    if pending.pop(env.node_id, None) == "running":
        env.count_visit()
        outputs = call_tool_outputs(env.temp_dict("effects").get(env.node_id))
        outputs["tool_call"] = call
        return env.go(_branch(outputs["success"], branches), outputs)
    problem = _call_error(call)
    if problem is not None:
        outputs = {
            "result": None,
            "success": False,
            "error": problem,
            "tool_call": call,
            "results": [],
            "raw": None,
        }
        return env.go(_branch(False, branches), outputs)
    assert isinstance(call, dict)
    payload = {"tool_calls": [{**call, "arguments": call.get("arguments") or {}}], **_allowed(env, inputs)}
    if not branches:
        return env.effect(EffectType.TOOL_CALLS, payload)
    pending[env.node_id] = "running"
    return env.prelude(EffectType.TOOL_CALLS, payload, result_key=f"{EFFECTS_KEY}.{env.node_id}")


def _branch(success: bool, branches: set[str]) -> str:
    wanted = "success" if success else "error"
    return wanted if wanted in branches else "exec-out"


def call_tool_outputs(raw: Any) -> dict[str, Any]:
    """call_tool pins from a TOOL_CALLS result (see the module docstring)."""
    results = as_dict(raw).get("results")
    results = results if isinstance(results, list) else []
    first = results[0] if results and isinstance(results[0], dict) else {}
    success = bool(first.get("success"))
    error = first.get("error") if not success else None
    if not success and not error:
        error = "the tool returned no result" if not first else "the tool call failed"
    return {
        "result": first.get("output") if success else None,
        "success": success,
        "error": error,
        "results": results,
        "raw": raw,
    }


def _tool_outputs(raw: Any) -> dict[str, Any]:
    results = raw.get("results") if isinstance(raw, dict) else None
    results = results if isinstance(results, list) else []
    success = bool(results) and all(isinstance(r, dict) and r.get("success") for r in results)
    first = results[0] if results and isinstance(results[0], dict) else {}
    return {"results": results, "success": success, "result": first.get("output"), "raw": raw}


def _model_residency(env: ExecEnv) -> StepPlan:
    payload = {**as_dict(env.data.get("effectConfig"))}
    payload.update({k: v for k, v in env.inputs().items() if v is not None})
    return env.effect(EffectType.MODEL_RESIDENCY, payload)


def _residency_outputs(raw: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
    out.setdefault("ok", bool(raw))
    out.setdefault("success", out["ok"])
    out["raw"] = raw
    return out


EFFECT_RUNNERS: dict[str, Runner] = {
    "tool_calls": _tool_calls,
    "call_tool": _call_tool,
    "model_residency": _model_residency,
}

EFFECT_MAPPERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "tool_calls": _tool_outputs,
    "call_tool": call_tool_outputs,
    "model_residency": _residency_outputs,
}
