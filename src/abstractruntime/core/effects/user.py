"""ASK_USER and ANSWER_USER (SPEC §4.9): questions that park the run, messages that never block."""

from __future__ import annotations

from typing import Any

from ..models import Effect, RunState, WaitReason, WaitState
from ..outcome import EffectOutcome

__all__ = ["answer_user", "ask_user"]

_LEVELS = {"message": "message", "info": "message", "warning": "warning", "warn": "warning", "error": "error"}


def ask_user(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    """Wait (reason USER) for an answer to ``payload.prompt``.

    Payload: ``prompt`` (required, truthy), ``choices`` (list), ``allow_free_text`` (default True),
    ``wait_key`` (default ``user:<run_id>:<current_node>``), ``resume_to_node`` (default: the plan's
    next node).
    """
    payload = effect.payload if isinstance(effect.payload, dict) else {}
    prompt = payload.get("prompt")
    if not prompt:
        return EffectOutcome.failed("ask_user requires payload.prompt")
    choices = payload.get("choices")
    allow = payload.get("allow_free_text")
    wait = WaitState(
        reason=WaitReason.USER,
        wait_key=payload.get("wait_key") or f"user:{run.run_id}:{run.current_node}",
        resume_to_node=payload.get("resume_to_node") or default_next_node,
        result_key=effect.result_key,
        prompt=str(prompt),
        choices=[str(c) for c in choices] if isinstance(choices, list) else None,
        allow_free_text=True if allow is None else bool(allow),
    )
    return EffectOutcome.waiting(wait)


def answer_user(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    """Report a message to the user: ``{"message": str, "level": "message"|"warning"|"error"}``.

    Payload: ``message`` (or ``text`` / ``content``; required), ``level`` (``warn`` -> ``warning``;
    unknown -> ``message``).
    """
    payload: dict[str, Any] = effect.payload if isinstance(effect.payload, dict) else {}
    message = next((payload[k] for k in ("message", "text", "content") if payload.get(k) is not None), None)
    if message is None:
        return EffectOutcome.failed("answer_user requires payload.message")
    level = _LEVELS.get(str(payload.get("level") or "message").strip().lower(), "message")
    return EffectOutcome.completed({"message": str(message), "level": level})
