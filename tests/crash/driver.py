"""Crash-test driver: advance many durable runs until all complete; meant to be SIGKILLed at random.

Usage::

    python driver.py <store_url> <side_file> <n_runs> <seed>

The driver opens the stores named by ``store_url`` (``file:///dir`` or ``sqlite:////abs/path.db``),
and loops: it creates runs of the workflow below until the store holds ``n_runs`` of them, and
advances every unfinished run a few steps at a time, in a random order (RUNNING runs are ticked,
runs WAITING on the ask are resumed by the driver itself).  It exits 0 once every run is COMPLETED,
2 when a run ends in any other terminal status or the store holds more runs than asked for.

Whatever the driver knows is read back from the stores at start, so a driver killed at any moment and
started again carries on where the durable state says it was.  Two files record what happened
outside the runtime, for the test to check:

* ``<side_file>``: one line ``<run_id> <node_id> <op> <pid>`` per execution of a host effect handler,
  written with ``os.write`` + ``os.fsync`` *before* the handler returns (an external side effect);
* ``<side_file>.created``: one line ``<run_id>`` per run, appended (fsynced) once ``start`` returned.

The workflow (7 nodes): ``fetch`` (LLM_CALL) -> ``plan`` (pure transition) -> ``lookup`` (TOOL_CALLS)
-> ``ask`` (ASK_USER) -> ``summarize`` (LLM_CALL) -> ``notify`` (LLM_CALL) -> ``done`` (completion).
Each host effect carries a different ``op`` in its payload, so every node has its own idempotency key.
"""

from __future__ import annotations

import os
import random
import sys
import time
from typing import Any

from abstractruntime import (
    Effect,
    EffectType,
    RunState,
    RunStatus,
    Runtime,
    StepPlan,
    WaitReason,
    WorkflowSpec,
)
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.storage.urls import open_stores

WORKFLOW_ID = "crash_test"


# -- workflow ----------------------------------------------------------------------------------------
def _fetch(run: RunState, ctx: Any) -> StepPlan:
    effect = Effect(
        type=EffectType.LLM_CALL,
        payload={"prompt": "fetch the input", "op": "op-fetch"},
        result_key="fetched",
    )
    return StepPlan(node_id="fetch", effect=effect, next_node="plan")


def _plan(run: RunState, ctx: Any) -> StepPlan:
    # A pure transition: recomputed from the last checkpoint after a crash, never written on its own.
    run.vars["plan"] = {"source": run.vars["fetched"]["op"], "steps": ["lookup", "ask", "summarize"]}
    return StepPlan(node_id="plan", next_node="lookup")


def _lookup(run: RunState, ctx: Any) -> StepPlan:
    effect = Effect(
        type=EffectType.TOOL_CALLS,
        payload={
            "op": "op-lookup",
            "tool_calls": [
                {"name": "lookup", "arguments": {"q": run.vars["plan"]["source"]}, "call_id": "c1"}
            ],
        },
        result_key="looked_up",
    )
    return StepPlan(node_id="lookup", effect=effect, next_node="ask")


def _ask(run: RunState, ctx: Any) -> StepPlan:
    effect = Effect(type=EffectType.ASK_USER, payload={"prompt": "Continue?"}, result_key="answer")
    return StepPlan(node_id="ask", effect=effect, next_node="summarize")


def _summarize(run: RunState, ctx: Any) -> StepPlan:
    effect = Effect(
        type=EffectType.LLM_CALL,
        payload={"prompt": "summarize", "op": "op-summarize", "answer": run.vars["answer"]},
        result_key="summary",
    )
    return StepPlan(node_id="summarize", effect=effect, next_node="notify")


def _notify(run: RunState, ctx: Any) -> StepPlan:
    effect = Effect(
        type=EffectType.LLM_CALL, payload={"prompt": "notify", "op": "op-notify"}, result_key="notified"
    )
    return StepPlan(node_id="notify", effect=effect, next_node="done")


