"""Crash tests: a real driver process (``driver.py``) is SIGKILLed at random moments, many times.

After the kills the driver is run to completion, and the stores are reopened here with fresh objects
to check what "one commit per step" and the durable intent records promise (docs/concepts.md):

* no run is lost or left unreadable, and every run completes;
* every ledger is well-formed: records carry ``run_id``/``step_id``/``status`` and a ``step_id`` pairs
  one STARTED record with at most one end record;
* no effect whose completion was committed ran again: per idempotency key there is exactly one
  COMPLETED record and no STARTED record after it, and the side file (written by the handler itself)
  shows no more executions of a (run, node) than there are STARTED records of its key — every
  execution was preceded by a durable intent record.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import RunStatus
from abstractruntime.storage.urls import open_stores

DRIVER = Path(__file__).with_name("driver.py")
HOST_EFFECT_NODES = ("fetch", "lookup", "summarize", "notify")
HOST_EFFECT_TYPES = ("llm_call", "tool_calls")
N_RUNS = 200
KILLS = 22
FINAL_TIMEOUT_S = 60.0
REQUIRED_MID_WORK_KILLS = 5
EXTRA_KILLS = 20  # only used while no kill has yet landed inside an effect (rare)


@dataclass
class KillStats:
    launches: int = 0
    kills: int = 0
    mid_work: int = 0  # still running when killed, and it had executed effects in that life
    finished_early: int = 0
    delays: list[float] = field(default_factory=list)


def _url(backend: str, tmp_path: Path) -> str:
    if backend == "file":
        return (tmp_path / "store").as_uri()  # file:///abs/dir
    return f"sqlite:///{tmp_path / 'runs.db'}"  # sqlite:////abs/path.db


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _launch(url: str, side: Path, log: Path, seed: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, str(DRIVER), url, str(side), str(N_RUNS), seed],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _wait_for_work(proc: subprocess.Popen[bytes], side: Path, before: int, timeout: float) -> None:
    """Return once the driver has executed an effect in this life (or exited, or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and _size(side) <= before and time.monotonic() < deadline:
        time.sleep(0.005)


def _kill_repeatedly(
    url: str, side: Path, log: Path, rng: random.Random, *, stats: KillStats, kills: int
) -> KillStats:
    """SIGKILL a fresh driver ``kills`` times (fewer if the work runs out first).

    Most kills come a random moment after the driver started executing effects, whatever the speed
    of the machine; the others come a random moment after launch, so they may also land during
    interpreter start-up, store opening or run creation.
    """
    for _ in range(kills):
        if stats.finished_early:
            break
        before = _size(side)
        proc = _launch(url, side, log, f"seed-{stats.launches}")
        stats.launches += 1
        if rng.random() < 0.8:
            _wait_for_work(proc, side, before, timeout=10.0)
            delay = rng.uniform(0.0, 0.2)
        else:
            delay = rng.uniform(0.05, 0.4)
        stats.delays.append(delay)
        time.sleep(delay)
        alive = proc.poll() is None
        if alive:
            proc.send_signal(signal.SIGKILL)
        rc = proc.wait()
        if not alive:
            assert rc == 0, f"driver exited {rc} on its own:\n{log.read_text()}"
            stats.finished_early += 1
            break
        assert rc == -signal.SIGKILL
        stats.kills += 1
        if _size(side) > before:
            stats.mid_work += 1
    return stats


def _orphan_intents(url: str) -> int:
    """STARTED records without an end record: each one is a kill that landed inside an effect step."""
    stores = open_stores(url)
    try:
        orphans = 0
        for run in stores.run_store.list_runs(limit=N_RUNS * 10):  # type: ignore[attr-defined]
            statuses: dict[str, list[str]] = defaultdict(list)
            for record in stores.ledger_store.list(run.run_id):
                statuses[record["step_id"]].append(record["status"])
            orphans += sum(1 for s in statuses.values() if s == ["started"])
        return orphans
    finally:
        stores.close()


def _read_side(side: Path) -> Counter[tuple[str, str]]:
    executions: Counter[tuple[str, str]] = Counter()
    for line in side.read_text().splitlines():
        parts = line.split(" ")
        assert len(parts) == 4, f"malformed side-file line {line!r}"
        run_id, node_id, op, pid = parts
        assert node_id in HOST_EFFECT_NODES and op == f"op-{node_id}" and pid.isdigit(), line
        executions[(run_id, node_id)] += 1
    return executions


def _check_ledger(run_id: str, ledger: list[dict[str, Any]], executions: Counter[tuple[str, str]]) -> dict:
    """Assert the ledger invariants of one run; returns a few counts for the report."""
    by_step: dict[str, list[str]] = defaultdict(list)
    for record in ledger:
        assert isinstance(record, dict)
        for key in ("run_id", "step_id", "status"):
            assert record.get(key), f"record without {key} in run {run_id}: {record}"
        assert record["run_id"] == run_id
        by_step[record["step_id"]].append(record["status"])
    orphan_intents = 0
    for step_id, statuses in by_step.items():
        starts = statuses.count("started")
        ends = len(statuses) - starts
        assert starts <= 1 and ends <= 1, f"step {step_id} of run {run_id}: {statuses}"
        if starts and ends:
            assert statuses[0] == "started", f"step {step_id} of run {run_id} ends before it starts"
        if starts and not ends:
            orphan_intents += 1  # an intent whose step never committed: the process died in it

    keys_by_node: dict[str, set[str]] = defaultdict(set)
    events_by_key: dict[str, list[str]] = defaultdict(list)
    for record in ledger:
        effect = record.get("effect") or {}
        if effect.get("type") in HOST_EFFECT_TYPES:
            key = record.get("idempotency_key")
            assert key, f"host effect record without idempotency key in run {run_id}: {record}"
            keys_by_node[record["node_id"]].add(key)
            events_by_key[key].append(record["status"])
    assert set(keys_by_node) == set(HOST_EFFECT_NODES), f"run {run_id}: {sorted(keys_by_node)}"
    reexecuted = 0
    for node_id, keys in keys_by_node.items():
        assert len(keys) == 1, f"node {node_id} of run {run_id} has several idempotency keys: {keys}"
        (key,) = keys
        events = events_by_key[key]
        assert events.count("completed") == 1, f"{node_id} of run {run_id}: {events}"
        assert "failed" not in events, f"{node_id} of run {run_id}: {events}"
        first_completed = events.index("completed")
        assert "started" not in events[first_completed + 1 :], (
            f"{node_id} of run {run_id} started again after its completion was committed: {events}"
        )
        ran = executions[(run_id, node_id)]
        started = events.count("started")
        assert 1 <= ran <= started, (
            f"{node_id} of run {run_id} ran {ran} time(s) with {started} durable intent record(s)"
        )
        reexecuted += ran - 1
    return {"orphan_intents": orphan_intents, "reexecuted": reexecuted}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["file", "sqlite"])
