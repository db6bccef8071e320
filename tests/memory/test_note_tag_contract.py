"""MEMORY_NOTE, MEMORY_TAG and MEMORY_REHYDRATE as a user's program sees them (SPEC §4.9)."""

from __future__ import annotations

from typing import Any

from memory_harness import FakeSummarizer, Harness, conversation

from abstractruntime import EffectType, Runtime, is_artifact_ref, resolve_artifact
from abstractruntime.storage.artifacts import InMemoryArtifactStore


def _note(h: Harness, text: str, **payload: Any) -> dict[str, Any]:
    entry = h.tool(EffectType.MEMORY_NOTE, {"note": text, **payload})
    assert entry["success"], entry["error"]
    return dict(entry["output"])


def _owner_spans(runtime: Runtime, run_id: str) -> list[dict[str, Any]]:
    return list(runtime.get_state(run_id).vars["_runtime"]["memory_spans"])


def test_note_result_carries_the_artifact_ref_and_the_span(
    harness: Harness, artifacts: InMemoryArtifactStore
) -> None:
    out = _note(harness, "Invoices are archived for ten years", tags={"topic": "billing"})
    ref = out["artifact_ref"]
    assert is_artifact_ref(ref)
    assert ref["$artifact"] == out["artifact_id"] == out["span_id"]
    artifact = resolve_artifact(ref, artifacts)
    assert artifact is not None
    assert artifact.as_json()["note"] == "Invoices are archived for ten years"
    assert out["span"] == harness.spans[0]
    assert out["span"]["kind"] == "memory_note"
    assert out["span"]["tags"] == {"topic": "billing"}


def test_session_note_goes_to_the_session_memory_run_and_keeps_its_source(
    runtime: Runtime, artifacts: InMemoryArtifactStore
) -> None:
    writer = Harness(runtime, session_id="chat-7", actor_id="alice")
    out = _note(writer, "The customer wants weekly reports", scope="session")
    assert out["owner_run_id"] == "session_memory_chat-7"
    assert out["source_run_id"] == writer.run_id
    [span] = _owner_spans(runtime, "session_memory_chat-7")
    assert span["source_run_id"] == writer.run_id
    assert span["artifact_id"] == out["span_id"]
    assert artifacts.load_json(out["span_id"])["source_run_id"] == writer.run_id
    assert writer.spans == []  # not indexed in the writing run


def test_session_note_without_session_id_is_shared_by_the_run_tree(runtime: Runtime) -> None:
    root = Harness(runtime)
    child = Harness(runtime, parent_run_id=root.run_id)
    out = _note(child, "tree-wide fact", scope="session")
    # the run-tree root stands in for the missing session id (docs/memory.md, "Scopes")
    assert out["owner_run_id"] == f"session_memory_{root.run_id}"
    [span] = _owner_spans(runtime, out["owner_run_id"])
    assert span["source_run_id"] == child.run_id
    sibling = Harness(runtime, parent_run_id=root.run_id)
    found = sibling.tool(EffectType.MEMORY_QUERY, {"scope": "session", "return": "meta"})
    assert found["output"]["span_ids"] == [out["span_id"]]


def test_keep_in_context_inserts_a_synthetic_note_message(runtime: Runtime) -> None:
    h = Harness(runtime, session_id="s9")
    h.set_messages([{"role": "user", "content": "hello"}])
    out = _note(h, "Use metric units", scope="session", keep_in_context=True)
    assert out["kept_in_context"] is True
    message = h.messages[-1]
    assert message["role"] == "system"
    assert message["content"] == f"[MEMORY NOTE span_id={out['span_id']}]: Use metric units"
    assert message["metadata"]["message_id"] == f"memory_note:{out['span_id']}"
    assert message["metadata"]["span_id"] == out["span_id"]
    # the message goes into the active context of the writing run, the span into the session index
    assert runtime.get_state("session_memory_s9").vars["context"]["messages"] == []
    plain = _note(h, "not kept")
    assert plain["kept_in_context"] is False
    assert len(h.messages) == 2


def test_tag_merges_into_a_session_scoped_span_from_another_run(runtime: Runtime) -> None:
    first = Harness(runtime, session_id="s1")
    span_id = _note(first, "Bob approved the budget", scope="session", tags={"topic": "budget"})["span_id"]
    second = Harness(runtime, session_id="s1")
    entry = second.tool(
        EffectType.MEMORY_TAG,
        {"span_id": span_id, "scope": "session", "tags": ["person=bob", "status:approved"]},
    )
    assert entry["success"], entry["error"]
    merged = {"topic": "budget", "person": "bob", "status": "approved"}
    assert entry["output"]["tags"] == merged
    assert entry["output"]["owner_run_id"] == "session_memory_s1"
    assert _owner_spans(runtime, "session_memory_s1")[0]["tags"] == merged
    again = second.tool(EffectType.MEMORY_TAG, {"span_id": 1, "scope": "session", "tags": {"topic": "q3"}})
    assert again["output"]["tags"] == {"topic": "q3", "person": "bob", "status": "approved"}
    third = Harness(runtime, session_id="s1")
    found = third.tool(
        EffectType.MEMORY_QUERY, {"scope": "session", "tags": {"person": "bob"}, "return": "meta"}
    )
    assert found["output"]["span_ids"] == [span_id]


def test_rehydrate_inserts_conversation_spans_and_notes(make_runtime) -> None:
    runtime = make_runtime(chat_summarizer=FakeSummarizer())
    h = Harness(runtime, session_id="s1")
    h.set_messages(conversation(6))
    span_id = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})["output"]["span_id"]
    note_id = _note(h, "Staging runs on port 8443")["span_id"]
    session_note = _note(h, "Prod freeze in December", scope="session")["span_id"]
    result = h.call(EffectType.MEMORY_REHYDRATE, {"span_ids": [span_id, note_id, session_note]})
    kinds = {a["span_id"]: (a["kind"], a["inserted"], a["error"]) for a in result["artifacts"]}
    assert kinds == {
        span_id: ("conversation_span", 4, None),
        note_id: ("memory_note", 1, None),
        session_note: ("memory_note", 1, None),  # not indexed in this run: loaded by artifact id
    }
    ids = [m["metadata"]["message_id"] for m in h.messages]
    # notes join the leading system block (system prompt, summary); the archived conversation
    # follows it, before the recent messages that were never archived
    assert ids[2:4] == [f"memory_note:{note_id}", f"memory_note:{session_note}"]
    assert ids[4:] == ["m0", "m1", "m2", "m3", "m4", "m5"]
    note_message = next(m for m in h.messages if m["metadata"]["message_id"] == f"memory_note:{note_id}")
    assert note_message["content"] == f"[MEMORY NOTE span_id={note_id}]: Staging runs on port 8443"
    again = h.call(EffectType.MEMORY_REHYDRATE, {"span_ids": [span_id, note_id], "call_id": "again"})
    assert (again["inserted"], again["skipped"]) == (0, 5)


def test_rehydrate_skips_a_note_already_kept_in_context(harness: Harness) -> None:
    note_id = _note(harness, "Always answer in French", keep_in_context=True)["span_id"]
    result = harness.call(EffectType.MEMORY_REHYDRATE, {"span_ids": [note_id]})
    assert (result["inserted"], result["skipped"]) == (0, 1)
    assert [m["metadata"]["message_id"] for m in harness.messages] == [f"memory_note:{note_id}"]
