"""Helpers shared by the scheduler tests (imported as ``scheduler_support``; tests/ has no packages)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from abstractruntime import Effect, EffectType, RunState, StepPlan, WorkflowSpec
from abstractruntime.core.clock import parse_iso
from abstractruntime.scheduler.scheduler import SCHEDULER_THREAD_NAME


def confirm(run: RunState, ctx: Any) -> StepPlan:
    return StepPlan(
        node_id="confirm",
        effect=Effect(type=EffectType.ASK_USER, payload={"prompt": "Ship it?"}, result_key="reply"),
        next_node="finish",
    )


def finish(run: RunState, ctx: Any) -> StepPlan:
    reply = run.vars.get("reply") or {}
    return StepPlan(node_id="finish", complete_output={"shipped": reply.get("text") == "yes"})


def make_timer_flow(workflow_id: str = "timer", *, delay_s: float = 3.0, after: Any = None) -> WorkflowSpec:
    """``wait`` (WAIT_UNTIL ``delay_s`` seconds after the run clock's now) then ``done`` (or ``after``)."""

    def wait(run: RunState, ctx: Any) -> StepPlan:
        until = parse_iso(ctx.now_iso()) + timedelta(seconds=delay_s)
        return StepPlan(
            node_id="wait",
            effect=Effect(type=EffectType.WAIT_UNTIL, payload={"until": until.isoformat()}),
            next_node="done",
        )

    def done(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"woke_at": ctx.now_iso()})

    return WorkflowSpec(
        workflow_id=workflow_id, entry_node="wait", nodes={"wait": wait, "done": after or done}
    )


def scheduler_threads() -> list[threading.Thread]:
    """Live threads named like the scheduler's."""
    return [t for t in threading.enumerate() if t.name == SCHEDULER_THREAD_NAME]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (real time, in short event waits) until ``condition()`` holds: thread synchronisation only."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        pause.wait(0.005)
