"""Pause, resume-from-pause, cancel, failing a stranded run, and limit updates (SPEC §4.7, §4.8).

Each operation is a small read-modify-commit.  When it collides with a concurrent tick (a
``ConcurrencyError`` from the revision check) it reloads and applies itself again, so an operator's
pause or cancel is never lost; the tick then sees it at its next check and stops without writing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...errors import ConcurrencyError
from ..budget import check_budget_caps, set_budget_caps
from ..clock import Clock, to_iso
from ..models import RunState, RunStatus, StepRecord, WaitReason, WaitState
from ..vars import LIMITS, get_namespace, get_runtime
from .records import failure_record, status_record
from .store_access import StoreAccess, WorkingRun, is_paused

__all__ = ["RunControl", "LIMIT_KEYS"]

LIMIT_KEYS = (
    "max_iterations",
    "max_tokens",
    "max_output_tokens",
    "max_input_tokens",
    "max_history_messages",
    "warn_iterations_pct",
    "warn_tokens_pct",
    "estimated_tokens_used",
    "current_iteration",
)

_ATTEMPTS = 5

Change = Callable[[WorkingRun, str], "list[StepRecord] | None"]


def _control(run: RunState) -> dict[str, Any]:
    return get_namespace(get_runtime(run.vars), "control")


def _is_pause_wait(run: RunState) -> bool:
    wait = run.waiting
    if wait is None:
        return False
    details = wait.details if isinstance(wait.details, dict) else {}
    pause_key = wait.reason == WaitReason.USER and wait.wait_key == f"pause:{run.run_id}"
    return pause_key or details.get("kind") == "pause"


class RunControl:
    """Operator actions on stored runs."""

    def __init__(self, *, access: StoreAccess, clock: Clock) -> None:
        self._access = access
        self._clock = clock

    def pause(self, run_id: str, reason: str | None) -> RunState:
        """Pause a RUNNING or WAITING run (terminal runs, paused runs and real user waits: unchanged)."""

        def change(work: WorkingRun, now: str) -> list[StepRecord] | None:
            run = work.run
            if run.is_terminal or is_paused(run):
                return None
            waiting_on_user = run.waiting is not None and run.waiting.reason == WaitReason.USER
            if run.status == RunStatus.WAITING and waiting_on_user and not _is_pause_wait(run):
                return None
            control = _control(run)
            control["paused"] = True
            control["paused_at"] = now
            if reason is not None and reason.strip():
                control["pause_reason"] = reason
            if run.status == RunStatus.RUNNING:
                run.status = RunStatus.WAITING
                run.waiting = WaitState(
                    reason=WaitReason.USER,
                    wait_key=f"pause:{run.run_id}",
                    resume_to_node=run.current_node,
                    prompt="Paused",
                    allow_free_text=False,
                    details={"kind": "pause"},
                )
            run.updated_at = now
            return []

        return self._apply(run_id, change)

    def resume_paused(self, run_id: str) -> RunState:
        """Lift a pause; a synthetic pause wait goes back to RUNNING (no tick)."""

        def change(work: WorkingRun, now: str) -> list[StepRecord] | None:
            run = work.run
            if run.is_terminal or not is_paused(run):
                return None
            control = _control(run)
            control.pop("paused", None)
            control.pop("pause_reason", None)
            control["resumed_at"] = now
            if run.status == RunStatus.WAITING and _is_pause_wait(run):
                target = run.waiting.resume_to_node if run.waiting is not None else None
                run.status = RunStatus.RUNNING
                run.current_node = target or run.current_node
                run.waiting = None
            run.updated_at = now
            return []

        return self._apply(run_id, change)

    def cancel(self, run_id: str, reason: str | None) -> RunState:
        """Cancel a non-terminal run (children are not touched); writes the status record."""

        def change(work: WorkingRun, now: str) -> list[StepRecord] | None:
            run = work.run
            if run.is_terminal:
                return None
            run.status = RunStatus.CANCELLED
            run.error = reason or "Cancelled"
            run.waiting = None
            _control(run).pop("paused", None)
            run.updated_at = now
            return [status_record(run, node_id=run.current_node, status="cancelled", now=now)]

        return self._apply(run_id, change)

    def fail(self, run_id: str, error: str, *, effect: dict[str, Any] | None = None) -> RunState:
        """Fail a RUNNING run (recovery giving up): status FAILED, ``error``, a FAILED record at its
        current node (with ``effect`` as its effect dict) and the status record.  Other runs unchanged."""

        def change(work: WorkingRun, now: str) -> list[StepRecord] | None:
            run = work.run
            if run.status != RunStatus.RUNNING or is_paused(run):
                return None
            run.status = RunStatus.FAILED
            run.error = error
            run.updated_at = now
            node_id = run.current_node
            return [
                failure_record(run, node_id=node_id, error=error, now=now, effect=effect),
                status_record(run, node_id=node_id, status="failed", now=now),
            ]

        return self._apply(run_id, change)

    def update_limits(self, run_id: str, updates: Mapping[str, Any]) -> RunState:
        """Copy the allow-listed keys of ``updates`` into ``_limits`` (``updated_at`` untouched)."""

        def change(work: WorkingRun, now: str) -> list[StepRecord] | None:
            limits = get_namespace(work.run.vars, LIMITS)
            for key in LIMIT_KEYS:
                if key in updates:
                    limits[key] = updates[key]
            return []

        return self._apply(run_id, change)

    def update_budget(self, run_id: str, caps: Mapping[str, Any]) -> RunState:
        """Merge ``caps`` into ``_limits.budget`` (None removes a cap); see ``core/budget.py``."""
        check_budget_caps(dict(caps))

        def change(work: WorkingRun, now: str) -> list[StepRecord] | None:
            set_budget_caps(work.run, dict(caps))
            return []

        return self._apply(run_id, change)

    def _apply(self, run_id: str, change: Change) -> RunState:
        for attempt in range(_ATTEMPTS):
            work = self._access.load(run_id)
            records = change(work, to_iso(self._clock.now()))
            if records is None:
                return work.run
            try:
                self._access.commit(work, records)
                return work.run
            except ConcurrencyError:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")
