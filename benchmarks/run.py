"""AbstractRuntime benchmark harness: prints figures, one JSON object per line; asserts no timings.

Usage::

    python benchmarks/run.py [--quick] [--only W1,W2,W3,CEILING] [--backends memory,files,sqlite_full,sqlite_normal]

Workloads (see docs/performance.md):

* ``W1`` — linear workflows of 10 effect steps; steps/s per backend, twice: ``W1-kernel-effect``
  (ANSWER_USER, no intent record) and ``W1-host-effect`` (a host LLM_CALL handler, durable intent).
* ``W2`` — N runs parked on ASK_USER, then a fresh Runtime over freshly opened stores resumes all of
  them: starts/s, resumes/s, bytes on disk per waiting run, peak RSS (one subprocess per backend).
* ``W3`` — one run of up to 5,000 effect steps; µs/step over the last 100 steps at each length.
* ``CEILING`` — bare ``INSERT`` + ``COMMIT`` loop on a fresh WAL database with the same pragmas.
* ``W4`` (event fan-out to 1,000 listeners: ``W4`` through EMIT_EVENT, ``W4-external`` through
  ``Scheduler.emit_event``) and ``W5`` (one run of 800 effect steps) — in ``benchmarks/workloads.py``
  (public API only), one subprocess per backend.  ``--compare PYTHON`` runs W1, W2, W4, W5 there and
  on another implementation, alternating (``benchmarks/compare.py``).

A ``{"bench": "ratio", ...}`` line compares W1-kernel-effect SQLite steps/s with the ceiling when
both ran.  Standard library only.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))

from abstractruntime import Effect, EffectType, RunStatus, Runtime, StepPlan, WorkflowSpec  # noqa: E402
from abstractruntime.core.runtime import EffectOutcome  # noqa: E402
from abstractruntime.storage.urls import Stores, open_stores  # noqa: E402

ALL_BENCHES = ("W1", "W2", "W3", "CEILING", "W4", "W5", "GROUP")
ALL_BACKENDS = ("memory", "files", "sqlite_full", "sqlite_normal")
W2_BACKENDS = ("memory", "files", "sqlite_full")
W3_BACKENDS = ("memory", "files", "sqlite_full")
SYNC_OF = {"sqlite_full": "FULL", "sqlite_normal": "NORMAL"}
W1_STEPS = 10
W3_WINDOW = 100
CEILING_TARGET = 0.70
FLATNESS_TARGET = 1.2


# -- plumbing -------------------------------------------------------------------------------------
def emit(bench: str, backend: str, **figures: Any) -> dict[str, Any]:
    """Print one JSON line: bench, backend, figures, then the Python and SQLite versions."""
    line = {"bench": bench, "backend": backend, **figures}
    line["python"] = sys.version.split()[0]
    line["sqlite"] = sqlite3.sqlite_version
    print(json.dumps(line), flush=True)
    return line


def store_url(backend: str, directory: str) -> str:
    """The ``open_stores`` URL of ``backend`` inside ``directory`` (an absolute path)."""
    if backend == "memory":
        return "memory://"
    if backend == "files":
        return f"file://{directory}/store"
    if backend == "sqlite_full":
        return f"sqlite:///{directory}/runtime.db"
    if backend == "sqlite_normal":
        return f"sqlite:///{directory}/runtime.db?synchronous=NORMAL"
    raise ValueError(f"unknown backend {backend!r}")


def disk_usage(directory: str) -> tuple[int, int, int]:
    """(apparent bytes, allocated bytes, file count) of every file under ``directory``."""
    apparent = allocated = count = 0
    for base, _dirs, files in os.walk(directory):
        for name in files:
            try:
                st = os.stat(os.path.join(base, name))
            except FileNotFoundError:
                continue
            apparent += st.st_size
            allocated += st.st_blocks * 512
            count += 1
    return apparent, allocated, count


def proc_status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmHWM``: this process image's own peak RSS), or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def r(value: float, digits: int = 1) -> float:
    return round(value, digits)


# -- W1: linear workflows of 10 effect steps -------------------------------------------------------
def linear_workflow(effect_type: EffectType) -> WorkflowSpec:
    """``s0 -> s1 -> … -> s9``: each node one effect step; the last is a terminal effect."""

    def make(index: int) -> Callable[..., StepPlan]:
        node_id = f"s{index}"
        next_node = f"s{index + 1}" if index + 1 < W1_STEPS else None
        if effect_type == EffectType.ANSWER_USER:
            payload: dict[str, Any] = {"message": f"step {index}"}
        else:
            payload = {"prompt": f"step {index}", "max_tokens": 16}

        def node(run: Any, ctx: Any) -> StepPlan:
            return StepPlan(
                node_id=node_id,
                effect=Effect(type=effect_type, payload=payload, result_key="last"),
                next_node=next_node,
            )

        return node

    nodes = {f"s{i}": make(i) for i in range(W1_STEPS)}
    return WorkflowSpec(workflow_id=f"linear-{effect_type.value}", entry_node="s0", nodes=nodes)


def fake_llm(run: Any, effect: Any, default_next_node: str | None) -> EffectOutcome:
    """A trivial host handler: no I/O, a small result."""
    return EffectOutcome.completed({"content": "ok", "usage": {"total_tokens": 3}})


def bench_w1(backends: list[str], quick: bool) -> dict[str, float]:
    """Print W1-kernel-effect / W1-host-effect lines; returns ``{label/backend: steps_per_s}``."""
    runs, rounds, warmup = (40, 1, 5) if quick else (200, 3, 20)
    found: dict[str, float] = {}
    variants = (
        ("W1-kernel-effect", EffectType.ANSWER_USER, None),
        ("W1-host-effect", EffectType.LLM_CALL, {EffectType.LLM_CALL: fake_llm}),
    )
    for label, effect_type, handlers in variants:
        flow = linear_workflow(effect_type)
        for backend in backends:
            with tempfile.TemporaryDirectory(prefix="ar-bench-") as tmp:
                stores = open_stores(store_url(backend, tmp))
                try:
                    runtime = Runtime(
                        run_store=stores.run_store, ledger_store=stores.ledger_store, effect_handlers=handlers
                    )
                    for _ in range(warmup):
                        _run_linear(runtime, flow)
                    rates = []
                    for _ in range(rounds):
                        gc.collect()  # a dropped Runtime is a reference cycle: collect it outside the timing
                        began = time.perf_counter()
                        for _ in range(runs):
                            _run_linear(runtime, flow)
                        rates.append(runs * W1_STEPS / (time.perf_counter() - began))
                finally:
                    stores.close()
            rate = statistics.median(rates)
            found[f"{label}/{backend}"] = rate
            emit(
                label,
                backend,
                runs=runs * rounds,
                steps_per_run=W1_STEPS,
                rounds=rounds,
                steps_per_s=r(rate),
                steps_per_s_min=r(min(rates)),
                steps_per_s_max=r(max(rates)),
                us_per_step=r(1e6 / rate),
            )
    return found


def _run_linear(runtime: Runtime, flow: WorkflowSpec) -> None:
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id, max_steps=100)
    if state.status != RunStatus.COMPLETED:
        raise RuntimeError(f"W1 run ended {state.status}: {state.error}")


# -- W2: park N runs on ASK_USER, restart, resume them all -----------------------------------------
def ask_workflow() -> WorkflowSpec:
    def ask(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(
            node_id="ask",
            effect=Effect(type=EffectType.ASK_USER, payload={"prompt": "Ship it?"}, result_key="reply"),
            next_node="finish",
        )

    def finish(run: Any, ctx: Any) -> StepPlan:
        reply = run.vars.get("reply") or {}
        return StepPlan(node_id="finish", complete_output={"shipped": reply.get("text") == "yes"})

    return WorkflowSpec(workflow_id="ask", entry_node="ask", nodes={"ask": ask, "finish": finish})


def bench_w2(backends: list[str], quick: bool) -> None:
    """One subprocess per backend, so peak RSS is per backend; relays the child's JSON line."""
    runs = 200 if quick else 2000
    for backend in backends:
        if backend not in W2_BACKENDS:
            continue
        child = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--w2-child", backend, "--w2-runs", str(runs)],
            check=False,
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:
            sys.stderr.write(child.stderr)
            raise RuntimeError(f"W2 child for {backend} exited {child.returncode}")
        for line in child.stdout.splitlines():
            if line.strip():
                print(line, flush=True)


