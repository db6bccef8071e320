"""Tamper evidence: the hash-chained ledger on every backend (SPEC §7.10, §14 scenario 12)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.models import RunState, StepRecord
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore, ObservableLedgerStore
from abstractruntime.storage.base import LedgerStore, RunStore
from abstractruntime.storage.json_files import JsonFileRunStore, JsonlLedgerStore
from abstractruntime.storage.ledger_chain import (
    HashChainedLedgerStore,
    compute_record_hash,
    verify_ledger_chain,
)
from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLedgerStore, SqliteRunStore

Opener = Callable[[], tuple[RunStore, LedgerStore]]


@pytest.fixture(params=["memory", "files", "sqlite", "observable-sqlite"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    dbs: list[SqliteDatabase] = []
    memory = (InMemoryRunStore(), InMemoryLedgerStore())

    def open_pair() -> tuple[RunStore, LedgerStore]:
        if request.param == "memory":
            return memory
        if request.param == "files":
            return JsonFileRunStore(tmp_path), JsonlLedgerStore(tmp_path)
        db = SqliteDatabase(tmp_path / "runs.db")
        dbs.append(db)
        inner: LedgerStore = SqliteLedgerStore(db)
        if request.param == "observable-sqlite":
            inner = ObservableLedgerStore(inner)
        return SqliteRunStore(db), inner

    yield open_pair
    for db in dbs:
        db.close()


def _flow() -> WorkflowSpec:
    def ask(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(
            "ask", effect=Effect(EffectType.ASK_USER, {"prompt": "ok?"}, "answer"), next_node="note"
        )

    def note(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(
            "note", effect=Effect(EffectType.ANSWER_USER, {"message": "thanks"}), next_node="done"
        )

    def done(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan("done", complete_output={"answer": run.vars["answer"]})

    return WorkflowSpec("chained", "ask", {"ask": ask, "note": note, "done": done})


def _finished_run(opener: Opener) -> tuple[str, HashChainedLedgerStore]:
    flow = _flow()
    runs, ledger = opener()
    chained = HashChainedLedgerStore(ledger)
    runtime = Runtime(run_store=runs, ledger_store=chained)
    run_id = runtime.start(workflow=flow)
    waiting = runtime.tick(workflow=flow, run_id=run_id)
    assert waiting.waiting is not None
    runs2, ledger2 = opener()  # a restart: the chain head comes from storage
    chained2 = HashChainedLedgerStore(ledger2)
    restarted = Runtime(run_store=runs2, ledger_store=chained2)
    state = restarted.resume(
        workflow=flow, run_id=run_id, wait_key=waiting.waiting.wait_key, payload={"y": 1}
    )
    assert state.status.value == "completed"
    return run_id, chained2


def test_a_chained_run_verifies(opener: Opener) -> None:
    run_id, ledger = _finished_run(opener)
    records = ledger.list(run_id)
    assert len(records) == 7
    report = verify_ledger_chain(records)
    assert report["ok"] is True, report["errors"]
    assert report["count"] == 7 and report["first_bad_index"] is None
    assert records[0]["prev_hash"] is None
    assert all(records[i]["prev_hash"] == records[i - 1]["record_hash"] for i in range(1, 7))
    assert report["head_hash"] == records[-1]["record_hash"] == report["computed_head_hash"]
    assert records[0]["step_id"] == records[1]["step_id"]
    assert records[0]["record_hash"] != records[1]["record_hash"]


def _tampered(records: list[dict[str, Any]], how: str, index: int) -> tuple[list[dict[str, Any]], int]:
    copied = copy.deepcopy(records)
    if how == "delete":
        del copied[index]
        return copied, index
    if how == "reorder":
        copied[index], copied[index + 1] = copied[index + 1], copied[index]
        return copied, index
    field = ["node_id", "status", "result", "started_at", "idempotency_key", "attempt", "effect"][index % 7]
    copied[index][field] = {"tampered": True} if field in ("result", "effect") else "tampered"
    return copied, index


@pytest.mark.parametrize("how", ["edit", "delete", "reorder"])
def test_tampering_is_detected_at_the_first_bad_record(opener: Opener, how: str) -> None:
    run_id, ledger = _finished_run(opener)
    records = ledger.list(run_id)
    last = len(records) - 2 if how == "reorder" else len(records) - 1
    for index in range(last if how == "delete" else last + 1):
        tampered, expected = _tampered(records, how, index)
        report = verify_ledger_chain(tampered)
        assert report["ok"] is False, (how, index)
        assert report["first_bad_index"] == expected, (how, index, report["errors"])


def test_every_field_is_covered_by_the_hash() -> None:
    run = RunState.new(workflow_id="w", entry_node="a")
    record = StepRecord.start(run=run, node_id="a", effect=Effect(EffectType.ASK_USER, {"prompt": "p"}))
    data = record.to_dict()
    base = compute_record_hash(record=data, prev_hash=None)
    for field in data:
        if field in ("record_hash", "signature", "prev_hash"):
            continue
        changed = dict(data)
        changed[field] = "different"
        assert compute_record_hash(record=changed, prev_hash=None) != base, field
    assert compute_record_hash(record=data, prev_hash="x" * 64) != base


def test_missing_hash_stops_verification() -> None:
    run = RunState.new(workflow_id="w", entry_node="a")
    inner = InMemoryLedgerStore()
    chained = HashChainedLedgerStore(inner)
    for _ in range(3):
        chained.append(StepRecord.start(run=run, node_id="a", effect=None))
    records = inner.list(run.run_id)
    records[1] = dict(records[1], record_hash=None)
    report = verify_ledger_chain(records)
    assert [e["type"] for e in report["errors"]] == ["missing_record_hash"]
    assert report["first_bad_index"] == 1


@pytest.mark.parametrize("backend", ["files", "sqlite"])
def test_concurrent_writers_never_fork_the_chain(backend: str, tmp_path: Path) -> None:
    run = RunState.new(workflow_id="w", entry_node="a")
    stores: list[HashChainedLedgerStore] = []
    dbs: list[SqliteDatabase] = []
    for _ in range(4):
        if backend == "files":
            stores.append(HashChainedLedgerStore(JsonlLedgerStore(tmp_path)))
        else:
            db = SqliteDatabase(tmp_path / "chain.db")
            dbs.append(db)
            stores.append(HashChainedLedgerStore(SqliteLedgerStore(db)))

    def write(store: HashChainedLedgerStore) -> None:
        for _ in range(25):
            store.append(StepRecord.start(run=run, node_id="a", effect=None))

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = stores[0].list(run.run_id)
    assert len(records) == 100
    assert verify_ledger_chain(records)["ok"] is True
    for db in dbs:
        db.close()
