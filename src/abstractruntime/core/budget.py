"""Durable, host-set run budgets: caps that park a run instead of failing it (``docs/llm.md``, "Budgets").

SPEC §5.5 limits only warn.  A *budget* is opt-in and enforced by the kernel.  The host sets it when it
starts a run (``Runtime.start(budget={...})`` or ``vars["_limits"]["budget"]``) and may change it later
with ``Runtime.update_budget``; flows may read it but never write it (``core/host_vars.py``).

Caps (each optional, a positive number): ``max_llm_calls``, ``max_tool_calls`` (single calls, summed over
batches), ``max_tokens`` (input + output tokens summed from LLM results' ``usage``) and ``max_wall_s``
(seconds since the run was created, by the runtime clock).

Running totals live at ``_runtime.budget_used`` and are updated in the same commit as the step that
used them, by the ``budget_counter`` trait of its effect type (:func:`llm_call_usage` for LLM_CALL,
:func:`tool_calls_usage` for TOOL_CALLS; ``core/effects/registry.py``).  Before an effect whose type has
the ``counts_before_run`` trait *runs* (a result reused from the ledger is never blocked),
:func:`budget_gate` checks the caps: when one is reached the effect does not run and the run
parks in a USER wait ``budget:<run_id>:<node_id>`` whose resume comes back to the same node.  Resuming
with ``"stop"`` (``{"text": "stop"}`` or ``{"stop": true}``) fails the run; any other payload retries the
step, which runs its effect if the host raised the budget meanwhile and parks again otherwise.  A resume
payload never changes the caps: they come from the host only.

A run without a budget pays two dict lookups per counted step and gets no new vars.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from .clock import Clock, parse_iso
from .models import EffectType, RunState, WaitReason, WaitState
from .outcome import EffectOutcome

__all__ = [
    "BUDGET_CAPS",
    "BUDGET_DECISION_KEY",
    "budget_gate",
    "check_budget_caps",
    "budget_status",
    "llm_call_usage",
    "record_budget_usage",
    "set_budget_caps",
    "tool_calls_usage",
]

BUDGET_CAPS: tuple[str, ...] = ("max_llm_calls", "max_tool_calls", "max_tokens", "max_wall_s")
"""The caps a budget may set (all optional)."""

BUDGET_DECISION_KEY = "budget_decision"
"""Where (under ``_runtime``) the resume payload of a budget wait is kept until the step runs again."""

_USED_KEY = "budget_used"
_STOP_WORDS = frozenset({"stop", "cancel", "abort", "no"})


def _caps(run: RunState) -> dict[str, Any] | None:
    limits = run.vars.get("_limits")
    budget = limits.get("budget") if isinstance(limits, dict) else None
    return budget if isinstance(budget, dict) and budget else None


def _runtime_ns(run: RunState) -> dict[str, Any]:
    runtime_ns = run.vars.get("_runtime")
    if not isinstance(runtime_ns, dict):
        runtime_ns = run.vars["_runtime"] = {}
    return runtime_ns


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _used(run: RunState) -> dict[str, Any]:
    runtime_ns = run.vars.get("_runtime")
    used = runtime_ns.get(_USED_KEY) if isinstance(runtime_ns, dict) else None
    return used if isinstance(used, dict) else {}


def _wall_s(run: RunState, now: datetime) -> float:
    try:
        return max(0.0, (now - parse_iso(run.created_at)).total_seconds())
    except (TypeError, ValueError):
        return 0.0


def budget_status(run: RunState, now: datetime) -> dict[str, Any]:
    """``{cap: {"used", "limit"}}`` for every cap the run's budget sets (``{}`` without a budget)."""
    caps = _caps(run) or {}
    used = _used(run)
    current = {
        "max_llm_calls": used.get("llm_calls", 0),
        "max_tool_calls": used.get("tool_calls", 0),
        "max_tokens": used.get("tokens", 0),
        "max_wall_s": round(_wall_s(run, now), 3),
    }
    return {
        cap: {"used": current[cap], "limit": caps[cap]}
        for cap in BUDGET_CAPS
        if _number(caps.get(cap)) is not None
    }


def _exhausted(run: RunState, now: datetime) -> tuple[str, Any, Any] | None:
    for cap, numbers in budget_status(run, now).items():
        used, limit = numbers["used"], numbers["limit"]
        if (_number(used) or 0.0) >= float(limit):
            return cap, used, limit
    return None


def _is_stop(decision: Any) -> bool:
    if isinstance(decision, str):
        return decision.strip().lower() in _STOP_WORDS
    if isinstance(decision, dict):
        if decision.get("stop") is True:
            return True
        return _is_stop(decision.get("text")) or _is_stop(decision.get("response"))
    return False