def w2_child(backend: str, runs: int) -> None:
    """Runs inside the W2 subprocess: start+tick ``runs`` runs, measure, restart, resume them all."""
    flow = ask_workflow()
    rss_at_start = proc_status_kib("VmRSS")
    with tempfile.TemporaryDirectory(prefix="ar-bench-") as tmp:
        url = store_url(backend, tmp)
        stores = open_stores(url)
        runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
        run_ids = []
        began = time.perf_counter()
        for _ in range(runs):
            run_id = runtime.start(workflow=flow)
            state = runtime.tick(workflow=flow, run_id=run_id)
            if state.status != RunStatus.WAITING:
                raise RuntimeError(f"W2 run did not park: {state.status} {state.error}")
            run_ids.append(run_id)
        start_seconds = time.perf_counter() - began
        disk: dict[str, Any] = {}
        if backend != "memory":
            apparent, allocated, files = disk_usage(tmp)
            disk = {
                "bytes_per_waiting_run": r(apparent / runs),
                "allocated_bytes_per_waiting_run": r(allocated / runs),
                "files_on_disk": files,
            }
        if backend.startswith("sqlite"):
            db = Path(tmp) / "runtime.db"
            wal = Path(f"{db}-wal")
            disk["db_bytes"] = db.stat().st_size
            disk["wal_bytes"] = wal.stat().st_size if wal.exists() else 0
            disk["bytes_per_waiting_run"] = r((disk["db_bytes"] + disk["wal_bytes"]) / runs)
        # The restart: a fresh Runtime over freshly opened stores (memory: the same stores, as nothing
        # survives a process there).
        if backend != "memory":
            _close(stores)
            stores = open_stores(url)
        del runtime
        gc.collect()
        runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
        gc.collect()
        began = time.perf_counter()
        for run_id in run_ids:
            state = runtime.resume(
                workflow=flow, run_id=run_id, wait_key=f"user:{run_id}:ask", payload={"text": "yes"}
            )
            if state.status != RunStatus.COMPLETED:
                raise RuntimeError(f"W2 resume did not complete: {state.status} {state.error}")
        resume_seconds = time.perf_counter() - began
        _close(stores)
    emit(
        "W2",
        backend,
        runs=runs,
        starts_per_s=r(runs / start_seconds),
        resumes_per_s=r(runs / resume_seconds),
        **disk,
        peak_rss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        vm_hwm_kib=proc_status_kib("VmHWM"),
        rss_after_imports_kib=rss_at_start,
    )


