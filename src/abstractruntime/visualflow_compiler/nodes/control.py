"""Control-flow nodes: if, switch, sequence, parallel, loop, while, for, join_exec.

Schedulers (sequence, parallel, loop, while, for) push themselves on ``_temp._control.stack`` with a frame
in ``frames``; a branch that ends without an exec edge returns to the scheduler on top of the stack.
"""

from __future__ import annotations

from typing import Any

from ...core.models import StepPlan
from .._util import as_list
from .env import ExecEnv, Runner

__all__ = ["CONTROL_RUNNERS"]


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "none", "null")
    return bool(value)


def _if(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    handle = "true" if _truthy(inputs.get("condition")) else "false"
    return env.go(handle, {"condition": handle == "true", "branch": handle})


def _switch(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    value = inputs.get("value", inputs.get("selector"))
    handle = f"case:{value}"
    if handle not in env.routes.get(env.node_id, {}):
        handle = "default"
    return env.go(handle, {"value": value, "branch": handle})


def _then_handles(env: ExecEnv) -> list[str]:
    pins = [p.get("id") for p in env.data.get("outputs", []) if isinstance(p, dict)]
    handles = {h for h in pins if isinstance(h, str) and h.startswith("then:")}
    handles |= {h for h in env.routes.get(env.node_id, {}) if h.startswith("then:")}

    def order(handle: str) -> tuple[int, str]:
        suffix = handle.split(":", 1)[1]
        return (int(suffix) if suffix.isdigit() else 1 << 30, suffix)

    return sorted(handles, key=order)


def _sequence(env: ExecEnv) -> StepPlan:
    frame = env.active_frame() or env.push_frame({"next": 0})
    handles = _then_handles(env)
    while frame["next"] < len(handles):
        handle = handles[frame["next"]]
        frame["next"] += 1
        if handle in env.routes.get(env.node_id, {}):
            return env.go(handle, {"index": frame["next"] - 1})
    env.pop_frame()
    return env.go("completed", {"completed": True})


def _loop(env: ExecEnv) -> StepPlan:
    frame = env.active_frame()
    if frame is None:
        items = env.inputs().get("items")
        if isinstance(items, dict):
            items = list(items.values())
        elif not isinstance(items, list):
            items = [] if items is None else [items]
        frame = env.push_frame({"items": items, "index": 0})
    index = int(frame["index"])
    if index < len(frame["items"]):
        frame["index"] = index + 1
        return env.go("loop", {"item": frame["items"][index], "index": index})
    env.pop_frame()
    return env.go("done", {"item": None, "index": index, "count": index})


def _while(env: ExecEnv) -> StepPlan:
    frame = env.active_frame() or env.push_frame({"index": 0})
    index = int(frame["index"])
    if _truthy(env.inputs().get("condition")):
        frame["index"] = index + 1
        return env.go("loop", {"item": index, "index": index})
    env.pop_frame()
    return env.go("done", {"item": None, "index": index})


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _for(env: ExecEnv) -> StepPlan:
    frame = env.active_frame()
    if frame is None:
        inputs = env.inputs()
        start, end = _number(inputs.get("start"), 0), _number(inputs.get("end"), 0)
        step = _number(inputs.get("step"), 1) or 1
        frame = env.push_frame({"i": start, "end": end, "step": step, "index": 0})
    i, step = frame["i"], frame["step"]
    if (step > 0 and i < frame["end"]) or (step < 0 and i > frame["end"]):
        index = int(frame["index"])
        frame["i"], frame["index"] = i + step, index + 1
        value: Any = int(i) if float(i).is_integer() else i
        return env.go("loop", {"i": value, "index": index})
    env.pop_frame()
    return env.go("done", {"i": None, "index": frame["index"]})


def _join_exec(env: ExecEnv) -> StepPlan:
    routes = as_list(env.data.get("routes"))
    temp = env.temp()
    prev, handle = temp.get("prev_node_id"), temp.get("prev_exec_handle")
    which = next(
        (i for i, r in enumerate(routes) if r["sourceNodeId"] == prev and r["sourceHandle"] == handle), None
    )
    if which is None:
        same = [i for i, r in enumerate(routes) if r["sourceNodeId"] == prev]
        if len(same) > 1:
            env.warn(f"#FALLBACK join_exec {env.node_id}: several routes from '{prev}', using the first")
        which = same[0] if same else 0
    which = max(0, min(which, max(len(routes) - 1, 0)))
    outputs: dict[str, Any] = {"which": which, "from": prev}
    if handle is not None:
        outputs["from_handle"] = handle
    return env.go("exec-out", outputs)


CONTROL_RUNNERS: dict[str, Runner] = {
    "if": _if,
    "switch": _switch,
    "sequence": _sequence,
    "parallel": _sequence,
    "loop": _loop,
    "while": _while,
    "for": _for,
    "join_exec": _join_exec,
}
