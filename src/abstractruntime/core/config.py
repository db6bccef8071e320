"""Runtime configuration and the ``_limits`` it seeds (SPEC §5.4, §5.5).

:class:`RuntimeConfig` is a frozen value object.  Its only job in the kernel is
:meth:`RuntimeConfig.to_limits_dict`, which ``Runtime.start`` copies into ``vars["_limits"]`` when the
caller did not provide ``_limits``.  Token budgets come from three places, in order of precedence: the
explicit field, the model's capabilities (``model_capabilities["max_tokens"]`` /
``["max_output_tokens"]``), then the built-in default (32768 for ``max_tokens``; none for output).

Limits only produce warnings; nothing here is enforced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from .vars import DEFAULT_MAX_ITERATIONS, DEFAULT_MAX_TOKENS

__all__ = ["DEFAULT_RECOMMENDED_MAX_INPUT_TOKENS", "INPUT_TOKENS_SAFETY_MARGIN", "RuntimeConfig"]

DEFAULT_RECOMMENDED_MAX_INPUT_TOKENS = -1
"""Auto-cap for ``max_input_tokens``; ``-1`` means the cap is disabled (SPEC §5.4)."""

INPUT_TOKENS_SAFETY_MARGIN = 256
"""Tokens kept free between the input budget and ``max_tokens - max_output_tokens``."""


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class RuntimeConfig:
    """Limits and model routing defaults for new runs (SPEC §5.4).

    Attributes:
        max_iterations: agent-loop iteration budget (warnings only).
        warn_iterations_pct: percentage of ``max_iterations`` at which a warning is raised.
        max_tokens: context window; None defers to the model capabilities, then 32768.
        max_output_tokens: output budget; None defers to the model capabilities (may stay None).
        max_input_tokens: input budget; None means no explicit budget.
        warn_tokens_pct: percentage of ``max_tokens`` at which a warning is raised.
        max_history_messages: messages kept in history; ``-1`` means unlimited.
        provider: LLM provider name for routing metadata.
        model: LLM model name for routing metadata.
        model_capabilities: capability dict of the model (``max_tokens``, ``max_output_tokens``, ...).
    """

    max_iterations: int = DEFAULT_MAX_ITERATIONS
    warn_iterations_pct: int = 80
    max_tokens: int | None = None
    max_output_tokens: int | None = None
    max_input_tokens: int | None = None
    warn_tokens_pct: int = 80
    max_history_messages: int = -1
    provider: str | None = None
    model: str | None = None
    model_capabilities: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_limits_dict(self) -> dict[str, Any]:
        """The ``_limits`` dict seeded into new runs (SPEC §5.4).

        Rules:
            * ``max_tokens``: the first non-None of the field, ``model_capabilities["max_tokens"]``, 32768.
            * ``max_output_tokens``: the field, else ``model_capabilities["max_output_tokens"]``
              (may stay None).
            * ``max_input_tokens``: when the field is set and both values above are ints, clamped to
              ``[0, max_tokens - max_output_tokens - 256]``; otherwise passed through (possibly None).

        Returns:
            A new dict with exactly the 9 keys ``max_iterations, current_iteration (0), max_tokens,
            max_output_tokens, max_input_tokens, estimated_tokens_used (0), max_history_messages,
            warn_iterations_pct, warn_tokens_pct``.
        """
        caps = self.model_capabilities if isinstance(self.model_capabilities, Mapping) else {}

        max_tokens = self.max_tokens
        if max_tokens is None:
            max_tokens = caps.get("max_tokens")
        if max_tokens is None:
            max_tokens = DEFAULT_MAX_TOKENS

        max_output_tokens = self.max_output_tokens
        if max_output_tokens is None:
            max_output_tokens = caps.get("max_output_tokens")

        max_input_tokens = self.max_input_tokens
        if max_input_tokens is not None and _is_int(max_tokens) and _is_int(max_output_tokens):
            upper = max(0, max_tokens - max_output_tokens - INPUT_TOKENS_SAFETY_MARGIN)
            max_input_tokens = min(max(max_input_tokens, 0), upper)

        return {
            "max_iterations": self.max_iterations,
            "current_iteration": 0,
            "max_tokens": max_tokens,
            "max_output_tokens": max_output_tokens,
            "max_input_tokens": max_input_tokens,
            "estimated_tokens_used": 0,
            "max_history_messages": self.max_history_messages,
            "warn_iterations_pct": self.warn_iterations_pct,
            "warn_tokens_pct": self.warn_tokens_pct,
        }

    def with_capabilities(self, caps: Mapping[str, Any] | None) -> RuntimeConfig:
        """Return a copy whose ``model_capabilities`` is replaced by a shallow copy of ``caps`` (SPEC §5.4).

        Args:
            caps: the new capability mapping; None gives ``{}``.

        Returns:
            A new RuntimeConfig; ``self`` is unchanged.
        """
        return dataclasses.replace(self, model_capabilities=dict(caps or {}))
