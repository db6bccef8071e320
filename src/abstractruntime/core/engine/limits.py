"""Limit status and warnings computed from ``vars._limits`` (SPEC §4.8, §5.5).

Limits only warn: the kernel never stops a run because of them.
"""

from __future__ import annotations

from typing import Any

from ..models import LimitWarning, RunState
from ..vars import DEFAULT_MAX_ITERATIONS, DEFAULT_MAX_TOKENS

__all__ = ["check_limits", "limit_status"]


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _pct(current: int, maximum: int) -> float:
    return round(current / maximum * 100, 1) if maximum > 0 else 0.0


def _limits(run: RunState) -> dict[str, Any]:
    limits = run.vars.get("_limits") if isinstance(run.vars, dict) else None
    return limits if isinstance(limits, dict) else {}


def limit_status(run: RunState) -> dict[str, Any]:
    """``{"iterations": {...}, "tokens": {...}, "history": {...}}`` for ``run`` (SPEC §4.8)."""
    limits = _limits(run)
    current = _int(limits.get("current_iteration"), 0)
    max_iterations = _int(limits.get("max_iterations"), DEFAULT_MAX_ITERATIONS)
    warn_iter = _int(limits.get("warn_iterations_pct"), 80)
    used = _int(limits.get("estimated_tokens_used"), 0)
    max_tokens = _int(limits.get("max_tokens"), DEFAULT_MAX_TOKENS)
    warn_tokens = _int(limits.get("warn_tokens_pct"), 80)
    iter_pct = _pct(current, max_iterations)
    token_pct = _pct(used, max_tokens)
    return {
        "iterations": {
            "current": current,
            "max": max_iterations,
            "pct": iter_pct,
            "warning": iter_pct >= warn_iter,
        },
        "tokens": {
            "estimated_used": used,
            "max": max_tokens,
            "max_input_tokens": limits.get("max_input_tokens"),
            "max_output_tokens": limits.get("max_output_tokens"),
            "pct": token_pct,
            "warning": token_pct >= warn_tokens,
        },
        "history": {"max_messages": limits.get("max_history_messages", -1)},
    }


def check_limits(run: RunState) -> list[LimitWarning]:
    """Warnings for limits at or past their warning threshold (``exceeded`` at or past the maximum)."""
    limits = _limits(run)
    warnings: list[LimitWarning] = []
    checks = [
        (
            "iterations",
            _int(limits.get("current_iteration"), 0),
            _int(limits.get("max_iterations"), DEFAULT_MAX_ITERATIONS),
            _int(limits.get("warn_iterations_pct"), 80),
        ),
    ]
    used = _int(limits.get("estimated_tokens_used"), 0)
    if used > 0:
        checks.append(
            (
                "tokens",
                used,
                _int(limits.get("max_tokens"), DEFAULT_MAX_TOKENS),
                _int(limits.get("warn_tokens_pct"), 80),
            )
        )
    for limit_type, current, maximum, warn_pct in checks:
        if maximum <= 0:
            continue
        if current >= maximum:
            warnings.append(LimitWarning(limit_type, "exceeded", current, maximum))
        elif _pct(current, maximum) >= warn_pct:
            warnings.append(LimitWarning(limit_type, "warning", current, maximum))
    return warnings