def _close(stores: Stores) -> None:
    stores.close()
    locks = getattr(stores.run_store, "_locks", None)  # JsonFileRunStore's lock file descriptor
    if locks is not None:
        locks.close()


# -- W3: per-step cost as one run grows --------------------------------------------------------------
def loop_workflow(total: int, stamps: list[float]) -> WorkflowSpec:
    """One node looping on itself: every visit is an ANSWER_USER effect with a fresh payload."""

    def loop(run: Any, ctx: Any) -> StepPlan:
        scratchpad = run.vars["scratchpad"]
        i = scratchpad["i"]
        if i >= total:
            return StepPlan(node_id="loop", complete_output={"steps": i})
        scratchpad["i"] = i + 1
        stamps.append(time.perf_counter())
        return StepPlan(
            node_id="loop",
            effect=Effect(type=EffectType.ANSWER_USER, payload={"message": "tick", "i": i}),
            next_node="loop",
        )

    return WorkflowSpec(workflow_id="loop", entry_node="loop", nodes={"loop": loop})


def bench_w3(backends: list[str], quick: bool) -> None:
    """Median over ``repeats`` fresh runs (the disk's fsync latency drifts over seconds)."""
    lengths = (100, 500, 1000) if quick else (100, 1000, 5000)
    repeats = 1 if quick else 3
    for backend in backends:
        if backend not in W3_BACKENDS:
            continue
        samples = [_w3_once(backend, lengths) for _ in range(repeats)]
        means = [statistics.median(s["means"][i] for s in samples) for i in range(len(lengths))]
        medians = [statistics.median(s["medians"][i] for s in samples) for i in range(len(lengths))]
        emit(
            "W3",
            backend,
            lengths=list(lengths),
            window=W3_WINDOW,
            repeats=repeats,
            us_per_step=[r(m) for m in means],
            median_us_per_step=[r(m) for m in medians],
            ratio=r(means[-1] / means[0], 3),
            median_ratio=r(medians[-1] / medians[0], 3),
            target_ratio_max=FLATNESS_TARGET,
            ratio_last_to_middle=r(means[-1] / means[1], 3),
            us_per_step_each_run=[[r(m) for m in s["means"]] for s in samples],
            state_json_bytes_window_start_end=samples[-1]["state_bytes"],
            ledger_records=samples[-1]["ledger_records"],
        )


