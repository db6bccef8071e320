"""Group commit on SQLite (``SqliteDatabase.group_commit``, ``core.tick_many``): several runs' steps in
one transaction, each still atomic and compare-and-set on its own; intents durable before effects run;
a SIGKILL mid-group leaves every run loadable at a consistent step."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunState, RunStatus, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.models import StepRecord
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.core.tick_many import GroupCommitRunStore, tick_many
from abstractruntime.errors import ConcurrencyError
from abstractruntime.storage.in_memory import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLedgerStore, SqliteRunStore
from abstractruntime.testing.contract.factory import make_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from group_driver import COUNT, LAST

DRIVER = Path(__file__).with_name("group_driver.py")


def _stores(path: Path) -> tuple[SqliteDatabase, SqliteRunStore, SqliteLedgerStore]:
    db = SqliteDatabase(path)
    return db, SqliteRunStore(db), SqliteLedgerStore(db)


def _committed(path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    """Rows another connection sees: only what was committed."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_sqlite_run_store_has_the_group_commit_capability(tmp_path: Path) -> None:
    _db, runs, _ledger = _stores(tmp_path / "g.db")
    assert isinstance(runs, GroupCommitRunStore)
    assert not isinstance(InMemoryRunStore(), GroupCommitRunStore)


def test_a_stale_run_in_a_group_is_rolled_back_alone(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    db, runs, ledger = _stores(path)
    fresh, stale = make_run(), make_run()
    for run in (fresh, stale):
        runs.commit(run, [], ledger_store=ledger, expected_revision=None)
    runs.save(stale)  # another writer: the stored revision of `stale` is now 2
    fresh.vars["step"] = stale.vars["step"] = 1
    with runs.group_commit():
        new = runs.commit(
            fresh,
            [StepRecord.start(run=fresh, node_id="n", effect=None)],
            ledger_store=ledger,
            expected_revision=1,
        )
        with pytest.raises(ConcurrencyError):
            runs.commit(
                stale,
                [StepRecord.start(run=stale, node_id="n", effect=None)],
                ledger_store=ledger,
                expected_revision=1,
            )
        assert _committed(path, "SELECT revision FROM runs WHERE run_id = ?", (fresh.run_id,)) == [(1,)]
    assert new == 2
    assert _committed(path, "SELECT revision FROM runs WHERE run_id = ?", (fresh.run_id,)) == [(2,)]
    assert _committed(path, "SELECT revision FROM runs WHERE run_id = ?", (stale.run_id,)) == [(2,)]
    assert len(ledger.list(fresh.run_id)) == 1 and ledger.list(stale.run_id) == []
    reopened = SqliteRunStore(SqliteDatabase(path))
    loaded_fresh, loaded_stale = reopened.load(fresh.run_id), reopened.load(stale.run_id)
    assert loaded_fresh is not None and loaded_fresh.vars["step"] == 1
    assert loaded_stale is not None and "step" not in loaded_stale.vars
    db.close()


def _linear(n_nodes: int, effect_type: EffectType) -> WorkflowSpec:
    def make(index: int) -> Any:
        def node(run: RunState, ctx: Any) -> StepPlan:
            if index == n_nodes - 1:
                return StepPlan(node_id=f"n{index}", complete_output={"last": run.vars.get("r")})
            effect = Effect(effect_type, {"message": f"m{index}", "prompt": f"p{index}"}, result_key="r")
            return StepPlan(node_id=f"n{index}", effect=effect, next_node=f"n{index + 1}")

        return node

    return WorkflowSpec(
        workflow_id=f"linear_{effect_type.value}",
        entry_node="n0",
        nodes={f"n{i}": make(i) for i in range(n_nodes)},
    )


def test_tick_many_in_groups_gives_what_single_commits_give(tmp_path: Path) -> None:
    flow = _linear(6, EffectType.ANSWER_USER)
    _db, runs, ledger = _stores(tmp_path / "g.db")
    grouped = Runtime(run_store=runs, ledger_store=ledger)
    plain = Runtime(run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore())
    ids = [grouped.start(workflow=flow, vars={"k": k}) for k in range(5)]
    reference = [plain.start(workflow=flow, vars={"k": k}) for k in range(5)]
    result = tick_many(grouped, flow, ids, max_steps=50)
    for run_id in reference:
        plain.tick(workflow=flow, run_id=run_id, max_steps=50)
    assert result.grouped and not result.errors and result.turns == 6
    reopened = SqliteRunStore(SqliteDatabase(tmp_path / "g.db"))
    for run_id, ref_id in zip(ids, reference, strict=True):
        got, want = reopened.load(run_id), plain.get_state(ref_id)
        assert got is not None and got.status == RunStatus.COMPLETED
        assert got.output == want.output
        assert len(ledger.list(run_id)) == len(plain.ledger_store.list(ref_id))
        assert got.vars["_runtime"]["node_traces"].keys() == want.vars["_runtime"]["node_traces"].keys()


def test_tick_many_budget_registry_and_errors(tmp_path: Path) -> None:
    flow = _linear(6, EffectType.ANSWER_USER)
    _db, runs, ledger = _stores(tmp_path / "g.db")
    runtime = Runtime(run_store=runs, ledger_store=ledger)
    ids = [runtime.start(workflow=flow) for _ in range(3)]
    partial = tick_many(runtime, {flow.workflow_id: flow}, ids, max_steps=2)
    assert partial.turns == 2 and all(r.current_node == "n2" for r in partial.runs.values())
    unknown = tick_many(runtime, {}, ids[:1])
    assert set(unknown.errors) == {ids[0]} and not unknown.runs
    with pytest.raises(ValueError):
        tick_many(runtime, flow, ids, steps_per_turn=0)


def test_an_intent_is_durable_before_its_handler_runs_inside_a_group(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    seen: list[list[Any]] = []

    def handler(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        seen.append(
            _committed(
                path, "SELECT status FROM ledger WHERE run_id = ? ORDER BY seq DESC LIMIT 1", (run.run_id,)
            )
        )
        return EffectOutcome.completed({"text": "ok"})

    flow = _linear(3, EffectType.LLM_CALL)
    _db, runs, ledger = _stores(path)
    runtime = Runtime(run_store=runs, ledger_store=ledger, effect_handlers={EffectType.LLM_CALL: handler})
    ids = [runtime.start(workflow=flow) for _ in range(4)]
    result = tick_many(runtime, flow, ids)
    assert result.grouped and all(r.status == RunStatus.COMPLETED for r in result.runs.values())
    assert seen == [[("started",)]] * 8  # every handler call saw its own committed STARTED intent


def _launch(path: Path, side: Path, n_runs: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(DRIVER), str(path), str(side), str(n_runs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _side_lines(side: Path) -> int:
    return side.read_text().count("\n") if side.exists() else 0


def _wait_for_progress(driver: subprocess.Popen[bytes], side: Path, timeout_s: float = 60.0) -> None:
    """Return once the driver has run a new host effect (the side file grew) or has exited."""
    start, deadline = _side_lines(side), time.monotonic() + timeout_s
    while driver.poll() is None and _side_lines(side) <= start and time.monotonic() < deadline:
        time.sleep(0.005)


def _check_consistent(path: Path, side: Path) -> list[RunState]:
    db, runs, ledger = _stores(path)
    loaded: list[RunState] = []
    executions = Counter(side.read_text().split("\n")[:-1] if side.exists() else [])
    for row in runs.list_run_index(limit=1000):
        run = runs.load(row["run_id"])
        assert run is not None
        records = ledger.list(run.run_id)
        ends = [r for r in records if r["status"] == "completed" and r["node_id"] == "step"]
        visits = int(run.vars.get("i", 0))
        if run.status == RunStatus.RUNNING:
            assert len(ends) == visits  # each committed visit has its end record, no more
            steps = run.vars["_runtime"]["node_traces"]["step"]["steps"] if visits else []
            assert [s["effect"]["payload"]["i"] for s in steps] == list(
                range(max(1, visits - 99), visits + 1)
            )
        started = Counter(r["idempotency_key"] for r in records if r["status"] == "started")
        for r in records:
            if r["status"] == "started" and r["effect"]["type"] == "llm_call":
                key = f"{run.run_id} {r['effect']['payload']['i']}"
                assert executions[key] <= started[r["idempotency_key"]]
        loaded.append(run)
    db.close()
    return loaded


def test_sigkill_mid_group_leaves_every_run_loadable_and_consistent(tmp_path: Path) -> None:
    path, side = tmp_path / "g.db", tmp_path / "side.txt"
    rng = random.Random(7)
    kills = 0
    for _ in range(6):
        driver = _launch(path, side, 16)
        _wait_for_progress(driver, side)  # kill a driver at work, whatever the machine's speed
        time.sleep(rng.uniform(0.0, 0.05))
        if driver.poll() is None:
            driver.send_signal(signal.SIGKILL)
            kills += 1
        driver.communicate(timeout=60)
        _check_consistent(path, side)
    final = _launch(path, side, 16)
    _out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    runs = _check_consistent(path, side)
    assert kills >= 1 and len(runs) == 16
    assert all(r.status == RunStatus.COMPLETED and r.output == {"i": LAST} for r in runs)
    assert COUNT.workflow_id == runs[0].workflow_id
