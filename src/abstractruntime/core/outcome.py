"""The effect-handler contract (SPEC §4.1): :class:`EffectOutcome` and how handlers are called.

A handler is ``handler(run, effect, default_next_node) -> EffectOutcome``; an older two-parameter
``handler(run, effect)`` is still accepted.  ``default_next_node`` is the plan's ``next_node``, which
waiting effects use as their default ``resume_to_node``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .models import Effect, RunState, WaitState

__all__ = ["EffectHandler", "EffectOutcome", "call_effect_handler", "handler_arity"]

OutcomeStatus = Literal["completed", "waiting", "failed"]


@dataclass(frozen=True)
class EffectOutcome:
    """What an effect handler reports: a result, a wait, or an error message."""

    status: OutcomeStatus
    result: dict[str, Any] | None = None
    wait: WaitState | None = None
    error: str | None = None
    retryable: bool = True
    """False stops the retries of a failed attempt (an extension: for example an HTTP 401 that no retry fixes)."""
    retry_after_s: float | None = None
    """Seconds the failed attempt asks to wait before the next one (a server's ``Retry-After``); the runtime
    waits ``max(policy backoff, min(retry_after_s, policy cap))`` (SPEC §6, ``core/policy.py``)."""

    @classmethod
    def completed(cls, result: dict[str, Any] | None = None) -> EffectOutcome:
        """The effect finished; ``result`` (JSON-safe) goes to the plan's ``result_key``."""
        return _quick(cls, {"status": "completed", "result": result})

    @classmethod
    def waiting(cls, wait: WaitState) -> EffectOutcome:
        """The run must wait as described by ``wait`` (never retried)."""
        return _quick(cls, {"status": "waiting", "wait": wait})

    @classmethod
    def failed(
        cls, error: str, *, retryable: bool = True, retry_after_s: float | None = None
    ) -> EffectOutcome:
        """The attempt failed with the message ``error``.

        It is retried under the effect policy unless ``retryable`` is False, which fails the effect at once
        (the run's error still reads ``Effect failed after <n> attempts: <error>``).  ``retry_after_s``
        (seconds, e.g. from an HTTP ``Retry-After``) makes the wait before the next attempt at least that
        long, up to the policy's cap.
        """
        return cls(status="failed", error=error, retryable=retryable, retry_after_s=retry_after_s)


def _quick(cls: type[EffectOutcome], values: dict[str, Any]) -> EffectOutcome:
    """``cls(**values)`` without the frozen ``__init__`` (one ``object.__setattr__`` per field): the
    instance dict gets ``values`` and the other fields read their class-level defaults, which is what
    equality, ``repr``, ``hash``, ``dataclasses.replace`` and pickling see as well."""
    if cls is not EffectOutcome:  # a subclass may define __post_init__ or slots
        return cls(**values)
    outcome = object.__new__(cls)
    outcome.__dict__.update(values)
    return outcome


EffectHandler = Callable[..., EffectOutcome]


def handler_arity(handler: Callable[..., Any]) -> int:
    """3 when ``handler`` takes ``default_next_node`` (3+ positional parameters or ``*args``), else 2."""
    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return 3
    positional = 0
    for param in params:
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return 3
        if param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return 3 if positional >= 3 else 2


def call_effect_handler(
    handler: Callable[..., Any], arity: int, run: RunState, effect: Effect, default_next_node: str | None
) -> EffectOutcome:
    """Call ``handler`` with 2 or 3 arguments according to ``arity``.

    Raises:
        TypeError: the handler returned something other than an EffectOutcome.
    """
    outcome = handler(run, effect, default_next_node) if arity >= 3 else handler(run, effect)
    if not isinstance(outcome, EffectOutcome):
        raise TypeError(f"effect handler returned {type(outcome).__name__}, expected EffectOutcome")
    return outcome
