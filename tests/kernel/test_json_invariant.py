"""Non-JSON-safe values are refused by durable stores before anything is written (SPEC §2.3)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.models import RunState, StepRecord
from abstractruntime.errors import ConcurrencyError, NotJsonSafeError
from abstractruntime.storage.base import Checkpoint, LedgerStore, RunStore
from abstractruntime.storage.codec import decode_run, encode_record, encode_run


class EncodedLedger(LedgerStore):
    """A ledger that keeps encoded JSON lines, like a durable backend."""

    def __init__(self) -> None:
        self.lines: dict[str, builtins.list[str]] = {}

    def append(self, record: StepRecord) -> None:
        self.lines.setdefault(record.run_id, []).append(encode_record(record))

    def list(self, run_id: str) -> builtins.list[dict[str, Any]]:
        import json

        return [json.loads(line) for line in self.lines.get(run_id, [])]


class EncodedRunStore(RunStore):
    """A revisioned run store keeping encoded JSON text; encodes everything before writing."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, str]] = {}

    def save(self, run: RunState) -> None:
        revision = self.rows.get(run.run_id, (0, ""))[0]
        self.rows[run.run_id] = (revision + 1, encode_run(run))

    def load(self, run_id: str) -> RunState | None:
        row = self.rows.get(run_id)
        return None if row is None else decode_run(row[1], run_id=run_id, location="memory")

    def load_checkpoint(self, run_id: str) -> Checkpoint | None:
        row = self.rows.get(run_id)
        if row is None:
            return None
        return Checkpoint(decode_run(row[1], run_id=run_id, location="memory"), row[0])

    def current_revision(self, run_id: str) -> int | None:
        row = self.rows.get(run_id)
        return None if row is None else row[0]

    def commit(
        self,
        run: RunState,
        records: Sequence[StepRecord],
        *,
        ledger_store: LedgerStore,
        expected_revision: int | None,
    ) -> int:
        actual = self.current_revision(run.run_id)
        if actual != expected_revision:
            raise ConcurrencyError(
                run_id=run.run_id, expected_revision=expected_revision, actual_revision=actual
            )
        text = encode_run(run)  # encode first: a bad value writes nothing
        for record in records:
            encode_record(record)
        for record in records:
            ledger_store.append(record)
        self.rows[run.run_id] = ((actual or 0) + 1, text)
        return (actual or 0) + 1


def _runtime() -> tuple[Runtime, EncodedRunStore, EncodedLedger]:
    runs, ledger = EncodedRunStore(), EncodedLedger()
    return Runtime(run_store=runs, ledger_store=ledger), runs, ledger


def test_start_with_unencodable_vars_stores_nothing() -> None:
    runtime, runs, _ = _runtime()
    flow = WorkflowSpec("w", "a", {"a": lambda run, ctx: StepPlan("a", complete_output={})})
    with pytest.raises(NotJsonSafeError) as info:
        runtime.start(workflow=flow, vars={"client": object()})
    assert isinstance(info.value, TypeError)
    assert info.value.path == "run.vars.client"
    assert runs.rows == {}


def test_node_putting_an_object_in_vars_fails_the_run_from_its_last_checkpoint() -> None:
    def ask(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(
            "ask", effect=Effect(EffectType.ASK_USER, {"prompt": "go?"}, "answer"), next_node="bad"
        )

    def bad(run: RunState, ctx: Any) -> StepPlan:
        run.vars["scratch"] = {"when": {1, 2}}
        return StepPlan("bad", effect=Effect(EffectType.ANSWER_USER, {"message": "hi"}), next_node="end")

    flow = WorkflowSpec(
        "w", "ask", {"ask": ask, "bad": bad, "end": lambda r, c: StepPlan("end", complete_output={})}
    )
    runtime, _runs, ledger = _runtime()
    run_id = runtime.start(workflow=flow)
    waiting = runtime.tick(workflow=flow, run_id=run_id)
    before_ledger = list(ledger.lines[run_id])
    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=waiting.waiting.wait_key, payload={"ok": True}
    )
    # The resume itself committed (its payload was fine); the step that cannot be stored fails the run
    # instead of stranding it RUNNING, and its unstorable change is dropped.
    assert state.status.value == "failed"
    assert state.error is not None and state.error.startswith(
        "NotJsonSafeError: the step at node 'bad' cannot be stored: "
    )
    assert "run.vars.scratch.when" in state.error
    stored = runtime.get_state(run_id)
    assert stored.status.value == "failed" and stored.error == state.error
    assert "scratch" not in stored.vars
    assert stored.vars["answer"] == {"ok": True}
    new = [json.loads(line) for line in ledger.lines[run_id][len(before_ledger) :]]
    assert [r["status"] for r in new] == ["completed", "failed", "completed"]  # resume, failure, status
    assert new[1]["node_id"] == "bad" and new[1]["error"] == state.error
    assert new[1]["effect"] == {"type": "answer_user", "payload": {"message": "hi"}, "result_key": None}
    assert new[2]["result"]["payload"] == {"text": "failed"}
