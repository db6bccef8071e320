"""What the durable stores do with the damage a crash (or a disk) can leave behind.

* A torn JSONL ledger tail — half a line, as a process killed in the middle of an append leaves — is
  ignored by readers (``list``, the idempotency lookup) and cut off by the next append, so it never
  merges with a later record.
* A run whose stored JSON is garbage makes ``load`` raise ``CorruptRunError`` naming the run, while
  the other runs of the same store still load and ``list_runs`` skips the broken one.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import (
    Effect,
    EffectType,
    RunState,
    RunStatus,
    Runtime,
    StepPlan,
    WorkflowSpec,
    compute_idempotency_key,
)
from abstractruntime.core.models import StepRecord, StepStatus
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.errors import CorruptRunError
from abstractruntime.storage.json_files import JsonFileRunStore, JsonlLedgerStore
from abstractruntime.storage.urls import Stores, open_stores


def _call(run: RunState, ctx: Any) -> StepPlan:
    effect = Effect(type=EffectType.LLM_CALL, payload={"prompt": "hi", "op": "call"}, result_key="reply")
    return StepPlan(node_id="call", effect=effect, next_node="ask")


def _ask(run: RunState, ctx: Any) -> StepPlan:
    effect = Effect(type=EffectType.ASK_USER, payload={"prompt": "ok?"}, result_key="answer")
    return StepPlan(node_id="ask", effect=effect, next_node="done")


def _done(run: RunState, ctx: Any) -> StepPlan:
    return StepPlan(
        node_id="done", complete_output={"reply": run.vars["reply"], "answer": run.vars["answer"]}
    )


WORKFLOW = WorkflowSpec(
    workflow_id="corrupt", entry_node="call", nodes={"call": _call, "ask": _ask, "done": _done}
)


class CountingLLM:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        self.calls += 1
        return EffectOutcome.completed({"content": "hello", "n": self.calls})


def _runtime(stores: Stores, llm: CountingLLM | None = None) -> Runtime:
    return Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        effect_handlers={EffectType.LLM_CALL: llm or CountingLLM()},
    )


# -- torn ledger tails ---------------------------------------------------------------------------
def _ledger_path(base: Path, run_id: str) -> Path:
    return base / f"ledger_{run_id}.jsonl"


@pytest.mark.slow
@pytest.mark.parametrize("keep", ["half", "all_but_newline"])
def test_torn_jsonl_tail_is_ignored_then_cut_by_the_next_append(tmp_path: Path, keep: str) -> None:
    stores = open_stores(tmp_path.as_uri())
    runtime = _runtime(stores)
    run_id = runtime.start(workflow=WORKFLOW)
    state = runtime.tick(workflow=WORKFLOW, run_id=run_id)
    assert state.status == RunStatus.WAITING
    path = _ledger_path(tmp_path, run_id)
    before = JsonlLedgerStore(tmp_path).list(run_id)
    assert [r["status"] for r in before] == ["started", "completed", "started", "waiting"]

    # A crash in the middle of appending one more record leaves part of its line behind.
    line = (json.dumps({**before[-1], "step_id": "torn-step", "status": "completed"}) + "\n").encode()
    torn = line[: len(line) // 2] if keep == "half" else line[:-1]
    with path.open("ab") as handle:
        handle.write(torn)

    fresh = JsonlLedgerStore(tmp_path)
    assert fresh.list(run_id) == before
    assert fresh.count(run_id) == len(before)
    assert all(r["step_id"] != "torn-step" for r in fresh.list(run_id))

    # The next append (here: a resume and the completion, through the runtime) cuts the torn bytes.
    state = _runtime(open_stores(tmp_path.as_uri())).resume(
        workflow=WORKFLOW, run_id=run_id, wait_key=state.waiting.wait_key, payload={"text": "yes"}
    )
    assert state.status == RunStatus.COMPLETED
    after = JsonlLedgerStore(tmp_path).list(run_id)
    assert after[: len(before)] == before
    assert len(after) > len(before)
    assert all(r["step_id"] != "torn-step" for r in after)
    data = path.read_bytes()
    assert torn not in data
    assert data.endswith(b"\n")
    lines = data.splitlines()
    assert [json.loads(raw) for raw in lines] == after  # every line is exactly one whole record


@pytest.mark.slow
def test_torn_completion_record_is_not_reused_as_a_result(tmp_path: Path) -> None:
    """A COMPLETED record torn mid-append never committed: the effect runs again, it is not reused."""
    stores = open_stores(tmp_path.as_uri())
    run_id = _runtime(stores).start(workflow=WORKFLOW)
    ledger = JsonlLedgerStore(tmp_path)
    # an earlier, whole record, so the incremental index below has read past offset 0
    earlier = StepRecord(run_id=run_id, step_id="earlier", node_id="x", status=StepStatus.COMPLETED)
    earlier.idempotency_key, earlier.result = "earlier-key", {"v": 1}
    ledger.append(earlier)
    assert ledger.find_completed(run_id, "earlier-key") is not None  # warm index

    # The COMPLETED record of node "call", torn 7 bytes before its end.
    run = stores.run_store.load(run_id)
    effect = _call(run, None).effect
    key = compute_idempotency_key(run_id=run_id, node_id="call", effect=effect)
    torn_record = {
        "run_id": run_id,
        "step_id": "torn-step",
        "node_id": "call",
        "status": "completed",
        "effect": effect.to_dict(),
        "result": {"content": "STALE"},
        "idempotency_key": key,
    }
    line = (json.dumps(torn_record) + "\n").encode()
    with _ledger_path(tmp_path, run_id).open("ab") as handle:
        handle.write(line[: len(line) - 7])

    assert ledger.find_completed(run_id, key) is None
    assert JsonlLedgerStore(tmp_path).find_completed(run_id, key) is None

    llm = CountingLLM()
    state = _runtime(open_stores(tmp_path.as_uri()), llm).tick(workflow=WORKFLOW, run_id=run_id)
    assert llm.calls == 1  # executed, not reused from the torn record
    assert state.vars["reply"] == {"content": "hello", "n": 1}
    found = ledger.find_completed(run_id, key)  # the warm index catches up past the cut
    assert found is not None and found["result"] == {"content": "hello", "n": 1}
    assert ledger.find_completed(run_id, "earlier-key") is not None
    statuses = [r["status"] for r in ledger.list(run_id)]
    assert statuses == ["completed", "started", "completed", "started", "waiting"]

    # Control: the same record written whole is a committed completion, and is reused.
    control_id = _runtime(stores).start(workflow=WORKFLOW)
    control_effect = _call(stores.run_store.load(control_id), None).effect
    control_key = compute_idempotency_key(run_id=control_id, node_id="call", effect=control_effect)
    whole = {**torn_record, "run_id": control_id, "idempotency_key": control_key}
    with _ledger_path(tmp_path, control_id).open("ab") as handle:
        handle.write((json.dumps(whole) + "\n").encode())
    llm = CountingLLM()
    state = _runtime(open_stores(tmp_path.as_uri()), llm).tick(workflow=WORKFLOW, run_id=control_id)
    assert llm.calls == 0
    assert state.vars["reply"] == {"content": "STALE"}


@pytest.mark.slow
def test_ledger_made_only_of_a_torn_line_reads_empty_and_is_cut_to_nothing(tmp_path: Path) -> None:
    stores = open_stores(tmp_path.as_uri())
    runtime = _runtime(stores)
    run_id = runtime.start(workflow=WORKFLOW)
    path = _ledger_path(tmp_path, run_id)
    path.write_bytes(b'{"run_id": "' + run_id.encode() + b'", "step_id": "x", "sta')
    assert JsonlLedgerStore(tmp_path).list(run_id) == []
    assert JsonlLedgerStore(tmp_path).count(run_id) == 0
    runtime.tick(workflow=WORKFLOW, run_id=run_id)
    records = JsonlLedgerStore(tmp_path).list(run_id)
    assert [r["status"] for r in records] == ["started", "completed", "started", "waiting"]
    assert [json.loads(raw) for raw in path.read_bytes().splitlines()] == records


# -- corrupted run state -------------------------------------------------------------------------
GARBAGE: dict[str, bytes] = {
    "binary": b"\x00\xff\xfe\x80garbage\x9c{{",
    "truncated_json": b'{"run_id": "r", "workflow_id": "corrupt", "status": "runn',
    "empty": b"",
    "json_array": b"[1, 2, 3]",
    "object_missing_keys": b'{"vars": {}}',
    "bad_status": None,  # filled per run: the real run object with an unknown status
}


def _garbage(kind: str, original: bytes) -> bytes:
    if kind == "bad_status":
        data = json.loads(original)
        data["status"] = "exploded"
        return json.dumps(data).encode()
    value = GARBAGE[kind]
    assert value is not None
    return value


def _three_runs(stores: Stores) -> tuple[Runtime, list[str]]:
    runtime = _runtime(stores)
    run_ids = [runtime.start(workflow=WORKFLOW) for _ in range(3)]
    runtime.tick(workflow=WORKFLOW, run_id=run_ids[0])  # one of them waiting, the others running
    return runtime, run_ids


def _assert_corrupt_run_is_isolated(url: str, bad: str, good: list[str]) -> None:
    stores = open_stores(url)  # fresh objects: nothing cached
    try:
        with pytest.raises(CorruptRunError) as caught:
            stores.run_store.load(bad)
        assert caught.value.run_id == bad
        assert bad in str(caught.value)
        with pytest.raises(CorruptRunError):
            stores.run_store.load_checkpoint(bad)  # type: ignore[attr-defined]
        runtime = _runtime(stores)
        with pytest.raises(CorruptRunError):
            runtime.get_state(bad)
        with pytest.raises(CorruptRunError):
            runtime.tick(workflow=WORKFLOW, run_id=bad)
        for run_id in good:
            assert stores.run_store.load(run_id).run_id == run_id
        listed = [r.run_id for r in stores.run_store.list_runs(limit=100)]  # type: ignore[attr-defined]
        assert sorted(listed) == sorted(good)
        running = stores.run_store.list_runs(status=RunStatus.RUNNING)  # type: ignore[attr-defined]
        assert bad not in {r.run_id for r in running}
        # the healthy runs still make progress next to the broken one
        for run_id in good:
            state = runtime.get_state(run_id)
            if state.status == RunStatus.RUNNING:
                state = runtime.tick(workflow=WORKFLOW, run_id=run_id)
            state = runtime.resume(
                workflow=WORKFLOW, run_id=run_id, wait_key=state.waiting.wait_key, payload={"text": "y"}
            )
            assert state.status == RunStatus.COMPLETED
    finally:
        stores.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_corrupt_run_file_raises_and_is_skipped(tmp_path: Path, kind: str) -> None:
    url = tmp_path.as_uri()
    stores = open_stores(url)
    _, run_ids = _three_runs(stores)
    bad, good = run_ids[1], [run_ids[0], run_ids[2]]
    path = tmp_path / f"run_{bad}.json"
    garbage = _garbage(kind, path.read_bytes())
    path.write_bytes(garbage)

    # the store object that wrote the run notices too (its cache is keyed by the file's identity)
    with pytest.raises(CorruptRunError):
        stores.run_store.load(bad)
    _assert_corrupt_run_is_isolated(url, bad, good)
    assert path.read_bytes() == garbage  # nothing rewrote the broken file
    assert isinstance(JsonFileRunStore(tmp_path).load(good[0]), RunState)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_corrupt_sqlite_row_raises_and_is_skipped(tmp_path: Path, kind: str) -> None:
    db_path = tmp_path / "runs.db"
    url = f"sqlite:///{db_path}"
    stores = open_stores(url)
    try:
        _, run_ids = _three_runs(stores)
    finally:
        stores.close()
    bad, good = run_ids[1], [run_ids[0], run_ids[2]]

    conn = sqlite3.connect(db_path)
    try:
        (original,) = conn.execute("SELECT run_json FROM runs WHERE run_id = ?", (bad,)).fetchone()
        garbage = _garbage(kind, original.encode())
        # binary garbage goes in as a BLOB, the rest as TEXT (what a torn or foreign write could leave)
        value: bytes | str = garbage if kind == "binary" else garbage.decode()
        with conn:
            conn.execute("UPDATE runs SET run_json = ? WHERE run_id = ?", (value, bad))
    finally:
        conn.close()

    _assert_corrupt_run_is_isolated(url, bad, good)
    conn = sqlite3.connect(db_path)
    try:
        (stored,) = conn.execute("SELECT run_json FROM runs WHERE run_id = ?", (bad,)).fetchone()
    finally:
        conn.close()
    assert stored == value  # nothing rewrote the broken row
