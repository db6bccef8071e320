"""Builders for the ledger records the runtime writes itself (SPEC §4.5)."""

from __future__ import annotations

from typing import Any

from ..jsonable import to_jsonable
from ..models import RunState, StepRecord, StepStatus, new_id

__all__ = [
    "completion_record",
    "control_record",
    "failure_record",
    "resume_completion_record",
    "resume_record",
    "status_record",
]


def _record(
    run: RunState,
    *,
    node_id: str,
    now: str,
    effect: dict[str, Any] | None,
    result: dict[str, Any],
    idempotency_key: str | None = None,
) -> StepRecord:
    return StepRecord(
        run_id=run.run_id,
        step_id=new_id(),
        node_id=node_id,
        status=StepStatus.COMPLETED,
        effect=effect,
        result=result,
        started_at=now,
        ended_at=now,
        actor_id=run.actor_id,
        session_id=run.session_id,
        idempotency_key=idempotency_key,
    )


def control_record(
    run: RunState, *, node_id: str, kind: str, payload: dict[str, Any], key: str, now: str
) -> StepRecord:
    """``{<kind>: True}`` for an operator action on the run (``retry``, ``fork``; ``core/rewind.py``), its
    effect ``{type: kind, payload, result_key: None}`` and idempotency key ``key``."""
    return _record(
        run,
        node_id=node_id,
        now=now,
        effect={"type": kind, "payload": payload, "result_key": None},
        result={kind: True},
        idempotency_key=key,
    )


def completion_record(run: RunState, *, node_id: str, output: Any, now: str) -> StepRecord:
    """``{completed: True, output}``: a node finished the run with ``complete_output``."""
    return _record(
        run, node_id=node_id, now=now, effect=None, result={"completed": True, "output": to_jsonable(output)}
    )


def resume_completion_record(
    run: RunState, *, node_id: str, wait_reason: str, wait_key: str | None, output: Any, now: str
) -> StepRecord:
    """``{completed: True, via: "resume", ...}``: a terminal wait was resumed."""
    result = {
        "completed": True,
        "via": "resume",
        "wait_reason": wait_reason,
        "wait_key": wait_key,
        "output": to_jsonable(output),
    }
    return _record(run, node_id=node_id, now=now, effect=None, result=result)


def resume_record(run: RunState, *, node_id: str, payload: dict[str, Any], now: str) -> StepRecord:
    """The pseudo-effect ``resume`` record (``payload``: wait_reason, wait_key, resume_to_node,
    result_key and the resume payload)."""
    effect = {"type": "resume", "payload": payload, "result_key": None}
    return _record(run, node_id=node_id, now=now, effect=effect, result={"resumed": True})


def status_record(run: RunState, *, node_id: str, status: str, now: str) -> StepRecord:
    """The terminal ``abstract.status`` event record (a ledger entry only; no delivery)."""
    event_payload = {"text": status}
    effect = {
        "type": "emit_event",
        "payload": {"name": "abstract.status", "scope": "session", "payload": event_payload},
        "result_key": None,
    }
    result = {"emitted": True, "name": "abstract.status", "payload": {"text": status}}
    return _record(
        run,
        node_id=node_id,
        now=now,
        effect=effect,
        result=result,
        idempotency_key=f"system:terminal_status:{status}",
    )


def failure_record(
    run: RunState,
    *,
    node_id: str,
    error: str,
    now: str,
    effect: dict[str, Any] | None = None,
    step_id: str | None = None,
    attempt: int = 1,
    idempotency_key: str | None = None,
) -> StepRecord:
    """A FAILED record the runtime writes itself: a step whose state could not be stored, or a run that
    recovery gave up on.  ``step_id`` pairs it with an effect's STARTED record when there is one."""
    return StepRecord(
        run_id=run.run_id,
        step_id=step_id or new_id(),
        node_id=node_id,
        status=StepStatus.FAILED,
        effect=effect,
        error=error,
        started_at=now,
        ended_at=now,
        actor_id=run.actor_id,
        session_id=run.session_id,
        attempt=attempt,
        idempotency_key=idempotency_key,
    )
