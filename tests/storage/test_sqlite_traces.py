"""Node traces in their own rows (schema version 4): whatever a run's traces look like and however
they change between writes, a fresh store loads exactly the run that was written, and an ordinary
step writes only the entries it added."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from abstractruntime.core.models import RunState
from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLedgerStore, SqliteRunStore
from abstractruntime.testing.contract.factory import make_run


def _entry(i: int) -> dict[str, Any]:
    return {"ts": f"t{i}", "status": "completed", "effect": {"payload": {"i": i}}, "result": {"i": i}}


def _traces(run: RunState) -> dict[str, Any]:
    runtime_ns: dict[str, Any] = run.vars.setdefault("_runtime", {})
    traces: dict[str, Any] = runtime_ns.setdefault("node_traces", {})
    return traces


class _Harness:
    def __init__(self, path: Path) -> None:
        self.path = path
        db = SqliteDatabase(path)
        self.runs, self.ledger = SqliteRunStore(db), SqliteLedgerStore(db)
        self.revision: int | None = None

    def commit(self, run: RunState) -> None:
        self.revision = self.runs.commit(run, [], ledger_store=self.ledger, expected_revision=self.revision)
        fresh = SqliteRunStore(SqliteDatabase(self.path)).load(run.run_id)
        assert fresh is not None and fresh.to_dict() == run.to_dict()

    def rows(self, run_id: str) -> list[tuple[str, int]]:
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(
                "SELECT node_id, seq FROM run_trace_steps WHERE run_id = ? ORDER BY node_id, seq", (run_id,)
            ).fetchall()
        finally:
            conn.close()


def test_appended_and_trimmed_entries_are_the_only_rows_written(tmp_path: Path) -> None:
    h = _Harness(tmp_path / "t.db")
    run = make_run()
    traces = _traces(run)
    traces["a"] = {"node_id": "a", "steps": [_entry(i) for i in range(3)], "updated_at": "t2"}
    h.commit(run)
    assert h.rows(run.run_id) == [("a", 1), ("a", 2), ("a", 3)]
    steps = traces["a"]["steps"]
    steps.append(_entry(3))
    del steps[0]  # trimmed from the front, as the engine's cap does
    h.commit(run)
    assert h.rows(run.run_id) == [("a", 2), ("a", 3), ("a", 4)]
    traces["b"] = {"node_id": "b", "steps": [_entry(9)], "extra": [1, 2]}
    h.commit(run)
    assert ("b", 1) in h.rows(run.run_id)
    traces["a"]["steps"] = [_entry(7)]  # replaced by new objects: that node is rewritten
    h.commit(run)
    assert h.rows(run.run_id) == [("a", 1), ("b", 1)]
    del traces["b"]
    traces["a"]["steps"] = []
    h.commit(run)
    assert h.rows(run.run_id) == []


def test_traces_of_unusual_shapes_are_stored_whole_and_load_exactly(tmp_path: Path) -> None:
    h = _Harness(tmp_path / "t.db")
    run = make_run()
    run.vars["_runtime"] = {"node_traces": {"a": {"steps": [_entry(1)]}}, "other": 1}
    h.commit(run)
    run.vars["_runtime"]["node_traces"]["b"] = {"node_id": "b", "steps": None}  # not a list
    h.commit(run)
    assert h.rows(run.run_id) == []
    run.vars["_runtime"]["node_traces"] = ["not", "a", "dict"]
    h.commit(run)
    run.vars["_runtime"] = {"node_traces": {"a": {"node_id": "a", "steps": [_entry(2)]}}}
    h.commit(run)
    assert h.rows(run.run_id) == [("a", 1)]
    run.vars.pop("_runtime")
    run.vars["node_trace_heads"] = {"looks": "like the stored key"}  # a user var of that name
    h.commit(run)
    assert h.rows(run.run_id) == []


def test_a_writer_with_another_copy_rewrites_and_still_stores_exactly(tmp_path: Path) -> None:
    h = _Harness(tmp_path / "t.db")
    run = make_run()
    _traces(run)["a"] = {"node_id": "a", "steps": [_entry(i) for i in range(5)]}
    h.commit(run)
    other = SqliteRunStore(SqliteDatabase(h.path))  # a second process: its cache knows nothing
    checkpoint = other.load_checkpoint(run.run_id)
    assert checkpoint is not None
    copy = checkpoint.run
    _traces(copy)["a"]["steps"].append(_entry(5))
    revision = other.commit(copy, [], ledger_store=h.ledger, expected_revision=checkpoint.revision)
    assert h.rows(run.run_id) == [("a", i) for i in range(1, 7)]
    loaded = h.runs.load_checkpoint(run.run_id)
    assert loaded is not None and loaded.revision == revision and loaded.run.to_dict() == copy.to_dict()


def _row(path: Path, run_id: str) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        (text,) = conn.execute("SELECT run_json FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    finally:
        conn.close()
    row: dict[str, Any] = json.loads(text)
    return row


def test_usual_heads_are_not_stored_and_node_order_survives(tmp_path: Path) -> None:
    h = _Harness(tmp_path / "t.db")
    run = make_run()
    traces = _traces(run)
    for node in ("z", "a", "m"):  # not sorted: the order traces were created in is kept
        traces[node] = {"node_id": node, "steps": [_entry(1)], "updated_at": "t1"}
    traces["odd"] = {"node_id": "odd", "steps": [_entry(2)], "updated_at": "t9", "note": 1}
    traces["empty"] = {"node_id": "empty", "steps": []}
    h.commit(run)
    row = _row(h.path, run.run_id)
    assert row["node_trace_nodes"] == ["z", "a", "m", "odd", "empty"]
    assert set(row["node_trace_heads"]) == {"odd", "empty"}  # the engine's usual heads are rebuilt
    loaded = SqliteRunStore(SqliteDatabase(h.path)).load(run.run_id)
    assert loaded is not None
    assert list(_traces(loaded)) == ["z", "a", "m", "odd", "empty"]
    assert _traces(loaded) == traces


def test_a_version_4_row_with_every_head_and_no_node_list_still_loads(tmp_path: Path) -> None:
    h = _Harness(tmp_path / "t.db")
    run = make_run()
    _traces(run)["a"] = {"node_id": "a", "steps": [_entry(1)], "updated_at": "t1"}
    h.commit(run)
    row = _row(h.path, run.run_id)
    del row["node_trace_nodes"]
    row["node_trace_heads"] = {"a": {"node_id": "a", "updated_at": "t1"}}  # as version 4 wrote it
    conn = sqlite3.connect(h.path)
    try:
        conn.execute("UPDATE runs SET run_json = ? WHERE run_id = ?", (json.dumps(row), run.run_id))
        conn.commit()
    finally:
        conn.close()
    loaded = SqliteRunStore(SqliteDatabase(h.path)).load(run.run_id)
    assert loaded is not None and loaded.to_dict() == run.to_dict()
