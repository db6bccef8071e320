"""Per-node step traces kept in ``vars._runtime.node_traces`` (SPEC §5.3)."""

from __future__ import annotations

import json
from typing import Any

from ..models import Effect, RunState, WaitState

__all__ = ["MAX_TRACE_STEPS", "record_node_trace"]

MAX_TRACE_STEPS = 100

_probe = json.JSONEncoder(allow_nan=False).encode
"""``json.dumps(value, allow_nan=False)`` without building an encoder per call."""


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
    try:
        # The JSON probe of SPEC §5.3, over the values that can be unsafe (the rest are the runtime's
        # own strings, booleans and a finite float).
        _probe((node_id, idempotency_key, effect.payload, effect.result_key, variable))
    except (TypeError, ValueError):
        entry = {
            "ts": now,
            "node_id": node_id,
            "status": status,
            "idempotency_key": idempotency_key,
            "reused_prior_result": reused,
            "error": "non_json_safe_trace_entry",
        }
    runtime_ns = run.vars.get("_runtime")
    if not isinstance(runtime_ns, dict):
        runtime_ns = run.vars["_runtime"] = {}
    traces = runtime_ns.get("node_traces")
    if not isinstance(traces, dict):
        traces = runtime_ns["node_traces"] = {}
    trace = traces.get(node_id)
    if not isinstance(trace, dict) or not isinstance(trace.get("steps"), list):
        trace = traces[node_id] = {"node_id": node_id, "steps": []}
    steps: list[Any] = trace["steps"]
    steps.append(entry)
    if len(steps) > MAX_TRACE_STEPS:
        del steps[: len(steps) - MAX_TRACE_STEPS]
    trace["updated_at"] = now
