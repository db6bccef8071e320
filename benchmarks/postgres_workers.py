"""Durable steps per second with 1, 2 and 4 PostgreSQL worker processes (``docs/scaling.md``).

    python benchmarks/postgres_workers.py [--url postgresql://postgres@127.0.0.1:5432/test]
                                          [--runs 200] [--steps 10] [--workers 1,2,4] [--concurrency 1]

For each worker count: a fresh schema, ``runs`` RUNNING runs of a ``steps``-node workflow (each node one
committed step: ledger records + run row in one transaction, fenced by the worker's lease), then that
many worker processes (``--concurrency`` threads each) drive them all to completion.  Prints one JSON
line per worker count: ``{"bench": "PG-WORKERS", "workers", "runs", "steps", "seconds", "steps_per_s"}``.
Run it on an otherwise idle machine; the figure is bounded by the server's commit latency and the cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from abstractruntime.core.models import RunState, StepPlan
from abstractruntime.core.runtime import Runtime
from abstractruntime.core.spec import RunContext, WorkflowSpec
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage.urls import Stores, open_stores
from abstractruntime.testing.postgres import temporary_schema


def chain(steps: int) -> WorkflowSpec:
    """A workflow of ``steps`` nodes, each incrementing ``vars.n`` (one durable step each)."""

    def node(index: int) -> Any:
        def handler(run: RunState, ctx: RunContext) -> StepPlan:
            run.vars["n"] = int(run.vars.get("n", 0)) + 1
            if index + 1 == steps:
                return StepPlan(node_id=f"n{index}", complete_output={"n": run.vars["n"]})
            return StepPlan(node_id=f"n{index}", next_node=f"n{index + 1}")

        return handler

    return WorkflowSpec(workflow_id="chain", entry_node="n0", nodes={f"n{i}": node(i) for i in range(steps)})


def _worker(url: str, steps: int, concurrency: int, stop_at: float) -> None:
    from abstractruntime.storage.postgres.worker import PostgresWorker

    registry = WorkflowRegistry()
    registry.register(chain(steps))
    stores = open_stores(url)

    def make(s: Stores) -> Runtime:
        return Runtime(run_store=s.run_store, ledger_store=s.ledger_store)

    def finished() -> bool:
        with stores.database.connection() as conn:
            left = conn.execute("SELECT COUNT(*) FROM runs WHERE status <> 'completed'").fetchone()[0]
        return int(left) == 0 or time.time() > stop_at

    worker = PostgresWorker(
        stores, registry=registry, make_runtime=make, concurrency=concurrency, poll_s=0.05, max_steps=steps
    )
    worker.run(until=finished)
    stores.close()


def measure(base_url: str, *, workers: int, runs: int, steps: int, concurrency: int) -> dict[str, Any]:
    """Drive ``runs`` runs of ``steps`` steps with ``workers`` processes; returns the JSON figures."""
    with temporary_schema(base_url, prefix="ar_bench_") as url:
        stores = open_stores(url)
        runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
        flow = chain(steps)
        for _ in range(runs):
            runtime.start(workflow=flow)
        context = multiprocessing.get_context("spawn")
        started = time.perf_counter()
        procs = [
            context.Process(target=_worker, args=(url, steps, concurrency, time.time() + 600))
            for _ in range(workers)
        ]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        seconds = time.perf_counter() - started
        with stores.database.connection() as conn:
            done = int(conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'completed'").fetchone()[0])
        stores.close()
    return {
        "bench": "PG-WORKERS",
        "workers": workers,
        "concurrency": concurrency,
        "runs": runs,
        "completed": done,
        "steps": runs * steps,
        "seconds": round(seconds, 3),
        "steps_per_s": round(runs * steps / seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    for count in [int(w) for w in args.workers.split(",")]:
        figures = measure(
            args.url, workers=count, runs=args.runs, steps=args.steps, concurrency=args.concurrency
        )
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
