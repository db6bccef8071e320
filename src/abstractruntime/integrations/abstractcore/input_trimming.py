"""Input budget for LLM_CALL (SPEC §5.5): drop the oldest messages until a rough token estimate fits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...core.models import RunState

__all__ = ["estimate_tokens", "positive_int", "trim_messages"]


def positive_int(value: Any) -> int | None:
    """``value`` when it is an int > 0 (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def estimate_tokens(text: Any) -> int:
    """A rough token count: 4 characters per token, plus 4 tokens of per-message overhead."""
    return len(text if isinstance(text, str) else json.dumps(text, default=str)) // 4 + 4


def trim_messages(
    run: RunState, payload: Mapping[str, Any], messages: list[dict[str, Any]] | None, prompt: str, system: str
) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
    """Drop the oldest non-system messages until the estimate fits the input budget (SPEC §5.5).

    The budget (tokens) is ``payload.max_input_tokens``, else ``vars._limits.max_input_tokens``; nothing is
    trimmed without one, or when ``vars._runtime.disable_input_trimming`` is true.  The prompt and the
    system prompt are never dropped.
    """
    limits = run.vars.get("_limits")
    budget = positive_int(payload.get("max_input_tokens")) or (
        positive_int(limits.get("max_input_tokens")) if isinstance(limits, dict) else None
    )
    runtime = run.vars.get("_runtime")
    if (
        not messages
        or budget is None
        or (isinstance(runtime, dict) and runtime.get("disable_input_trimming"))
    ):
        return messages, None
    kept = list(messages)
    fixed = (estimate_tokens(prompt) if prompt else 0) + (estimate_tokens(system) if system else 0)
    total = fixed + sum(estimate_tokens(m.get("content")) for m in kept)
    dropped = 0
    while total > budget:
        index = next((i for i, m in enumerate(kept) if m.get("role") != "system"), None)
        if index is None:
            break
        total -= estimate_tokens(kept.pop(index).get("content"))
        dropped += 1
    if not dropped:
        return messages, None
    return kept, {"dropped_messages": dropped, "max_input_tokens": budget, "estimated_input_tokens": total}