def budget_gate(
    run: RunState, node_id: str, effect_type: Any, clock: Clock, *, capped: bool
) -> EffectOutcome | None:
    """The outcome that replaces an effect about to run, or None when it may run.

    Called for every effect that is about to be executed (never for a reused result).  A pending
    budget-wait decision is consumed first: ``stop`` fails the step.  Then, when ``capped`` (the
    effect type's ``counts_before_run`` trait), a reached cap parks the run (see the module docstring).
    """
    runtime_ns = run.vars.get("_runtime")
    if isinstance(runtime_ns, dict) and BUDGET_DECISION_KEY in runtime_ns:
        decision = runtime_ns.pop(BUDGET_DECISION_KEY)
        if _is_stop(decision):
            found = _exhausted(run, clock.now())
            which = f" ({found[0]}: {found[1]}/{found[2]})" if found else ""
            return EffectOutcome.failed(f"Budget exhausted{which}: stopped by the host", retryable=False)
    if not capped or _caps(run) is None:
        return None
    now = clock.now()
    found = _exhausted(run, now)
    if found is None:
        return None
    cap, used, limit = found
    return EffectOutcome.waiting(
        WaitState(
            reason=WaitReason.USER,
            wait_key=f"budget:{run.run_id}:{node_id}",
            resume_to_node=node_id,
            result_key=f"_runtime.{BUDGET_DECISION_KEY}",
            prompt=f"Budget exhausted ({cap}: {used}/{limit}). Raise the budget or stop.",
            choices=["raise", "stop"],
            allow_free_text=False,
            details={
                "kind": "budget",
                "exhausted": cap,
                "used": used,
                "limit": limit,
                "budget": budget_status(run, now),
                "effect_type": EffectType(effect_type).value,
            },
        )
    )


def _token_total(result: Any) -> int:
    usage = result.get("usage") if isinstance(result, dict) else None
    if not isinstance(usage, dict):
        return 0
    parts = [usage.get("input_tokens", usage.get("prompt_tokens")), usage.get("output_tokens")]
    if parts[1] is None:
        parts[1] = usage.get("completion_tokens")
    if parts[0] is None and parts[1] is None:
        parts = [usage.get("total_tokens"), None]
    total = 0
    for value in parts:
        number = _number(value)
        total += int(number) if number is not None and number > 0 else 0
    return total


def llm_call_usage(payload: Any, result: Any) -> dict[str, int]:
    """The budget counter of LLM_CALL: one call plus the input + output tokens of ``result["usage"]``."""
    return {"llm_calls": 1, "tokens": _token_total(result)}


def tool_calls_usage(payload: Any, result: Any) -> dict[str, int]:
    """The budget counter of TOOL_CALLS: the number of calls in the batch (1 when not a list)."""
    calls = payload.get("tool_calls") if isinstance(payload, dict) else None
    return {"tool_calls": len(calls) if isinstance(calls, list) else 1}


def record_budget_usage(
    run: RunState,
    counter: Callable[[Any, Any], Mapping[str, int]] | None,
    payload: Any,
    result: Any,
) -> None:
    """Add what ``counter(payload, result)`` reports for one executed, completed step to
    ``_runtime.budget_used``.

    Runs without a budget, and steps whose type has no counter, are left untouched (no write at all).
    """
    if counter is None or _caps(run) is None:
        return
    runtime_ns = _runtime_ns(run)
    used = runtime_ns.get(_USED_KEY)
    if not isinstance(used, dict):
        used = runtime_ns[_USED_KEY] = {"llm_calls": 0, "tool_calls": 0, "tokens": 0}
    for name, amount in counter(payload, result).items():
        used[name] = int(used.get(name) or 0) + int(amount)


def check_budget_caps(caps: dict[str, Any]) -> None:
    """Raise ValueError for an unknown cap, or a value that is not a positive number or None."""
    for cap, value in caps.items():
        if cap not in BUDGET_CAPS:
            raise ValueError(f"unknown budget cap {cap!r} (known: {', '.join(BUDGET_CAPS)})")
        number = _number(value)
        if value is not None and (number is None or number <= 0):
            raise ValueError(f"budget cap {cap} must be a positive number or None, got {value!r}")


def set_budget_caps(run: RunState, caps: dict[str, Any]) -> None:
    """Merge ``caps`` into ``_limits.budget`` (a value of None removes that cap).

    Raises:
        ValueError: see :func:`check_budget_caps`.
    """
    check_budget_caps(caps)
    limits = run.vars.get("_limits")
    if not isinstance(limits, dict):
        limits = run.vars["_limits"] = {}
    budget = limits.get("budget")
    budget = dict(budget) if isinstance(budget, dict) else {}
    for cap, value in caps.items():
        if value is None:
            budget.pop(cap, None)
        else:
            budget[cap] = value
    limits["budget"] = budget