def test_sigkill_never_repeats_a_committed_effect(backend: str, tmp_path: Path) -> None:
    url = _url(backend, tmp_path)
    side = tmp_path / "side.txt"
    log = tmp_path / "driver.log"
    rng = random.Random(f"sigkill-{backend}")
    began = time.monotonic()

    stats = _kill_repeatedly(url, side, log, rng, stats=KillStats(), kills=KILLS)
    # Make sure the key property is exercised: at least one kill must have landed between an
    # effect's durable intent and the commit of its step (about a quarter of the kills do).
    extra = 0
    while _orphan_intents(url) == 0 and extra < EXTRA_KILLS and not stats.finished_early:
        _kill_repeatedly(url, side, log, rng, stats=stats, kills=1)
        extra += 1

    proc = _launch(url, side, log, "final")
    try:
        rc = proc.wait(timeout=FINAL_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 0, f"final driver exited {rc}:\n{log.read_text()}"

    executions = _read_side(side)
    created = side.with_name(side.name + ".created").read_text().split()
    stores = open_stores(url)  # fresh objects: nothing cached from the drivers
    try:
        run_store, ledger_store = stores.run_store, stores.ledger_store
        listed = {r.run_id for r in run_store.list_runs(limit=N_RUNS * 10)}  # type: ignore[attr-defined]
        assert len(listed) == N_RUNS
        assert set(created) <= listed, "a run whose creation returned is missing"
        assert {run_id for run_id, _ in executions} <= listed
        totals: Counter[str] = Counter()
        for run_id in sorted(listed):
            run = run_store.load(run_id)
            assert run is not None
            assert run.status == RunStatus.COMPLETED, f"run {run_id} is {run.status}"
            assert run.output == {
                "ops": {
                    "fetched": "op-fetch",
                    "looked_up": "op-lookup",
                    "summary": "op-summarize",
                    "notified": "op-notify",
                },
                "answer": {"text": f"yes-{run_id}"},
            }
            ledger = ledger_store.list(run_id)
            totals.update(_check_ledger(run_id, ledger, executions))
            statuses = [r["status"] for r in ledger]
            assert statuses.count("waiting") >= 1
            if backend == "sqlite":
                # one transaction per step: no step's records can outlive a lost state write
                assert statuses.count("waiting") == 1, f"run {run_id}: {statuses}"
                resumes = [r for r in ledger if (r.get("effect") or {}).get("type") == "resume"]
                assert len(resumes) == 1, f"run {run_id} resumed {len(resumes)} times"
    finally:
        stores.close()

    elapsed = time.monotonic() - began
    print(
        f"\n[{backend}] runs={N_RUNS} launches={stats.launches + 1} kills={stats.kills} "
        f"mid_work_kills={stats.mid_work} finished_early={stats.finished_early} "
        f"effect_executions={sum(executions.values())} re_executions={totals['reexecuted']} "
        f"orphan_intents={totals['orphan_intents']} elapsed={elapsed:.1f}s"
    )
    assert stats.mid_work >= REQUIRED_MID_WORK_KILLS, (
        f"only {stats.mid_work} of {stats.kills} kills interrupted a driver at work: the test is vacuous"
    )
    assert totals["orphan_intents"] >= 1, "no kill landed inside an effect step: the test is vacuous"
    assert os.path.getsize(side) > 0