def _w3_once(backend: str, lengths: tuple[int, ...]) -> dict[str, Any]:
    """One run grown to ``lengths[-1]`` steps; times the last ``W3_WINDOW`` steps of each length."""
    stamps: list[float] = []
    flow = loop_workflow(lengths[-1], stamps)
    means: list[float] = []
    medians: list[float] = []
    state_bytes: list[list[int]] = []
    with tempfile.TemporaryDirectory(prefix="ar-bench-") as tmp:
        stores = open_stores(store_url(backend, tmp))
        try:
            runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
            run_id = runtime.start(workflow=flow, vars={"scratchpad": {"i": 0}})
            done = 0
            for length in lengths:
                window = min(W3_WINDOW, length)
                if length - window > done:
                    runtime.tick(workflow=flow, run_id=run_id, max_steps=length - window - done)
                    done = length - window
                before = len(json.dumps(runtime.get_state(run_id).to_dict()))
                gc.collect()  # garbage of earlier runs (Runtime objects are cycles) is not timed here
                stamps.clear()
                began = time.perf_counter()
                state = runtime.tick(workflow=flow, run_id=run_id, max_steps=window)
                elapsed = time.perf_counter() - began
                done = length
                if state.vars["scratchpad"]["i"] != length:
                    raise RuntimeError(f"W3 run at {state.vars['scratchpad']['i']} steps, not {length}")
                means.append(elapsed / window * 1e6)
                medians.append(statistics.median(b - a for a, b in itertools.pairwise(stamps)) * 1e6)
                after = len(json.dumps(runtime.get_state(run_id).to_dict()))
                state_bytes.append([before, after])
            ledger_records = len(runtime.get_ledger(run_id))
        finally:
            _close(stores)
    return {"means": means, "medians": medians, "state_bytes": state_bytes, "ledger_records": ledger_records}


