"""Workflows for the CLI recovery and soak tests (loaded as ``recovery_flows.py:<NAME>`` targets).

``FLOW``: five host LLM_CALL effects (``e1`` .. ``e5``, run by ``cli_host.py``'s side-effect handler)
with pure transitions in between, then completion with every effect's result.  ``TIMER_FLOW`` adds a
short WAIT_UNTIL in the middle, so ``scheduler serve`` has timers to wake.  ``UNSTORABLE_FLOW`` puts a
``set`` into vars after its first effect.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from abstractruntime import Effect, EffectType, RunState, StepPlan, WorkflowSpec

OPS = ("e1", "e2", "e3", "e4", "e5")


def _effect(op: str, nxt: str) -> Any:
    def node(run: RunState, ctx: Any) -> StepPlan:
        effect = Effect(EffectType.LLM_CALL, {"prompt": op, "op": op}, result_key=f"results.{op}")
        return StepPlan(node_id=op, effect=effect, next_node=nxt)

    return node


def _pure(name: str, nxt: str) -> Any:
    def node(run: RunState, ctx: Any) -> StepPlan:
        run.vars.setdefault("visited", []).append(name)  # recomputed after a crash, never stored alone
        return StepPlan(node_id=name, next_node=nxt)

    return node


def _wait(run: RunState, ctx: Any) -> StepPlan:
    until = (datetime.now(timezone.utc) + timedelta(seconds=0.3)).isoformat()
    return StepPlan(node_id="wait", effect=Effect(EffectType.WAIT_UNTIL, {"until": until}), next_node="e4")


def _done(run: RunState, ctx: Any) -> StepPlan:
    results = run.vars["results"]
    return StepPlan(node_id="done", complete_output={op: results[op]["op"] for op in OPS})


FLOW = WorkflowSpec(
    workflow_id="recovery_flow",
    entry_node="e1",
    nodes={
        "e1": _effect("e1", "p1"),
        "p1": _pure("p1", "e2"),
        "e2": _effect("e2", "e3"),
        "e3": _effect("e3", "p2"),
        "p2": _pure("p2", "e4"),
        "e4": _effect("e4", "e5"),
        "e5": _effect("e5", "done"),
        "done": _done,
    },
)

TIMER_FLOW = WorkflowSpec(
    workflow_id="recovery_timer_flow",
    entry_node="e1",
    nodes={
        "e1": _effect("e1", "e2"),
        "e2": _effect("e2", "e3"),
        "e3": _effect("e3", "wait"),
        "wait": _wait,
        "e4": _effect("e4", "e5"),
        "e5": _effect("e5", "done"),
        "done": _done,
    },
)


def _unstorable(run: RunState, ctx: Any) -> StepPlan:
    run.vars["seen"] = {"a", "b"}  # a set: no JSON form
    return StepPlan(node_id="bad", next_node="done")


UNSTORABLE_FLOW = WorkflowSpec(
    workflow_id="recovery_unstorable",
    entry_node="e1",
    nodes={
        "e1": _effect("e1", "bad"),
        "bad": _unstorable,
        "done": lambda run, ctx: StepPlan("done", complete_output={"seen": run.vars["seen"]}),
    },
)
