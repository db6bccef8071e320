"""A worker process for the PostgreSQL worker tests: ``python worker_main.py URL LOG CONCURRENCY TTL``.

The ``mixed`` workflow: a host effect that appends ``run_id`` to the side-effect log ``LOG`` (one line
per real execution), a short timer, then an event wait (even runs) or a user wait (odd runs), then done.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from abstractruntime.core.models import Effect, EffectType, RunState, StepPlan
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.core.runtime import Runtime
from abstractruntime.core.spec import RunContext, WorkflowSpec
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage.ledger_chain import HashChainedLedgerStore
from abstractruntime.storage.postgres.worker import PostgresWorker
from abstractruntime.storage.urls import Stores, open_stores


def mixed_flow() -> WorkflowSpec:
    def effect(run: RunState, ctx: RunContext) -> StepPlan:
        return StepPlan(
            node_id="effect", effect=Effect(EffectType.LLM_CALL, {"prompt": "x"}, "out"), next_node="timer"
        )

    def timer(run: RunState, ctx: RunContext) -> StepPlan:
        until = (datetime.now(timezone.utc) + timedelta(milliseconds=200)).isoformat()
        return StepPlan(
            node_id="timer", effect=Effect(EffectType.WAIT_UNTIL, {"until": until}), next_node="wait"
        )

    def wait(run: RunState, ctx: RunContext) -> StepPlan:
        if run.vars.get("mode") == "event":
            return StepPlan(
                node_id="wait", effect=Effect(EffectType.WAIT_EVENT, {"name": "go"}, "evt"), next_node="done"
            )
        return StepPlan(
            node_id="wait", effect=Effect(EffectType.ASK_USER, {"prompt": "ok?"}, "reply"), next_node="done"
        )

    def done(run: RunState, ctx: RunContext) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"ok": True})

    nodes = {"effect": effect, "timer": timer, "wait": wait, "done": done}
    return WorkflowSpec(workflow_id="mixed", entry_node="effect", nodes=nodes)


def slow_flow() -> WorkflowSpec:
    """One slow host effect (``vars.sleep_s``), then done with the effect's result as output."""

    def effect(run: RunState, ctx: RunContext) -> StepPlan:
        return StepPlan(
            node_id="effect", effect=Effect(EffectType.LLM_CALL, {"prompt": "x"}, "out"), next_node="done"
        )

    def done(run: RunState, ctx: RunContext) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"by": (run.vars.get("out") or {}).get("content")})

    return WorkflowSpec(workflow_id="slow", entry_node="effect", nodes={"effect": effect, "done": done})


def make_runtime_factory(log_path: str) -> Any:
    def side_effect(run: RunState, eff: Effect, default_next_node: str | None) -> EffectOutcome:
        with open(log_path, "a", encoding="utf-8") as log:  # O_APPEND: one whole line per write
            log.write(f"{os.getpid()} {run.run_id}\n")
        sleep_s = float(run.vars.get("sleep_s") or 0)
        if sleep_s:
            time.sleep(sleep_s)
        return EffectOutcome.completed({"content": str(os.getpid())})

    def make(stores: Stores) -> Runtime:
        ledger = HashChainedLedgerStore(stores.ledger_store)
        return Runtime(
            run_store=stores.run_store,
            ledger_store=ledger,
            effect_handlers={EffectType.LLM_CALL: side_effect},
        )

    return make


def main() -> None:
    url, log_path, concurrency, ttl = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    registry = WorkflowRegistry()
    registry.register(mixed_flow())
    registry.register(slow_flow())
    stores = open_stores(url)
    worker = PostgresWorker(
        stores,
        registry=registry,
        make_runtime=make_runtime_factory(log_path),
        concurrency=concurrency,
        ttl_s=ttl,
        poll_s=0.2,
    )
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    print(f"ready {os.getpid()}", flush=True)
    stats = worker.run()
    stores.close()
    print(
        f"stats runs_claimed={stats.runs_claimed} commands={stats.commands_applied} "
        f"fenced_out={stats.fenced_out} errors={len(stats.errors)}",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":
    main()
