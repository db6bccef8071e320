"""Kernel-side handling of TOOL_CALLS payloads (SPEC §4.3 e.1 and e.3, §4.12).

In-doubt batches (``docs/llm.md``, "In-doubt calls"): when a TOOL_CALLS step is about to run and the
ledger holds a STARTED intent with its idempotency key that no later record ended, the driver that
wrote it died mid-batch and the calls may already have run.  The engine then hands the handler a
payload carrying :data:`IN_DOUBT_KEY` = ``{"started_at", "attempt", "step_id"}`` of that intent
(:func:`mark_in_doubt`).  The key is added after the idempotency key was computed, so it never changes
the key; a flow cannot set it (:func:`normalize_tool_calls_payload` drops it).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..models import Effect, RunState
from ..policy import normalize_allowed_tools

__all__ = [
    "IN_DOUBT_KEY",
    "PENDING_TOOL_CALLS",
    "mark_in_doubt",
    "normalize_tool_calls_payload",
    "pop_pending_tool_calls",
    "record_tool_call_warnings",
    "remember_pending_tool_calls",
]

PENDING_TOOL_CALLS = "pending_tool_calls"
"""Key under ``vars._runtime`` holding the TOOL_CALLS step a run waits in (removed on resume)."""

IN_DOUBT_KEY = "_in_doubt"
"""Reserved TOOL_CALLS payload key: set by the engine on an in-doubt batch (see the module docstring)."""


def mark_in_doubt(effect: Effect, started: dict[str, Any]) -> Effect:
    """``effect`` with ``payload[IN_DOUBT_KEY]`` describing ``started``, the open intent found."""
    payload = dict(effect.payload) if isinstance(effect.payload, dict) else {}
    payload[IN_DOUBT_KEY] = {
        "started_at": started.get("started_at"),
        "attempt": started.get("attempt"),
        "step_id": started.get("step_id"),
    }
    return Effect(type=effect.type, payload=payload, result_key=effect.result_key)


def remember_pending_tool_calls(
    run: RunState, *, node_id: str, effect: dict[str, Any], idempotency_key: str, attempt: int
) -> None:
    """Note the waiting TOOL_CALLS step so ``resume`` can write its synthetic completion record."""
    runtime_ns = run.vars.get("_runtime")
    if not isinstance(runtime_ns, dict):
        runtime_ns = run.vars["_runtime"] = {}
    runtime_ns[PENDING_TOOL_CALLS] = {
        "node_id": node_id,
        "effect": effect,
        "idempotency_key": idempotency_key,
        "attempt": attempt,
    }


def pop_pending_tool_calls(run: RunState) -> dict[str, Any] | None:
    """Remove and return the note left by :func:`remember_pending_tool_calls`, if any."""
    runtime_ns = run.vars.get("_runtime")
    if not isinstance(runtime_ns, dict):
        return None
    pending = runtime_ns.pop(PENDING_TOOL_CALLS, None)
    return pending if isinstance(pending, dict) else None


def _explicit_id(call: dict[str, Any]) -> str | None:
    for key in ("call_id", "id"):
        value = call.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def record_tool_call_warnings(run: RunState, payload: dict[str, Any], *, node_id: str) -> None:
    """Add de-duplicated ``#WARN`` strings to ``vars["_flow_warnings"]`` for calls without an id
    and for duplicated ids."""
    calls = [c for c in payload.get("tool_calls") or [] if isinstance(c, dict)]
    if not calls:
        return
    warnings: list[str] = []
    missing = sum(1 for c in calls if _explicit_id(c) is None)
    if missing:
        warnings.append(f"#WARN: TOOL_CALLS missing call_id at node '{node_id}' (count={missing})")
    counts = Counter(i for i in (_explicit_id(c) for c in calls) if i is not None)
    duplicated = sorted(i for i, n in counts.items() if n > 1)
    if duplicated:
        warnings.append(
            f"#WARN: TOOL_CALLS duplicate call_id at node '{node_id}' (ids={','.join(duplicated)})"
        )
    if not warnings:
        return
    existing = run.vars.get("_flow_warnings")
    if not isinstance(existing, list):
        existing = run.vars["_flow_warnings"] = []
    for warning in warnings:
        if warning not in existing:
            existing.append(warning)


def normalize_tool_calls_payload(payload: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    """A copy of ``payload`` whose calls carry ``runtime_call_id`` (``rtcall_<key>_<n>``, 1-based),
    a ``call_id`` (explicit id, else the runtime id) and a stripped ``name``; ``allowed_tools`` is
    de-duplicated, stripped and sorted; a flow-supplied :data:`IN_DOUBT_KEY` is dropped."""
    normalized = dict(payload)
    normalized.pop(IN_DOUBT_KEY, None)  # only the engine sets it (see the module docstring)
    calls = payload.get("tool_calls")
    if isinstance(calls, list):
        out: list[Any] = []
        for index, call in enumerate(calls, start=1):
            if not isinstance(call, dict):
                out.append(call)
                continue
            item = dict(call)
            runtime_id = item.get("runtime_call_id") or f"rtcall_{idempotency_key}_{index}"
            item["runtime_call_id"] = runtime_id
            item["call_id"] = _explicit_id(item) or runtime_id
            if isinstance(item.get("name"), str):
                item["name"] = item["name"].strip()
            out.append(item)
        normalized["tool_calls"] = out
    if "allowed_tools" in payload:
        normalized["allowed_tools"] = normalize_allowed_tools(payload.get("allowed_tools"))
    return normalized
