"""Scheduler wake-up benchmark: prints figures, one JSON object per line; asserts no timings.

Usage::

    python benchmarks/scheduler.py [--quick] [--runs N] [--batch-size 100] [--backends memory,files,sqlite_full]

N runs (10,000; ``--quick``: 1,000) are parked on a WAIT_UNTIL timer whose deadline is the same instant
for all of them, 60 s ahead of a :class:`~abstractruntime.testing.FakeClock`.  The clock is then moved
past the deadline and ``Scheduler.poll_once()`` is called until every run has been woken (one cycle
drains every due timer, ``batch_size`` runs per ``list_due_wait_until`` query).  Each woken run ticks
to completion inside the cycle.

Figures per backend (``memory://`` and ``sqlite:///…`` with ``synchronous=FULL`` by default; ``file://…``
on request; all via ``open_stores``):

* ``park_per_s`` — start + tick to the WAIT_UNTIL wait (setup, for scale).
* ``wakeups_per_s`` — runs woken and completed per second of real time, from the moment the clock is
  advanced past the deadline to the last run's resume.
* ``delay_ms_p50`` / ``delay_ms_p95`` / ``delay_ms_max`` — per run, the real time from that moment to
  the scheduler's ``on_run_resumed`` callback for the run.
* ``poll_cycles``, ``due_queries`` — how many cycles and ``list_due_wait_until`` queries it took.

Standard library only; runs from a checkout without installing.
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))

from abstractruntime import Effect, EffectType, RunState, RunStatus, Runtime, StepPlan, WorkflowSpec  # noqa: E402
from abstractruntime.scheduler import Scheduler, WorkflowRegistry  # noqa: E402
from abstractruntime.storage.urls import open_stores  # noqa: E402
from abstractruntime.testing import FakeClock  # noqa: E402

ALL_BACKENDS = ("memory", "files", "sqlite_full")
DEFAULT_BACKENDS = ("memory", "sqlite_full")
FULL_RUNS = 10_000
QUICK_RUNS = 1_000
DEADLINE_AHEAD_S = 60


def emit(bench: str, backend: str, **figures: Any) -> None:
    """Print one JSON line: bench, backend, figures, then the Python and SQLite versions."""
    line = {"bench": bench, "backend": backend, **figures}
    line["python"] = sys.version.split()[0]
    line["sqlite"] = sqlite3.sqlite_version
    print(json.dumps(line), flush=True)


def store_url(backend: str, directory: str) -> str:
    """The ``open_stores`` URL of ``backend`` inside ``directory`` (an absolute path)."""
    if backend == "memory":
        return "memory://"
    if backend == "files":
        return f"file://{directory}/store"
    if backend == "sqlite_full":
        return f"sqlite:///{directory}/runtime.db"
    raise ValueError(f"unknown backend {backend!r}")


def timer_flow(deadline_iso: str) -> WorkflowSpec:
    """``wait`` (WAIT_UNTIL ``deadline_iso``) then ``done`` (complete)."""

    def wait(run: RunState, ctx: Any) -> StepPlan:
        effect = Effect(type=EffectType.WAIT_UNTIL, payload={"until": deadline_iso})
        return StepPlan(node_id="wait", effect=effect, next_node="done")

    def done(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"ok": True})

    return WorkflowSpec(workflow_id="timer", entry_node="wait", nodes={"wait": wait, "done": done})


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, round(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def counted(method: Callable[..., Any], counter: list[int]) -> Callable[..., Any]:
    """Wrap ``method`` so each call bumps ``counter[0]``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return method(*args, **kwargs)

    return wrapper


def bench_backend(backend: str, runs: int, batch_size: int) -> None:
    """Park ``runs`` timers on ``backend``, advance the clock past them and time the wake-ups."""
    with tempfile.TemporaryDirectory(prefix="ar-sched-bench-") as directory:
        stores = open_stores(store_url(backend, directory))
        try:
            clock = FakeClock()
            deadline = clock.now() + timedelta(seconds=DEADLINE_AHEAD_S)
            flow = timer_flow(deadline.isoformat())
            runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store, clock=clock)
            registry = WorkflowRegistry()
            registry.register(flow)
            resumed_at: dict[str, float] = {}
            duplicates = [0]

            def on_resumed(state: RunState) -> None:
                if state.run_id in resumed_at:
                    duplicates[0] += 1
                resumed_at[state.run_id] = time.perf_counter()

            scheduler = Scheduler(
                runtime=runtime, registry=registry, on_run_resumed=on_resumed, batch_size=batch_size
            )
            queries = [0]
            store: Any = stores.run_store
            store.list_due_wait_until = counted(store.list_due_wait_until, queries)

            t_park = time.perf_counter()
            for _ in range(runs):
                run_id = runtime.start(workflow=flow)
                if runtime.tick(workflow=flow, run_id=run_id).status != RunStatus.WAITING:
                    raise SystemExit("a run did not park on its timer")
            park_s = time.perf_counter() - t_park
            if scheduler.poll_once() != 0:
                raise SystemExit("a timer fired before its deadline")
            queries[0] = 0
            gc.collect()

            clock.advance(DEADLINE_AHEAD_S + 1)
            if clock.now() <= deadline:
                raise SystemExit("the clock did not pass the deadline")
            t0 = time.perf_counter()
            cycles = 0
            while len(resumed_at) < runs and cycles < runs + 10:
                scheduler.poll_once()
                cycles += 1
            wake_s = max(resumed_at.values()) - t0 if resumed_at else 0.0

            stats = scheduler.stats
            if len(resumed_at) != runs or duplicates[0] or stats.runs_failed:
                raise SystemExit(
                    f"woke {len(resumed_at)}/{runs}, {duplicates[0]} twice, {stats.runs_failed} failed"
                )
            delays = sorted((t - t0) * 1000 for t in resumed_at.values())
            emit(
                "scheduler-wake",
                backend,
                runs=runs,
                batch_size=batch_size,
                park_per_s=round(runs / park_s, 1),
                wakeups_per_s=round(runs / wake_s, 1),
                wake_s=round(wake_s, 3),
                delay_ms_p50=round(statistics.median(delays), 2),
                delay_ms_p95=round(percentile(delays, 95), 2),
                delay_ms_max=round(delays[-1], 2),
                poll_cycles=cycles,
                due_queries=queries[0],
            )
        finally:
            stores.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the benchmark on each backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RUNS:,} runs instead of {FULL_RUNS:,}")
    parser.add_argument("--runs", type=int, default=None, help="number of parked runs (overrides --quick)")
    parser.add_argument("--batch-size", type=int, default=100, help="Scheduler batch_size (default 100)")
    parser.add_argument(
        "--backends",
        default=",".join(DEFAULT_BACKENDS),
        help="any of memory,files,sqlite_full (default memory,sqlite_full)",
    )
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (QUICK_RUNS if args.quick else FULL_RUNS)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for backend in backends:
        if backend not in ALL_BACKENDS:
            parser.error(f"unknown backend {backend!r}; choose from {', '.join(ALL_BACKENDS)}")
    for backend in backends:
        bench_backend(backend, runs, args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
