"""Portable workloads W1, W2, W4, W5: one JSON line per call, on any SPEC-compatible implementation.

Written against the documented public API only (SPEC §1, §4, §7, §8): ``from abstractruntime import
Runtime, ...``, the store classes of §7.2 to §7.4, ``WorkflowRegistry`` and ``Scheduler``.  No import of
this checkout's private modules, so ``benchmarks/compare.py`` can run the same file under another
interpreter that has another implementation installed (e.g. ``abstractruntime==0.4.20``).

Usage::

    python benchmarks/workloads.py W4 sqlite_full [--quick]

Workloads (figures; see docs/performance.md):

* ``W1`` — 10-node linear runs, each node one ANSWER_USER effect step: ``steps_per_s``.
* ``W2`` — N runs parked on ASK_USER; fresh stores over the same files (a restart) resume them all:
  ``starts_per_s``, ``resumes_per_s``.
* ``W4`` — event fan-out: N runs wait on one global event; one emitter run's EMIT_EVENT (``max_steps``
  0) resumes them all (``wakes_per_s``), then the host ticks them to completion (``completes_per_s``
  counts emit + ticks).  ``W4-external`` does the same through ``Scheduler.emit_event`` (listeners
  resumed and ticked to completion: ``wakes_per_s``).  Every listener is checked resumed exactly once.
* ``W5`` — one run of 800 effect steps: ``steps_per_s`` and ``flatness`` (µs/step of the last 100
  steps over the first 100).

Backends: ``memory``, ``files`` (JsonFileRunStore + JsonlLedgerStore), ``sqlite_full`` and
``sqlite_normal`` (``SqliteDatabase`` with ``PRAGMA synchronous`` set on its connection; the value in
force is reported as ``synchronous``).  The whole process is one workload, so timings of one backend
never carry garbage from another.  Standard library only besides ``abstractruntime``.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from abstractruntime import (
    Effect,
    EffectType,
    InMemoryLedgerStore,
    InMemoryRunStore,
    JsonFileRunStore,
    JsonlLedgerStore,
    RunStatus,
    Runtime,
    Scheduler,
    SqliteDatabase,
    SqliteLedgerStore,
    SqliteRunStore,
    StepPlan,
    WorkflowRegistry,
    WorkflowSpec,
)

WORKLOADS = ("W1", "W2", "W4", "W4-external", "W5")
BACKENDS = ("memory", "files", "sqlite_full", "sqlite_normal")
EVENT_NAME = "go"
Node = Callable[[Any, Any], StepPlan]


class Stores:
    """A run store and a ledger store opened for ``backend`` under ``directory``."""

    def __init__(self, backend: str, directory: str, *, memory: tuple[Any, Any] | None = None) -> None:
        self.db: Any = None
        self.synchronous: str | None = None
        if backend == "memory":
            self.run_store, self.ledger_store = memory or (InMemoryRunStore(), InMemoryLedgerStore())
        elif backend == "files":
            self.run_store = JsonFileRunStore(str(Path(directory) / "store"))
            self.ledger_store = JsonlLedgerStore(str(Path(directory) / "store"))
        elif backend in ("sqlite_full", "sqlite_normal"):
            mode = "FULL" if backend == "sqlite_full" else "NORMAL"
            self.db = SqliteDatabase(str(Path(directory) / "runtime.db"))
            conn = self.db.connection()  # one thread: this is the connection every store call uses
            conn.execute(f"PRAGMA synchronous={mode}")
            level = conn.execute("PRAGMA synchronous").fetchone()[0]
            self.synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(int(level), str(level))
            self.run_store = SqliteRunStore(self.db)
            self.ledger_store = SqliteLedgerStore(self.db)
        else:
            raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")

    def close(self) -> None:
        """Close the SQLite connections (other backends hold nothing open)."""
        close = getattr(self.db, "close", None)
        if callable(close):
            close()


def _effect_node(node_id: str, effect: Effect, next_node: str | None) -> Node:
    def node(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(node_id=node_id, effect=effect, next_node=next_node)

    return node


def _done(run: Any, ctx: Any) -> StepPlan:
    return StepPlan(node_id="done", complete_output={"ok": True})


# -- W1 ---------------------------------------------------------------------------------------------
def w1(stores: Stores, quick: bool) -> dict[str, Any]:
    """Linear 10-node runs: steps/s over ``runs`` runs after a warm-up."""
    nodes = {
        f"s{i}": _effect_node(
            f"s{i}",
            Effect(type=EffectType.ANSWER_USER, payload={"message": f"step {i}"}, result_key="last"),
            f"s{i + 1}" if i < 9 else None,
        )
        for i in range(10)
    }
    flow = WorkflowSpec(workflow_id="linear", entry_node="s0", nodes=nodes)
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
    runs = 40 if quick else 300

    def one() -> None:
        state = runtime.tick(workflow=flow, run_id=runtime.start(workflow=flow), max_steps=100)
        if state.status != RunStatus.COMPLETED:
            raise RuntimeError(f"W1 run ended {state.status}: {state.error}")

    for _ in range(10):
        one()
    gc.collect()
    began = time.perf_counter()
    for _ in range(runs):
        one()
    return {"runs": runs, "steps_per_s": round(runs * 10 / (time.perf_counter() - began), 1)}


# -- W2 ---------------------------------------------------------------------------------------------
def _ask_flow() -> WorkflowSpec:
    ask = _effect_node(
        "ask", Effect(type=EffectType.ASK_USER, payload={"prompt": "Ship it?"}, result_key="reply"), "done"
    )
    return WorkflowSpec(workflow_id="ask", entry_node="ask", nodes={"ask": ask, "done": _done})


def w2(stores: Stores, backend: str, directory: str, quick: bool) -> tuple[dict[str, Any], Stores]:
    """Park ``runs`` runs on ASK_USER, reopen the stores, resume them all."""
    flow = _ask_flow()
    runs = 200 if quick else 2000
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
    keys: list[tuple[str, str]] = []
    began = time.perf_counter()
    for _ in range(runs):
        run_id = runtime.start(workflow=flow)
        state = runtime.tick(workflow=flow, run_id=run_id)
        if state.status != RunStatus.WAITING or state.waiting is None:
            raise RuntimeError(f"W2 run did not park: {state.status} {state.error}")
        keys.append((run_id, str(state.waiting.wait_key)))
    start_s = time.perf_counter() - began
    memory = (stores.run_store, stores.ledger_store)
    stores.close()
    stores = Stores(backend, directory, memory=memory)  # the restart (memory: nothing survives, reuse)
    del runtime
    gc.collect()
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
    began = time.perf_counter()
    for run_id, wait_key in keys:
        state = runtime.resume(workflow=flow, run_id=run_id, wait_key=wait_key, payload={"text": "yes"})
        if state.status != RunStatus.COMPLETED:
            raise RuntimeError(f"W2 resume did not complete: {state.status} {state.error}")
    resume_s = time.perf_counter() - began
    return {
        "runs": runs,
        "starts_per_s": round(runs / start_s, 1),
        "resumes_per_s": round(runs / resume_s, 1),
    }, stores


# -- W4 ---------------------------------------------------------------------------------------------
def _fanout_setup(
    stores: Stores, listeners: int
) -> tuple[Runtime, WorkflowRegistry, WorkflowSpec, list[str]]:
    wait = _effect_node(
        "wait",
        Effect(
            type=EffectType.WAIT_EVENT,
            payload={"scope": "global", "name": EVENT_NAME, "resume_to_node": "done"},
            result_key="event",
        ),
        "done",
    )
    listener = WorkflowSpec(workflow_id="listener", entry_node="wait", nodes={"wait": wait, "done": _done})
    emit = _effect_node(
        "emit",
        Effect(
            type=EffectType.EMIT_EVENT,
            payload={"scope": "global", "name": EVENT_NAME, "payload": {"n": 1}, "max_steps": 0},
            result_key="report",
        ),
        "done",
    )
    emitter = WorkflowSpec(workflow_id="emitter", entry_node="emit", nodes={"emit": emit, "done": _done})
    registry = WorkflowRegistry()
    registry.register(listener)
    registry.register(emitter)
    runtime = Runtime(
        run_store=stores.run_store, ledger_store=stores.ledger_store, workflow_registry=registry
    )
    ids = []
    for _ in range(listeners):
        run_id = runtime.start(workflow=listener)
        if runtime.tick(workflow=listener, run_id=run_id).status != RunStatus.WAITING:
            raise RuntimeError("W4 listener did not park")
        ids.append(run_id)
    return runtime, registry, listener, ids


def _check_resumed_once(runtime: Runtime, ids: list[str]) -> None:
    for run_id in ids:
        resumes = [
            r
            for r in runtime.get_ledger(run_id)
            if isinstance(r.get("effect"), dict) and r["effect"].get("type") == "resume"
        ]
        state = runtime.get_state(run_id)
        if len(resumes) != 1 or state.status != RunStatus.COMPLETED or not state.vars.get("event"):
            raise RuntimeError(f"W4 listener {run_id}: {len(resumes)} resumes, status {state.status}")


def w4(stores: Stores, quick: bool) -> dict[str, Any]:
    """One EMIT_EVENT to ``listeners`` waiting runs; then the host ticks them to completion."""
    listeners = 200 if quick else 1000
    runtime, registry, listener, ids = _fanout_setup(stores, listeners)
    emitter = registry.get("emitter")
    gc.collect()
    began = time.perf_counter()
    emitter_id = runtime.start(workflow=emitter)
    state = runtime.tick(workflow=emitter, run_id=emitter_id)
    woken_s = time.perf_counter() - began
    report = state.vars.get("report") or {}
    if state.status != RunStatus.COMPLETED or report.get("delivered") != listeners:
        raise RuntimeError(f"W4 emit delivered {report.get('delivered')} of {listeners}: {state.error}")
    for run_id in ids:
        runtime.tick(workflow=listener, run_id=run_id)
    completed_s = time.perf_counter() - began
    _check_resumed_once(runtime, ids)
    return {
        "listeners": listeners,
        "wakes_per_s": round(listeners / woken_s, 1),
        "completes_per_s": round(listeners / completed_s, 1),
    }


def w4_external(stores: Stores, quick: bool) -> dict[str, Any]:
    """``Scheduler.emit_event`` (not started: no polling thread) resumes and ticks every listener."""
    listeners = 200 if quick else 1000
    runtime, registry, _listener, ids = _fanout_setup(stores, listeners)
    scheduler = Scheduler(runtime=runtime, registry=registry)
    gc.collect()
    began = time.perf_counter()
    states = scheduler.emit_event(name=EVENT_NAME, payload={"n": 1}, scope="global")
    elapsed = time.perf_counter() - began
    if len(states) != listeners:
        raise RuntimeError(f"W4-external resumed {len(states)} of {listeners}")
    _check_resumed_once(runtime, ids)
    return {"listeners": listeners, "wakes_per_s": round(listeners / elapsed, 1)}


# -- W5 ---------------------------------------------------------------------------------------------
def w5(stores: Stores, quick: bool) -> dict[str, Any]:
    """One run of ``total`` ANSWER_USER steps (a fresh payload each), timed in windows of 100."""
    total, window = (300, 100) if quick else (800, 100)

    def loop(run: Any, ctx: Any) -> StepPlan:
        pad = run.vars["scratchpad"]
        i = pad["i"]
        if i >= total:
            return StepPlan(node_id="loop", complete_output={"steps": i})
        pad["i"] = i + 1
        effect = Effect(type=EffectType.ANSWER_USER, payload={"message": "tick", "i": i})
        return StepPlan(node_id="loop", effect=effect, next_node="loop")

    flow = WorkflowSpec(workflow_id="w5", entry_node="loop", nodes={"loop": loop})
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
    run_id = runtime.start(workflow=flow, vars={"scratchpad": {"i": 0}})
    gc.collect()
    windows = []
    began = time.perf_counter()
    for _ in range(total // window):
        at = time.perf_counter()
        runtime.tick(workflow=flow, run_id=run_id, max_steps=window)
        windows.append((time.perf_counter() - at) / window * 1e6)
    elapsed = time.perf_counter() - began
    state = runtime.tick(workflow=flow, run_id=run_id, max_steps=1)
    if state.status != RunStatus.COMPLETED or state.vars["scratchpad"]["i"] != total:
        raise RuntimeError(f"W5 run ended {state.status} at step {state.vars['scratchpad']['i']}")
    return {
        "steps": total,
        "steps_per_s": round(total / elapsed, 1),
        "us_per_step_windows": [round(w, 1) for w in windows],
        "flatness": round(windows[-1] / windows[0], 3),
    }


# -- entry point ------------------------------------------------------------------------------------
def run_workload(workload: str, backend: str, quick: bool) -> dict[str, Any]:
    """Run one workload on one backend in a fresh temporary directory; returns its figures."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r} (choose from {', '.join(WORKLOADS)})")
    with tempfile.TemporaryDirectory(prefix="ar-workload-") as tmp:
        stores = Stores(backend, tmp)
        try:
            if workload == "W2":
                figures, stores = w2(stores, backend, tmp, quick)
            else:
                run = {"W1": w1, "W4": w4, "W4-external": w4_external, "W5": w5}[workload]
                figures = run(stores, quick)
        finally:
            stores.close()
    if stores.synchronous is not None:
        figures["synchronous"] = stores.synchronous
    return figures


def implementation() -> dict[str, Any]:
    """Which ``abstractruntime`` this process runs: its version (metadata) and package directory."""
    import importlib.metadata

    import abstractruntime

    try:
        version = importlib.metadata.version("abstractruntime")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"version": version, "package": str(Path(abstractruntime.__file__).resolve().parent)}


def main(argv: list[str]) -> int:
    """``workloads.py WORKLOAD BACKEND [--quick]``: print one JSON line with the figures."""
    args = [a for a in argv if a != "--quick"]
    if len(args) != 2:
        sys.stderr.write(
            f"usage: workloads.py {{{','.join(WORKLOADS)}}} {{{','.join(BACKENDS)}}} [--quick]\n"
        )
        return 2
    workload, backend = args
    figures = run_workload(workload, backend, "--quick" in argv)
    line = {"bench": workload, "backend": backend, **figures, "impl": implementation()}
    line["python"] = sys.version.split()[0]
    line["sqlite"] = sqlite3.sqlite_version
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