# -- CEILING: bare INSERT + COMMIT -----------------------------------------------------------------
def bench_ceiling(backends: list[str], quick: bool) -> dict[str, float]:
    commits, rounds, warmup = (500, 1, 50) if quick else (3000, 3, 200)
    payload = "x" * 200
    found: dict[str, float] = {}
    for backend in backends:
        mode = SYNC_OF.get(backend)
        if mode is None:
            continue
        with tempfile.TemporaryDirectory(prefix="ar-bench-") as tmp:
            conn = sqlite3.connect(os.path.join(tmp, "ceiling.db"), isolation_level=None)
            try:
                conn.execute("PRAGMA busy_timeout=5000")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={mode}")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
                rates = []
                for n in [warmup] + [commits] * rounds:
                    gc.collect()
                    began = time.perf_counter()
                    for _ in range(n):
                        conn.execute("BEGIN IMMEDIATE")
                        conn.execute("INSERT INTO t (payload) VALUES (?)", (payload,))
                        conn.execute("COMMIT")
                    rates.append(n / (time.perf_counter() - began))
                rates = rates[1:]
            finally:
                conn.close()
        rate = statistics.median(rates)
        found[backend] = rate
        emit(
            "CEILING",
            backend,
            synchronous=mode,
            commits=commits * rounds,
            rounds=rounds,
            commits_per_s=r(rate),
            commits_per_s_min=r(min(rates)),
            commits_per_s_max=r(max(rates)),
            us_per_commit=r(1e6 / rate),
        )
    return found


# -- main ---------------------------------------------------------------------------------------------
def parse_list(text: str | None, allowed: tuple[str, ...], what: str) -> list[str]:
    if not text:
        return list(allowed)
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs and shorter runs (smoke test)")
    parser.add_argument("--only", help=f"comma-separated workloads ({','.join(ALL_BENCHES)})")
    parser.add_argument("--backends", help=f"comma-separated backends ({','.join(ALL_BACKENDS)})")
    parser.add_argument("--compare", help="another implementation's Python (or venv): see compare.py")
    parser.add_argument("--w2-child", help=argparse.SUPPRESS)
    parser.add_argument("--w2-runs", type=int, default=2000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.w2_child:
        w2_child(args.w2_child, args.w2_runs)
        return 0
    if args.compare:  # the portable workloads, side by side with another implementation
        import compare

        return compare.main(
            ["--compare", args.compare]
            + (["--quick"] if args.quick else [])
            + ([f"--only={args.only}"] if args.only else [])
            + ([f"--backends={args.backends}"] if args.backends else [])
        )
    benches = parse_list(args.only.upper() if args.only else None, ALL_BENCHES, "workload")
    backends = parse_list(args.backends, ALL_BACKENDS, "backend")
    ceiling: dict[str, float] = {}
    w1: dict[str, float] = {}
    if "W2" in benches:  # first: a child's ru_maxrss starts at the parent's RSS (kept across exec)
        bench_w2(backends, args.quick)
    if "CEILING" in benches:
        ceiling = bench_ceiling(backends, args.quick)
    if "W1" in benches:
        w1 = bench_w1(backends, args.quick)
    for backend, commits_per_s in ceiling.items():
        steps_per_s = w1.get(f"W1-kernel-effect/{backend}")
        if steps_per_s is not None:
            emit(
                "ratio",
                backend,
                of="W1-kernel-effect steps/s over CEILING commits/s",
                w1_steps_per_s=r(steps_per_s),
                ceiling_commits_per_s=r(commits_per_s),
                ratio=r(steps_per_s / commits_per_s, 3),
                target_ratio_min=CEILING_TARGET,
            )
    if "W3" in benches:
        bench_w3(backends, args.quick)
    if "GROUP" in benches:  # benchmarks/group_commit.py: tick_many with 1/8/64 runs in flight, WAL per step
        import group_commit

        group_commit.bench_group(backends, args.quick, emit)
    for bench in ("W4", "W5"):
        if bench in benches:
            import compare  # benchmarks/ is sys.path[0] when this file runs as a script

            for workload in ("W4", "W4-external") if bench == "W4" else ("W5",):
                for backend in backends:
                    line = compare.run_side(sys.executable, True, workload, backend, args.quick)
                    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
