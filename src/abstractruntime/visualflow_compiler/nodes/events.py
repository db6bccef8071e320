"""Entry and event nodes: on_flow_start (and the other entry kinds), on_flow_end, on_event, on_schedule,
emit_event, wait_event, wait_until."""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ...core.host_vars import check_flow_write, is_host_owned_path
from ...core.models import EffectType, StepPlan
from .._util import as_dict
from .env import ExecEnv, Runner

__all__ = ["EVENT_MAPPERS", "EVENT_RUNNERS", "parse_interval"]

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_interval(text: str) -> float | None:
    """``"30s"``/``"5m"``/``"1h"``/``"1d"``/``"100ms"`` -> seconds; None when not an interval."""
    match = _INTERVAL.match(text or "")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else None


def _data_pins(env: ExecEnv, direction: str) -> list[str]:
    return [
        str(p["id"])
        for p in env.data.get(direction, [])
        if isinstance(p, dict) and p.get("type") != "execution"
    ]


def _blank(value: Any) -> bool:
    return value is None or value in ("", [], {})


def _on_flow_start(env: ExecEnv) -> StepPlan:
    defaults = as_dict(env.data.get("pinDefaults"))
    outputs: dict[str, Any] = {}
    for pin in _data_pins(env, "outputs"):
        if pin in env.vars:
            outputs[pin] = env.vars[pin]
        elif pin in defaults:
            if is_host_owned_path(pin):
                # A start pin named like a host-owned var takes its value from the host only.
                if not _blank(defaults[pin]):
                    check_flow_write(pin, what=f"the default of start pin '{pin}'")
                outputs[pin] = None
                continue
            outputs[pin] = copy.deepcopy(defaults[pin])
            env.vars[pin] = copy.deepcopy(defaults[pin])
        else:
            outputs[pin] = None
    return env.go("exec-out", outputs)


def _on_flow_end(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    outputs = {pin: inputs.get(pin) for pin in _data_pins(env, "inputs")}
    env.save_outputs(outputs)
    ctl = env.control()
    ctl["stack"], ctl["frames"] = [], {}
    final = copy.deepcopy(outputs)
    final["success"] = True
    return env.complete(final)


def _config(env: ExecEnv, key: str) -> dict[str, Any]:
    value = env.data.get(key)
    return value if isinstance(value, dict) else {}


def _on_event(env: ExecEnv) -> StepPlan:
    config = _config(env, "eventConfig")
    if env.active_frame() is None:
        env.push_frame({"kind": "on_event"})
    name = str(config.get("name") or "").strip() or "*"
    scope = str(config.get("scope") or "session").strip().lower()
    return env.effect(EffectType.WAIT_EVENT, {"name": name, "scope": scope})


def _until(env: ExecEnv, seconds: float) -> str:
    try:
        now = datetime.fromisoformat(env.ctx.now_iso())
    except ValueError:
        now = datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return (now + timedelta(seconds=seconds)).isoformat()


def _on_schedule(env: ExecEnv) -> StepPlan:
    config = {**_config(env, "eventConfig"), **{k: v for k, v in env.inputs().items() if v is not None}}
    schedule = str(config.get("schedule") or "").strip()
    seconds = parse_interval(schedule)
    if config.get("recurrent") and env.active_frame() is None:
        env.push_frame({"kind": "on_schedule"})
    until = _until(env, seconds) if seconds is not None else schedule
    plan = env.effect(EffectType.WAIT_UNTIL, {"until": until})
    # A due UNTIL wait resumes without writing its result_key, so the mapped effect result would be empty:
    # persist the firing time as this node's outputs (``timestamp``) right away.
    env.temp_dict("node_outputs")[env.node_id] = _schedule_outputs({"until": until})
    return plan


def _emit_event(env: ExecEnv) -> StepPlan:
    config, inputs = _config(env, "effectConfig"), env.inputs()
    payload: dict[str, Any] = {
        "name": inputs.get("name") or config.get("name"),
        "scope": inputs.get("scope") or config.get("scope") or "session",
        "payload": inputs.get("payload"),
    }
    session_id = inputs.get("session_id") or config.get("sessionId") or config.get("session_id")
    if session_id:
        payload["session_id"] = session_id
    return env.effect(EffectType.EMIT_EVENT, payload)


def _wait_event(env: ExecEnv) -> StepPlan:
    config, inputs = _config(env, "effectConfig"), env.inputs()
    payload: dict[str, Any] = {"scope": config.get("scope") or "session"}
    key = inputs.get("event_key") or config.get("name") or config.get("event_key")
    if isinstance(key, str) and key.startswith("evt:"):
        payload["wait_key"] = key
    else:
        payload["name"] = key
    for pin in ("prompt", "choices", "allow_free_text"):
        if inputs.get(pin) is not None:
            payload[pin] = inputs[pin]
    return env.effect(EffectType.WAIT_EVENT, payload)


def _wait_until(env: ExecEnv) -> StepPlan:
    config, inputs = _config(env, "effectConfig"), env.inputs()
    until = inputs.get("until") or config.get("until")
    if not until:
        duration = inputs.get("duration", config.get("duration"))
        seconds = parse_interval(duration) if isinstance(duration, str) else None
        if seconds is None:
            try:
                seconds = float(duration if duration is not None else 0.0)
            except (TypeError, ValueError):
                seconds = 0.0
        until = _until(env, seconds)
    return env.effect(EffectType.WAIT_UNTIL, {"until": str(until)})


def _event_outputs(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {"payload": raw, "event_data": raw}
    # An event envelope (SPEC §4.11) carries the data under "payload"; a host that resumes the wait
    # directly with a plain dict gives the data itself.
    data = raw.get("payload") if "payload" in raw and "name" in raw else raw
    return {**raw, "payload": data, "event_id": raw.get("event_id"), "event_data": data}


def _schedule_outputs(raw: Any) -> dict[str, Any]:
    until = raw.get("until") if isinstance(raw, dict) else None
    return {"timestamp": until, "until": until}


EVENT_RUNNERS: dict[str, Runner] = {
    "on_flow_start": _on_flow_start,
    "on_user_request": _on_flow_start,
    "on_agent_message": _on_flow_start,
    "on_flow_end": _on_flow_end,
    "on_event": _on_event,
    "on_schedule": _on_schedule,
    "emit_event": _emit_event,
    "wait_event": _wait_event,
    "wait_until": _wait_until,
}

EVENT_MAPPERS = {
    "on_event": _event_outputs,
    "wait_event": _event_outputs,
    "on_schedule": _schedule_outputs,
    "wait_until": _schedule_outputs,
    "emit_event": lambda raw: dict(raw) if isinstance(raw, dict) else {"result": raw},
}
