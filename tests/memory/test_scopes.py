"""Memory scopes: run, session and global owner runs, and concurrent writers (SPEC §4.9)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from memory_harness import Harness

from abstractruntime import (
    Effect,
    EffectType,
    InMemoryLedgerStore,
    JsonFileRunStore,
    RunStatus,
    StepPlan,
    WorkflowSpec,
)
from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLedgerStore, SqliteRunStore


def _note(h: Harness, text: str, **payload: Any) -> dict:
    entry = h.tool(EffectType.MEMORY_NOTE, {"note": text, **payload})
    assert entry["success"], entry["error"]
    return entry["output"]


def _query_ids(h: Harness, **payload: Any) -> list[str]:
    entry = h.tool(EffectType.MEMORY_QUERY, {"return": "meta", **payload})
    assert entry["success"], entry["error"]
    return entry["meta"]["span_ids"]


def test_session_scope_owner_run(runtime) -> None:
    a = Harness(runtime, session_id="s1", actor_id="alice")
    b = Harness(runtime, session_id="s1")
    out = _note(a, "shared in the session", scope="session")
    assert out["owner_run_id"] == "session_memory_s1"
    owner = runtime.get_state("session_memory_s1")
    assert owner.status == RunStatus.COMPLETED
    assert owner.workflow_id == "__session_memory__"
    assert owner.session_id == "s1"
    assert owner.vars["_runtime"]["memory_spans"][0]["artifact_id"] == out["span_id"]
    assert a.spans == []
    assert _query_ids(b, scope="session") == [out["span_id"]]
    assert _query_ids(b) == []  # run scope: b has no spans
    other_session = Harness(runtime, session_id="s2")
    assert _query_ids(other_session, scope="session") == []
    assert runtime.run_store.load("session_memory_s2") is None  # queries never create owner runs


def test_unsafe_session_id_is_hashed(runtime) -> None:
    sid = "user@example.com/chat 1"
    h = Harness(runtime, session_id=sid)
    out = _note(h, "x", scope="session")
    expected = "session_memory_sha_" + hashlib.sha256(sid.encode()).hexdigest()[:32]
    assert out["owner_run_id"] == expected
    assert runtime.get_state(expected).session_id == sid


def test_session_scope_without_session_uses_root_run_id(runtime) -> None:
    root = Harness(runtime)
    child = Harness(runtime, parent_run_id=root.run_id)
    grandchild = Harness(runtime, parent_run_id=child.run_id)
    out = _note(grandchild, "legacy session memory", scope="session")
    assert out["owner_run_id"] == f"session_memory_{root.run_id}"
    owner = runtime.get_state(out["owner_run_id"])
    assert (owner.workflow_id, owner.status) == ("__session_memory__", RunStatus.COMPLETED)
    assert root.spans == []  # the root run itself is never written
    assert _query_ids(child, scope="session") == [out["span_id"]]
    assert _query_ids(root, scope="session") == [out["span_id"]]
    unrelated = Harness(runtime)
    assert _query_ids(unrelated, scope="session") == []


def test_session_note_from_a_sync_child_does_not_break_the_parent(make_runtime, tmp_path: Path) -> None:
    """The parent is mid-step (START_SUBWORKFLOW) while its child writes session memory."""
    db = SqliteDatabase(tmp_path / "rt.db")
    child = WorkflowSpec(
        "child",
        "n",
        {
            "n": lambda run, ctx: StepPlan(
                "n", effect=Effect(EffectType.MEMORY_NOTE, {"note": "hi", "scope": "session"})
            )
        },
    )
    parent = WorkflowSpec(
        "parent",
        "p",
        {
            "p": lambda run, ctx: StepPlan(
                "p",
                effect=Effect(EffectType.START_SUBWORKFLOW, {"workflow_id": "child"}, result_key="c"),
                next_node="q",
            ),
            "q": lambda run, ctx: StepPlan("q", complete_output={"ok": True}),
        },
    )
    registry = {"child": child}

    class Registry:
        def get(self, workflow_id: str) -> WorkflowSpec | None:
            return registry.get(workflow_id)

    runtime = make_runtime(
        run_store=SqliteRunStore(db), ledger_store=SqliteLedgerStore(db), workflow_registry=Registry()
    )
    run_id = runtime.start(workflow=parent)
    state = runtime.tick(workflow=parent, run_id=run_id)
    assert state.status == RunStatus.COMPLETED
    spans = runtime.get_state(f"session_memory_{run_id}").vars["_runtime"]["memory_spans"]
    assert [s["note_preview"] for s in spans] == ["hi"]
    db.close()


def test_global_scope_and_env_override(runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(runtime, session_id="s1")
    out = _note(h, "global fact", scope="global", tags={"topic": "facts"})
    assert out["owner_run_id"] == "global_memory"
    owner = runtime.get_state("global_memory")
    assert (owner.status, owner.workflow_id, owner.session_id) == (
        RunStatus.COMPLETED,
        "__global_memory__",
        None,
    )
    monkeypatch.setenv("ABSTRACTRUNTIME_GLOBAL_MEMORY_RUN_ID", "  team_memory ")
    out2 = _note(h, "team fact", scope="global")
    assert out2["owner_run_id"] == "team_memory"
    assert runtime.get_state("team_memory").workflow_id == "__global_memory__"
    assert _query_ids(h, scope="global") == [out2["span_id"]]
    monkeypatch.delenv("ABSTRACTRUNTIME_GLOBAL_MEMORY_RUN_ID")
    assert _query_ids(h, scope="global") == [out["span_id"]]


def test_query_scope_all_and_tagging_other_scopes(runtime, clock) -> None:
    h = Harness(runtime, session_id="s1")
    run_note = _note(h, "run level postgres")["span_id"]
    clock.advance(60)
    session_note = _note(h, "session level postgres", scope="session")["span_id"]
    clock.advance(60)
    global_note = _note(h, "global level postgres", scope="global")["span_id"]
    entry = h.tool(EffectType.MEMORY_QUERY, {"scope": "all", "query": "postgres", "return": "meta"})
    spans = entry["output"]["spans"]
    assert [s["span_id"] for s in spans] == [global_note, session_note, run_note]
    assert [s["scope"] for s in spans] == ["global", "session", "run"]
    assert entry["meta"]["owner_run_ids"] == [h.run_id, "session_memory_s1", "global_memory"]
    tagged = h.tool(EffectType.MEMORY_TAG, {"span_id": 1, "scope": "session", "tags": {"topic": "db"}})
    assert tagged["success"], tagged["error"]
    assert runtime.get_state("session_memory_s1").vars["_runtime"]["memory_spans"][0]["tags"] == {
        "topic": "db"
    }
    assert _query_ids(h, scope=["session", "global"], tags={"topic": "db"}) == [session_note]


def test_note_to_target_run(runtime) -> None:
    target = Harness(runtime)
    worker = Harness(runtime)
    out = _note(worker, "for the other run", target_run_id=target.run_id)
    assert out["owner_run_id"] == target.run_id
    assert target.spans[0]["artifact_id"] == out["span_id"]
    assert worker.spans == []


class RacingRunStore:
    """Wraps a revisioned store; before chosen commits, another writer adds a span to the same run."""

    def __init__(self, inner: Any, ledger: Any, *, run_id: str, races: int) -> None:
        self.inner = inner
        self.ledger = ledger
        self.run_id = run_id
        self.races = races
        self.conflicts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def commit(self, run, records, *, ledger_store, expected_revision):
        if run.run_id == self.run_id and expected_revision is not None and self.races > 0:
            self.races -= 1
            self.conflicts += 1
            checkpoint = self.inner.load_checkpoint(self.run_id)
            spans = checkpoint.run.vars["_runtime"]["memory_spans"]
            spans.append({"kind": "memory_note", "artifact_id": f"other_{self.conflicts}"})
            self.inner.commit(
                checkpoint.run, (), ledger_store=ledger_store, expected_revision=checkpoint.revision
            )
        return self.inner.commit(run, records, ledger_store=ledger_store, expected_revision=expected_revision)


@pytest.fixture(params=["files", "sqlite"])
def durable_run_store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "files":
        yield JsonFileRunStore(tmp_path / "runs")
        return
    db = SqliteDatabase(tmp_path / "runs.db")
    yield SqliteRunStore(db)
    db.close()


def test_concurrent_writer_never_loses_a_span(make_runtime, durable_run_store) -> None:
    ledger = InMemoryLedgerStore()
    racing = RacingRunStore(durable_run_store, ledger, run_id="global_memory", races=2)
    runtime = make_runtime(run_store=racing, ledger_store=ledger)
    h = Harness(runtime)
    out = _note(h, "mine", scope="global")
    assert racing.conflicts == 2
    ids = [s["artifact_id"] for s in runtime.get_state("global_memory").vars["_runtime"]["memory_spans"]]
    assert ids == ["other_1", "other_2", out["span_id"]]


def test_endless_conflicts_give_a_tool_error(make_runtime, durable_run_store) -> None:
    ledger = InMemoryLedgerStore()
    racing = RacingRunStore(durable_run_store, ledger, run_id="global_memory", races=100)
    runtime = make_runtime(run_store=racing, ledger_store=ledger)
    h = Harness(runtime)
    entry = h.tool(EffectType.MEMORY_NOTE, {"note": "mine", "scope": "global"})
    assert entry["success"] is False
    assert "could not update run global_memory" in entry["error"]
    assert "changed by another writer" in entry["error"]  # the ConcurrencyError text
