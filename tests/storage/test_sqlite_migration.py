"""A database written by the schema-version-3 release (``fixtures/runtime_v3.db``, built by
``fixtures/build_v3_fixture.py`` at commit 535ad38) opens with the current code: it is migrated to the
current version, every run, ledger, lease and command loads, and the parked run resumes to completion,
taking the version-4 shape (trace steps in their own rows) on its first write."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

from abstractruntime import RunStatus, Runtime
from abstractruntime.storage.sqlite import (
    SqliteCommandStore,
    SqliteDatabase,
    SqliteLeaseStore,
    SqliteLedgerStore,
    SqliteRunStore,
)
from abstractruntime.storage.sqlite_schema import SCHEMA_VERSION

FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from fixture_flows import WAITING, handlers  # noqa: E402


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "v3.db"
    shutil.copyfile(FIXTURES / "runtime_v3.db", path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    finally:
        conn.close()
    return path


def test_a_version_3_database_migrates_and_everything_loads(tmp_path: Path) -> None:
    db = SqliteDatabase(_copy(tmp_path))
    runs, ledger = SqliteRunStore(db), SqliteLedgerStore(db)
    conn = db.connection()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    index = {row["run_id"]: row for row in runs.list_run_index()}
    by_tag = {}
    for run_id in index:
        run = runs.load(run_id)
        assert run is not None
        by_tag[run.vars["tag"]] = run
        assert run.vars["_runtime"]["node_traces"]["fetch"]["steps"]  # traces stored inline by v3
    assert {t: r.status for t, r in by_tag.items()} == {
        "done": RunStatus.COMPLETED,
        "parked": RunStatus.WAITING,
        "bad": RunStatus.FAILED,
    }
    assert by_tag["done"].output == {
        "tag": "done",
        "fetched": "fetched for done",
        "answer": {"answer": "yes"},
    }
    counts = {t: len(ledger.list(r.run_id)) for t, r in by_tag.items()}
    assert counts == {"done": 9, "parked": 6, "bad": 5}
    parked = by_tag["parked"].run_id
    assert ledger.count(parked) == 6 and ledger.find_completed(
        parked, ledger.list(parked)[1]["idempotency_key"]
    )
    assert [r.run_id for r in runs.list_runs(status=RunStatus.WAITING)] == [parked]
    lease = SqliteLeaseStore(db).get_lease(parked)
    assert lease is not None and lease.owner == "fixture-host"
    commands, _cursor = SqliteCommandStore(db).list_after(after=0)
    assert [(c.type, c.run_id) for c in commands] == [("pause", parked), ("resume", parked)]
    db.close()


def test_a_run_parked_by_version_3_resumes_and_takes_the_new_shape(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    db = SqliteDatabase(path)
    runs, ledger = SqliteRunStore(db), SqliteLedgerStore(db)
    SqliteLeaseStore(db).release_lease(
        next(r["run_id"] for r in runs.list_run_index(status=RunStatus.WAITING)), owner="fixture-host"
    )
    parked = runs.list_runs(status=RunStatus.WAITING)[0]
    runtime = Runtime(run_store=runs, ledger_store=ledger, effect_handlers=handlers())
    done = runtime.resume(
        workflow=WAITING, run_id=parked.run_id, wait_key="fixture-ask", payload={"answer": "ok"}
    )
    assert done.status == RunStatus.COMPLETED
    assert done.output == {"tag": "parked", "fetched": "fetched for parked", "answer": {"answer": "ok"}}
    records = ledger.list(parked.run_id)
    assert len(records) == 9 == ledger.count(parked.run_id)  # version 5: seqs continue from the highest
    tables = {row[0] for row in db.connection().execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "ledger_heads" not in tables
    seqs = [
        row[0]
        for row in db.connection().execute(
            "SELECT seq FROM ledger WHERE run_id = ? ORDER BY seq", (parked.run_id,)
        )
    ]
    assert seqs == list(range(1, 10))
    db.close()
    reopened = SqliteRunStore(SqliteDatabase(path)).load(parked.run_id)
    assert reopened is not None and reopened.to_dict() == done.to_dict()
    conn = sqlite3.connect(path)
    try:
        (row,) = conn.execute("SELECT run_json FROM runs WHERE run_id = ?", (parked.run_id,)).fetchone()
        nodes = conn.execute(
            "SELECT DISTINCT node_id FROM run_trace_steps WHERE run_id = ?", (parked.run_id,)
        ).fetchall()
    finally:
        conn.close()
    assert '"node_traces"' not in row and '"node_trace_heads"' in row
    assert {n for (n,) in nodes} == set(done.vars["_runtime"]["node_traces"]) == {"fetch", "note", "ask"}
