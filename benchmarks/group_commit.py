"""GROUP workload: durable steps/s with 1, 8 and 64 runs in flight on one SQLite file, and WAL volume
per step (``python benchmarks/run.py --only GROUP``, or this file on its own).

* ``GROUP-steps`` — W1's linear flow of 10 ANSWER_USER steps (a kernel effect) driven by
  ``abstractruntime.core.tick_many.tick_many``: ``N`` runs advance one step per turn, each turn one
  ``group_commit()`` (one ``COMMIT``).  ``N = 1`` is one commit per step.  Also run without groups
  (``grouped: false``: ``Runtime.tick`` run after run) as the reference.  Figures: ``steps_per_s``
  (median of rounds), ``cpu_us_per_step`` (this process's CPU time: what is left when the disk is
  free), ``commits_per_step``.
* ``GROUP-wal`` — WAL bytes and frames (pages) appended per step, with the automatic checkpoint off,
  single commits and groups of 64; the same for W3's self-looping node at trace length 100+
  (the case where the v3 shape rewrote the whole trace every step).

Standard library only; figures are printed, nothing is asserted.
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec  # noqa: E402
from abstractruntime.core.tick_many import tick_many  # noqa: E402
from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLedgerStore, SqliteRunStore  # noqa: E402

STEPS = 10
IN_FLIGHT = (1, 8, 64)
WAL_HEADER, FRAME_HEADER, PAGE = 32, 24, 4096
Emit = Callable[..., Any]


def _linear() -> WorkflowSpec:
    def make(index: int) -> Callable[..., StepPlan]:
        def node(run: Any, ctx: Any) -> StepPlan:
            nxt = f"n{index + 1}" if index + 1 < STEPS else None
            effect = Effect(EffectType.ANSWER_USER, {"message": f"step {index}"})
            if nxt is None:
                return StepPlan(node_id=f"n{index}", effect=effect, complete_output={"done": True})
            return StepPlan(node_id=f"n{index}", effect=effect, next_node=nxt)

        return node

    return WorkflowSpec(
        workflow_id="group_linear", entry_node="n0", nodes={f"n{i}": make(i) for i in range(STEPS)}
    )


def _loop() -> WorkflowSpec:
    def loop(run: Any, ctx: Any) -> StepPlan:
        i = int(run.vars.get("i", 0)) + 1
        run.vars["i"] = i
        return StepPlan(
            node_id="loop", effect=Effect(EffectType.ANSWER_USER, {"message": f"visit {i}"}), next_node="loop"
        )

    return WorkflowSpec(workflow_id="group_loop", entry_node="loop", nodes={"loop": loop})


def _runtime(tmp: str, sync: str) -> tuple[Runtime, SqliteDatabase]:
    db = SqliteDatabase(os.path.join(tmp, "runtime.db"), synchronous=sync)
    return Runtime(run_store=SqliteRunStore(db), ledger_store=SqliteLedgerStore(db)), db


def _steps_per_s(sync: str, in_flight: int, grouped: bool, total_runs: int) -> tuple[float, float]:
    """(durable steps per second of wall time, CPU µs of this process per step)."""
    flow = _linear()
    with tempfile.TemporaryDirectory(prefix="ar-group-") as tmp:
        runtime, db = _runtime(tmp, sync)
        try:
            ids = [runtime.start(workflow=flow) for _ in range(total_runs)]
            gc.collect()
            began, cpu = time.perf_counter(), time.process_time()
            for first in range(0, total_runs, in_flight):
                batch = ids[first : first + in_flight]
                if grouped:
                    tick_many(runtime, flow, batch, max_steps=STEPS + 1)
                else:
                    for run_id in batch:
                        runtime.tick(workflow=flow, run_id=run_id, max_steps=STEPS + 1)
            steps = total_runs * STEPS
            return steps / (time.perf_counter() - began), (time.process_time() - cpu) * 1e6 / steps
        finally:
            db.close()


def _wal_per_step(
    flow: WorkflowSpec, runs: int, warm_steps: int, steps: int, in_flight: int
) -> tuple[float, float]:
    """(bytes, frames) appended to the WAL per step over ``steps`` steps of each run."""
    with tempfile.TemporaryDirectory(prefix="ar-group-") as tmp:
        runtime, db = _runtime(tmp, "FULL")
        try:
            ids = [runtime.start(workflow=flow) for _ in range(runs)]
            if warm_steps:
                tick_many(runtime, flow, ids, max_steps=warm_steps, steps_per_turn=warm_steps)
            db.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.connection().execute("PRAGMA wal_autocheckpoint=0")
            wal = Path(tmp) / "runtime.db-wal"
            before = wal.stat().st_size if wal.exists() else 0
            for first in range(0, runs, in_flight):
                batch = ids[first : first + in_flight]
                if in_flight == 1:
                    for _ in range(steps):
                        runtime.tick(workflow=flow, run_id=batch[0], max_steps=1)
                else:
                    tick_many(runtime, flow, batch, max_steps=steps)
            grown = wal.stat().st_size - max(before, WAL_HEADER)
            done = runs * steps
            return grown / done, grown / (PAGE + FRAME_HEADER) / done
        finally:
            db.close()


def bench_group(backends: list[str], quick: bool, emit: Emit) -> None:
    """Print the GROUP-steps and GROUP-wal lines for the SQLite backends among ``backends``."""
    syncs = [s for b, s in (("sqlite_full", "FULL"), ("sqlite_normal", "NORMAL")) if b in backends] or [
        "FULL"
    ]
    total, rounds = (64, 1) if quick else (256, 3)
    for sync in syncs:
        for grouped in (False, True):
            for in_flight in IN_FLIGHT:
                measured = [_steps_per_s(sync, in_flight, grouped, total) for _ in range(rounds)]
                rates = [rate for rate, _cpu in measured]
                rate = statistics.median(rates)
                emit(
                    "GROUP-steps",
                    f"sqlite_{sync.lower()}",
                    grouped=grouped,
                    in_flight=in_flight,
                    runs=total * rounds,
                    steps_per_s=round(rate, 1),
                    steps_per_s_min=round(min(rates), 1),
                    steps_per_s_max=round(max(rates), 1),
                    us_per_step=round(1e6 / rate, 1),
                    cpu_us_per_step=round(statistics.median(cpu for _rate, cpu in measured), 1),
                    commits_per_step=round((1 if not grouped else 1 / in_flight), 4),
                )
    cases = (
        ("linear, one commit per step", _linear(), 16, 0, STEPS, 1),
        ("linear, groups of 64", _linear(), 64, 0, STEPS, 64),
        ("loop at trace length 100+, one commit per step", _loop(), 1, 150, 100 if not quick else 20, 1),
    )
    for label, flow, runs, warm, steps, in_flight in cases:
        per_byte, per_frame = _wal_per_step(flow, runs, warm, steps, in_flight)
        emit(
            "GROUP-wal",
            "sqlite_full",
            case=label,
            wal_bytes_per_step=round(per_byte),
            wal_frames_per_step=round(per_frame, 2),
        )


def _emit(bench: str, backend: str, **figures: Any) -> None:
    print(
        json.dumps({"bench": bench, "backend": backend, **figures, "sqlite": sqlite3.sqlite_version}),
        flush=True,
    )


if __name__ == "__main__":
    bench_group(["sqlite_full"], "--quick" in sys.argv, _emit)