def _done(run: RunState, ctx: Any) -> StepPlan:
    output = {key: run.vars[key]["op"] for key in ("fetched", "looked_up", "summary", "notified")}
    return StepPlan(node_id="done", complete_output={"ops": output, "answer": run.vars["answer"]})


WORKFLOW = WorkflowSpec(
    workflow_id=WORKFLOW_ID,
    entry_node="fetch",
    nodes={
        "fetch": _fetch,
        "plan": _plan,
        "lookup": _lookup,
        "ask": _ask,
        "summarize": _summarize,
        "notify": _notify,
        "done": _done,
    },
)


# -- host effect handlers -------------------------------------------------------------------------
class SideEffects:
    """Host handlers whose every execution leaves a durable line in the side file."""

    def __init__(self, path: str, rng: random.Random) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._rng = rng
        self._pid = os.getpid()

    def _execute(self, run: RunState, effect: Effect) -> str:
        op = str(effect.payload["op"])
        time.sleep(self._rng.uniform(0.0, 0.001))  # the "work", so a kill can land before the write
        line = f"{run.run_id} {run.current_node} {op} {self._pid}\n".encode()
        os.write(self._fd, line)
        os.fsync(self._fd)
        time.sleep(self._rng.uniform(0.0, 0.001))  # ... and between the side effect and the commit
        return op

    def llm_call(self, run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        op = self._execute(run, effect)
        return EffectOutcome.completed({"content": f"answer to {op}", "op": op, "usage": {"total_tokens": 7}})

    def tool_calls(self, run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        op = self._execute(run, effect)
        calls = effect.payload["tool_calls"]
        results = [{"call_id": c["call_id"], "name": c["name"], "success": True, "output": op} for c in calls]
        return EffectOutcome.completed({"mode": "executed", "results": results, "op": op})


# -- driver loop ---------------------------------------------------------------------------------------
def _append_line(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _advance(runtime: Runtime, run: RunState, rng: random.Random) -> None:
    if run.status == RunStatus.RUNNING:
        runtime.tick(workflow=WORKFLOW, run_id=run.run_id, max_steps=rng.randint(1, 3))
    elif run.status == RunStatus.WAITING:
        wait = run.waiting
        if wait is None or wait.reason != WaitReason.USER:
            raise SystemExit(f"run {run.run_id} waits on something unexpected: {wait!r}")
        payload = {"text": f"yes-{run.run_id}"}
        runtime.resume(
            workflow=WORKFLOW,
            run_id=run.run_id,
            wait_key=wait.wait_key,
            payload=payload,
            max_steps=rng.randint(0, 3),
        )


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 64
    url, side_file, n_runs, seed = argv[1], argv[2], int(argv[3]), argv[4]
    rng = random.Random(f"{seed}:{os.getpid()}:{time.time_ns()}")
    created_log = side_file + ".created"
    stores = open_stores(url)
    effects = SideEffects(side_file, rng)
    runtime = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        effect_handlers={EffectType.LLM_CALL: effects.llm_call, EffectType.TOOL_CALLS: effects.tool_calls},
    )
    list_runs = stores.run_store.list_runs  # type: ignore[attr-defined]
    while True:
        runs: list[RunState] = list_runs(limit=n_runs + 1000)
        if len(runs) > n_runs:
            print(f"store holds {len(runs)} runs, more than {n_runs}", file=sys.stderr)
            return 2
        # Create a few runs per round, so new runs keep arriving while older ones progress.
        for _ in range(min(n_runs - len(runs), rng.randint(1, 12))):
            run_id = runtime.start(workflow=WORKFLOW, vars={"created_by": os.getpid()})
            _append_line(created_log, run_id + "\n")
        bad = [r for r in runs if r.is_terminal and r.status != RunStatus.COMPLETED]
        if bad:
            print(f"run {bad[0].run_id} ended {bad[0].status}: {bad[0].error}", file=sys.stderr)
            return 2
        unfinished = [r for r in runs if not r.is_terminal]
        if not unfinished and len(runs) == n_runs:
            stores.close()
            return 0
        for run in rng.sample(unfinished, k=min(len(unfinished), rng.randint(1, 16))):
            _advance(runtime, run, rng)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
