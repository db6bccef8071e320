"""WAIT_EVENT and WAIT_UNTIL (SPEC §4.9): park the run on an event key or a deadline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ...errors import InvalidEventKeyError
from ..clock import parse_iso
from ..event_keys import build_event_wait_key
from ..models import Effect, RunState, WaitReason, WaitState
from ..outcome import EffectOutcome

__all__ = ["make_wait_until_handler", "wait_event"]


def _clean_choices(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [c.strip() for c in value if isinstance(c, str) and c.strip()]


def wait_event(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    """Wait (reason EVENT) until an event with the computed key is delivered.

    Payload: ``wait_key``; or ``scope`` (default ``session``) with ``name``/``event_name`` and an
    optional ``session_id`` (default the run's session, else its run id); ``resume_to_node``; and
    host-facing ``prompt``, ``choices``, ``allow_free_text``/``allowFreeText``, ``details``.
    """
    payload = effect.payload if isinstance(effect.payload, dict) else {}
    wait_key = payload.get("wait_key")
    name = payload.get("name") or payload.get("event_name")
    if not wait_key:
        if not name:
            return EffectOutcome.failed("wait_event requires payload.wait_key or payload.name")
        try:
            wait_key = build_event_wait_key(
                scope=str(payload.get("scope") or "session"),
                name=str(name),
                session_id=payload.get("session_id") or run.session_id or run.run_id,
                workflow_id=run.workflow_id,
                run_id=run.run_id,
            )
        except InvalidEventKeyError as exc:
            return EffectOutcome.failed(f"wait_event invalid payload: {exc}")
    allow = payload.get("allow_free_text", payload.get("allowFreeText"))
    details = payload.get("details")
    prompt = payload.get("prompt")
    wait = WaitState(
        reason=WaitReason.EVENT,
        wait_key=str(wait_key),
        resume_to_node=payload.get("resume_to_node") or default_next_node,
        result_key=effect.result_key,
        prompt=str(prompt) if prompt is not None else None,
        choices=_clean_choices(payload.get("choices")),
        allow_free_text=True if allow is None else bool(allow),
        details=details if isinstance(details, dict) else None,
    )
    return EffectOutcome.waiting(wait)


def make_wait_until_handler(
    now: Callable[[], datetime],
) -> Callable[[RunState, Effect, str | None], EffectOutcome]:
    """A WAIT_UNTIL handler reading the time from ``now`` (the runtime clock).

    Payload: ``until`` (ISO-8601, required), ``resume_to_node``.  A deadline already reached completes
    at once with ``{"until": until, "ready": True}``; otherwise the run waits (reason UNTIL, no key).
    Deadlines are compared as datetimes.
    """

    def wait_until(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        until = payload.get("until")
        if not until:
            return EffectOutcome.failed("wait_until requires payload.until")
        try:
            deadline = parse_iso(str(until))
        except ValueError as exc:
            return EffectOutcome.failed(f"wait_until invalid payload.until: {exc}")
        if now() >= deadline:
            return EffectOutcome.completed({"until": until, "ready": True})
        wait = WaitState(
            reason=WaitReason.UNTIL,
            wait_key=None,
            until=str(until),
            resume_to_node=payload.get("resume_to_node") or default_next_node,
            result_key=effect.result_key,
        )
        return EffectOutcome.waiting(wait)

    return wait_until
