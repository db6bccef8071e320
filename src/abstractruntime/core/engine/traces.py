"""Per-node step traces kept in ``vars._runtime.node_traces`` (SPEC §5.3)."""

from __future__ import annotations

import json
from typing import Any

from ..models import Effect, RunState, WaitState
from ..vars import NODE_TRACES, get_namespace, get_runtime

__all__ = ["MAX_TRACE_STEPS", "record_node_trace"]

MAX_TRACE_STEPS = 100

_probe = json.JSONEncoder(allow_nan=False).encode
"""``json.dumps(value, allow_nan=False)`` without building an encoder per call."""
_SCALARS = frozenset({str, int, bool, type(None)})
_MAX_WALK_DEPTH = 32


def _plainly_json(value: Any, depth: int = 0) -> bool:
    """True when ``value`` is made only of dicts with str keys, lists, str, int, bool, None and finite
    floats (exact types): ``json.dumps(value, allow_nan=False)`` surely accepts it.  False means "not
    sure" (subclasses, tuples, other keys, deep nesting): the caller then probes with the encoder."""
    cls = type(value)
    if cls in _SCALARS:
        return True
    if cls is float:
        return bool(value - value == 0.0)  # NaN and infinities give NaN
    if depth >= _MAX_WALK_DEPTH:
        return False
    if cls is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _SCALARS and not _plainly_json(item, depth + 1)):
                return False
        return True
    if cls is list:
        for item in value:  # noqa: SIM110 - a loop, not all(<generator>): this runs on every step
            if type(item) not in _SCALARS and not _plainly_json(item, depth + 1):
                return False
        return True
    return False


def _json_safe(values: tuple[Any, ...]) -> bool:
    """The JSON probe of SPEC §5.3 over ``values``: a walk for plain data, the encoder otherwise."""
    for value in values:
        if not _plainly_json(value):
            try:
                _probe(values)
            except (TypeError, ValueError):
                return False
            return True
    return True


def record_node_trace(
    run: RunState,
    *,
    node_id: str,
    effect: Effect,
    status: str,
    idempotency_key: str,
    reused: bool,
    now: str,
    duration_ms: float | None = None,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    wait: WaitState | None = None,
) -> None:
    """Append one entry to ``node_id``'s trace, keeping the newest :data:`MAX_TRACE_STEPS` entries.

    An entry that is not JSON-safe is replaced by a stub whose ``error`` is
    ``"non_json_safe_trace_entry"``, so a trace never breaks a durable save.
    """
    entry: dict[str, Any] = {
        "ts": now,
        "node_id": node_id,
        "status": status,
        "idempotency_key": idempotency_key,
        "reused_prior_result": reused,
        "effect": effect.to_dict(),
    }
    if duration_ms is not None:
        entry["duration_ms"] = duration_ms
    variable: Any
    if status == "completed":
        entry["result"] = variable = result
    elif status == "failed":
        entry["error"] = variable = error
    elif wait is not None:
        entry["wait"] = variable = wait.to_dict()
    else:
        variable = None
    # The JSON probe of SPEC §5.3, over the values that can be unsafe (the rest are the runtime's own
    # strings, booleans and a finite float).
    if not _json_safe((node_id, idempotency_key, effect.payload, effect.result_key, variable)):
        entry = {
            "ts": now,
            "node_id": node_id,
            "status": status,
            "idempotency_key": idempotency_key,
            "reused_prior_result": reused,
            "error": "non_json_safe_trace_entry",
        }
    traces = get_namespace(get_runtime(run.vars), NODE_TRACES)
    trace = traces.get(node_id)
    if not isinstance(trace, dict) or not isinstance(trace.get("steps"), list):
        trace = traces[node_id] = {"node_id": node_id, "steps": []}
    steps: list[Any] = trace["steps"]
    steps.append(entry)
    if len(steps) > MAX_TRACE_STEPS:
        del steps[: len(steps) - MAX_TRACE_STEPS]
    trace["updated_at"] = now
