"""Subprocess driver for the group-commit crash test: advances N runs with ``tick_many`` until all
complete; the test SIGKILLs it at random moments and starts it again.

Usage: ``python group_driver.py <db_path> <side_file> <n_runs>``

The workflow (``COUNT``) has one node, ``step``, visited ``LAST`` times: each visit adds 1 to
``vars.i`` and plans an ANSWER_USER effect (a kernel effect), or every 5th visit an LLM_CALL (a host
effect, whose durable STARTED intent is written before the handler runs).  The handler appends
``<run_id> <i>`` to the side file (fsynced) before it returns: an external side effect.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from abstractruntime import Effect, EffectType, RunState, RunStatus, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.core.tick_many import tick_many
from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLedgerStore, SqliteRunStore

LAST = 40


def _step(run: RunState, ctx: Any) -> StepPlan:
    i = int(run.vars.get("i", 0)) + 1
    run.vars["i"] = i
    if i > LAST:
        return StepPlan(node_id="step", complete_output={"i": i - 1})
    kind = EffectType.LLM_CALL if i % 5 == 0 else EffectType.ANSWER_USER
    effect = Effect(kind, {"message": f"visit {i}", "prompt": f"visit {i}", "i": i}, result_key="last")
    return StepPlan(node_id="step", effect=effect, next_node="step")


COUNT = WorkflowSpec(workflow_id="group_count", entry_node="step", nodes={"step": _step})


def main(path: str, side: str, n_runs: int) -> int:
    """Create runs up to ``n_runs``, then drive them all to completion in groups."""

    def handler(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        with open(side, "a", encoding="utf-8") as log:
            log.write(f"{run.run_id} {effect.payload['i']}\n")
            log.flush()
            os.fsync(log.fileno())
        return EffectOutcome.completed({"i": effect.payload["i"]})

    db = SqliteDatabase(path)
    store = SqliteRunStore(db)
    runtime = Runtime(
        run_store=store, ledger_store=SqliteLedgerStore(db), effect_handlers={EffectType.LLM_CALL: handler}
    )
    run_ids = [row["run_id"] for row in store.list_run_index(limit=n_runs)]
    while len(run_ids) < n_runs:
        run_ids.append(runtime.start(workflow=COUNT))
    result = tick_many(runtime, COUNT, run_ids, max_steps=10 * LAST)
    ok = not result.errors and all(r.status == RunStatus.COMPLETED for r in result.runs.values())
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
