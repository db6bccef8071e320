"""The memory effects over FileArtifactStore + SQLite stores, across a process-like restart."""

from __future__ import annotations

from pathlib import Path

from memory_harness import HARNESS_FLOW, FakeLLM, FakeSummarizer, Harness, conversation

from abstractruntime import EffectType, Runtime, SqliteDatabase, SqliteLedgerStore, SqliteRunStore
from abstractruntime.memory import ActiveContextPolicy
from abstractruntime.storage.artifacts import FileArtifactStore
from abstractruntime.testing import FakeClock


def _runtime(tmp_path: Path, clock: FakeClock) -> tuple[Runtime, SqliteDatabase]:
    db = SqliteDatabase(tmp_path / "runtime.db")
    runtime = Runtime(
        run_store=SqliteRunStore(db),
        ledger_store=SqliteLedgerStore(db),
        artifact_store=FileArtifactStore(tmp_path / "data", clock=clock),
        chat_summarizer=FakeSummarizer("Decided: PostgreSQL."),
        clock=clock,
    )
    return runtime, db


def test_memory_lifecycle_on_files_and_sqlite(tmp_path: Path, clock: FakeClock) -> None:
    runtime, db = _runtime(tmp_path, clock)
    h = Harness(runtime, session_id="sess-1", actor_id="alice")
    h.set_messages(conversation(10))
    compact = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})
    assert compact["success"], compact["error"]
    span_id = compact["output"]["span_id"]
    assert (tmp_path / "data" / "artifacts" / "refs" / f"{span_id}.meta").exists()
    note = h.tool(
        EffectType.MEMORY_NOTE, {"note": "backups at 2am", "scope": "session", "tags": {"topic": "db"}}
    )
    assert note["success"], note["error"]
    tag = h.tool(EffectType.MEMORY_TAG, {"span_id": span_id, "tags": {"topic": "db"}})
    assert tag["success"], tag["error"]
    db.close()

    # a new runtime over the same files: everything is still there
    runtime2, db2 = _runtime(tmp_path, clock)
    h.runtime = runtime2
    state = runtime2.get_state(h.run_id)
    assert state.vars["_runtime"]["memory_spans"][0]["tags"] == {"topic": "db"}
    owner = runtime2.get_state("session_memory_sess-1")
    assert owner.workflow_id == "__session_memory__"
    assert owner.vars["_runtime"]["memory_spans"][0]["artifact_id"] == note["output"]["span_id"]
    found = h.tool(EffectType.MEMORY_QUERY, {"scope": "all", "tags": {"topic": "db"}, "return": "both"})
    assert set(found["meta"]["span_ids"]) == {span_id, note["output"]["span_id"]}
    assert "backups at 2am" in found["output"]["rendered"]
    assert "message 0 about databases" in found["output"]["rendered"]
    rehydrated = h.call(EffectType.MEMORY_REHYDRATE, {"span_ids": [span_id]})
    assert rehydrated["inserted"] == 8
    policy = ActiveContextPolicy(run_store=runtime2.run_store, artifact_store=runtime2.artifact_store)
    assert [s["artifact_id"] for s in policy.filter_spans(h.run_id, tags={"topic": "db"})] == [span_id]
    again = policy.rehydrate_into_context(h.run_id, span_ids=[span_id])
    assert (again["inserted"], again["skipped"]) == (0, 8)
    assert len(runtime2.get_state(h.run_id).vars["context"]["messages"]) == 12
    # the run is still drivable after the policy's revisioned save
    assert runtime2.get_state(h.run_id).current_node == "ask"
    assert HARNESS_FLOW.workflow_id == runtime2.get_state(h.run_id).workflow_id
    assert h.tool(EffectType.MEMORY_QUERY, {})["success"]
    db2.close()


def test_llm_compaction_child_run_on_sqlite(tmp_path: Path, clock: FakeClock) -> None:
    llm = FakeLLM()
    db = SqliteDatabase(tmp_path / "runtime.db")
    runtime = Runtime(
        run_store=SqliteRunStore(db),
        ledger_store=SqliteLedgerStore(db),
        artifact_store=FileArtifactStore(tmp_path / "data", clock=clock),
        effect_handlers={EffectType.LLM_CALL: llm},
        clock=clock,
    )
    h = Harness(runtime, session_id="s")
    h.set_messages(conversation(8))
    entry = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})
    assert entry["success"], entry["error"]
    child = runtime.get_state(entry["meta"]["llm_run_id"])
    assert (child.workflow_id, child.status, child.parent_run_id) == (
        "wf_memory_compact_llm",
        "completed",
        h.run_id,
    )
    assert [r["status"] for r in runtime.get_ledger(child.run_id)][:2] == ["started", "completed"]
    assert h.messages[1]["content"].startswith(
        f"[CONVERSATION HISTORY SUMMARY span_id={entry['output']['span_id']}]: "
    )
    db.close()
