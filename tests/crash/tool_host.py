"""A tool-calling workflow for the in-doubt SIGKILL test (``test_tool_in_doubt_sigkill.py``).

Usage: ``python tool_host.py <store_url> <side_log> <run_id_file>`` starts one run and drives it.  The
run's only step is a TOOL_CALLS batch of two calls: ``lookup`` (declared idempotent) and ``charge``
(not).  Each tool appends ``<tool> <pid>`` to ``side_log`` (``os.write`` + ``fsync``) when it runs;
``charge`` then sleeps ``$CHARGE_SLEEP_S`` seconds, so the test can SIGKILL the driver inside it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from abstractruntime import Effect, EffectType, RunState, Runtime, StepPlan, WorkflowSpec
from abstractruntime.integrations.abstractcore.tool_executor import MappingToolExecutor
from abstractruntime.integrations.abstractcore.tool_handler import make_tool_calls_handler
from abstractruntime.storage.urls import Stores, open_stores

CALLS = [
    {"id": "c-lookup", "name": "lookup", "arguments": {"order": 7}},
    {"id": "c-charge", "name": "charge", "arguments": {"order": 7, "cents": 1200}},
]


def workflow() -> WorkflowSpec:
    def pay(run: RunState, ctx: Any) -> StepPlan:
        effect = Effect(EffectType.TOOL_CALLS, {"tool_calls": CALLS}, result_key="paid")
        return StepPlan(node_id="pay", effect=effect, next_node="done")

    def done(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"paid": run.vars["paid"]})

    return WorkflowSpec(workflow_id="in_doubt", entry_node="pay", nodes={"pay": pay, "done": done})


def _log(side_log: Path, line: str) -> None:
    fd = os.open(side_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{line} {os.getpid()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def executor(side_log: Path) -> MappingToolExecutor:
    def lookup(order: int) -> dict[str, Any]:
        _log(side_log, "lookup")
        return {"order": order, "total": 1200}

    def charge(order: int, cents: int) -> str:
        _log(side_log, "charge")
        time.sleep(float(os.environ.get("CHARGE_SLEEP_S", "0") or 0))
        return f"charged {cents} for order {order}"

    return MappingToolExecutor({"lookup": lookup, "charge": charge}, idempotent_tools={"lookup"})


def runtime(stores: Stores, side_log: Path) -> Runtime:
    tools = executor(side_log)
    rt = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        lease_store=stores.lease_store,
        lease_ttl_s=1.0,
        effect_handlers={EffectType.TOOL_CALLS: make_tool_calls_handler(tools=tools)},
    )
    rt.set_tool_executor_for_resume(tools)
    return rt


def main(url: str, side_log: str, run_id_file: str) -> int:
    stores = open_stores(url)
    rt = runtime(stores, Path(side_log))
    wf = workflow()
    run_id = rt.start(workflow=wf)
    Path(run_id_file).write_text(run_id, encoding="utf-8")
    rt.tick(workflow=wf, run_id=run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
