"""MEMORY_TAG and MEMORY_REHYDRATE (SPEC §4.9)."""

from __future__ import annotations

import pytest
from memory_harness import FakeSummarizer, Harness, conversation

from abstractruntime import EffectType, RunStatus


def _note(h: Harness, text: str, **payload: object) -> str:
    entry = h.tool(EffectType.MEMORY_NOTE, {"note": text, **payload})
    assert entry["success"], entry["error"]
    return entry["output"]["span_id"]


def test_tag_merge_and_replace(harness: Harness) -> None:
    span_id = _note(harness, "n", tags={"topic": "db", "person": "alice"})
    merged = harness.tool(
        EffectType.MEMORY_TAG, {"span_id": span_id, "tags": {"topic": "infra", "status": "done"}}
    )
    assert merged["success"], merged["error"]
    assert merged["name"] == "remember"
    assert merged["output"]["tags"] == {"topic": "infra", "person": "alice", "status": "done"}
    assert merged["output"]["merged"] is True
    assert harness.spans[0]["tags"] == {"topic": "infra", "person": "alice", "status": "done"}
    replaced = harness.tool(EffectType.MEMORY_TAG, {"span_id": 1, "tags": ["k=v", "flag"], "merge": False})
    assert replaced["output"]["tags"] == {"k": "v", "tag": "flag"}
    assert harness.spans[0]["tags"] == {"k": "v", "tag": "flag"}
    cleared = harness.tool(EffectType.MEMORY_TAG, {"span_id": "1", "tags": {}, "merge": False})
    assert cleared["success"]
    assert "tags" not in harness.spans[0]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"tags": {"a": "b"}}, "requires payload.span_id"),
        ({"span_id": 7, "tags": {"a": "b"}}, "unknown span_id"),
        ({"span_id": "nope", "tags": {"a": "b"}}, "unknown span_id"),
        ({"span_id": 1, "scope": "global"}, "no span index for scope global"),
        ({"span_id": 1, "scope": "x"}, "unknown memory scope"),
    ],
)
def test_tag_errors(harness: Harness, payload: dict, error: str) -> None:
    _note(harness, "n")
    entry = harness.tool(EffectType.MEMORY_TAG, payload)
    assert entry["success"] is False
    assert error in entry["error"]


def _compacted(make_runtime, count: int = 10, preserve: int = 2) -> tuple[Harness, str]:
    h = Harness(make_runtime(chat_summarizer=FakeSummarizer()))
    h.set_messages(conversation(count))
    entry = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": preserve})
    return h, entry["output"]["span_id"]


def test_rehydrate_after_summary_then_dedup(make_runtime) -> None:
    h, span_id = _compacted(make_runtime)
    result = h.call(EffectType.MEMORY_REHYDRATE, {"span_ids": [span_id]})
    assert result["inserted"] == 8
    assert result["skipped"] == 0
    assert result["warnings"] == []
    assert result["effort"] == {
        "recall_level": None,
        "max_messages": None,
        "placement": "after_summary",
        "dedup_by": "message_id",
    }
    [artifact] = result["artifacts"]
    assert artifact == {
        "span_id": span_id,
        "inserted": 8,
        "skipped": 0,
        "error": None,
        "kind": "conversation_span",
        "preview": "message 0 about databases",
    }
    ids = [m["metadata"]["message_id"] for m in h.messages]
    summary_id = h.spans[0]["summary_message_id"]
    assert ids[1] == summary_id
    assert ids[2:] == [f"m{i}" for i in range(10)]
    assert h.messages[2]["metadata"]["rehydrated_from"] == span_id
    again = h.call(EffectType.MEMORY_REHYDRATE, {"span_id": 1})  # legacy key, 1-based index
    assert (again["inserted"], again["skipped"]) == (0, 8)
    assert len(h.messages) == 12


def test_rehydrate_placement_and_max_messages(make_runtime) -> None:
    h, span_id = _compacted(make_runtime)
    end = h.call(EffectType.MEMORY_REHYDRATE, {"span_ids": [span_id], "placement": "end", "max_messages": 3})
    assert (end["inserted"], end["skipped"]) == (3, 5)
    assert any("max_messages=3" in w for w in end["warnings"])
    assert [m["metadata"]["message_id"] for m in h.messages[-3:]] == ["m0", "m1", "m2"]
    h2, span2 = _compacted(make_runtime)
    system = h2.call(
        EffectType.MEMORY_REHYDRATE,
        {"span_ids": [span2], "placement": "after_system", "recall_level": "urgent"},
    )
    assert system["effort"]["max_messages"] == 20
    assert system["effort"]["recall_level"] == "urgent"
    # after the leading system block: the system prompt and the summary
    assert h2.messages[2]["metadata"]["message_id"] == "m0"
    h3, span3 = _compacted(make_runtime)
    nodedup = h3.call(
        EffectType.MEMORY_REHYDRATE, {"span_ids": [span3], "dedup_by": "none", "placement": "end"}
    )
    assert nodedup["effort"]["dedup_by"] is None
    nodedup2 = h3.call(
        EffectType.MEMORY_REHYDRATE, {"span_ids": [span3], "dedup_by": "none", "placement": "end"}
    )
    assert nodedup2["inserted"] == 8


def test_rehydrate_summary_missing_falls_back_with_warning(make_runtime) -> None:
    h, span_id = _compacted(make_runtime)
    h.set_messages([{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}])
    result = h.call(EffectType.MEMORY_REHYDRATE, {"span_ids": [span_id]})
    assert result["inserted"] == 8
    assert "no summary message" in result["warnings"][0]
    assert h.messages[0]["content"] == "sys"
    assert h.messages[1]["metadata"]["message_id"] == "m0"
    assert h.messages[-1]["content"] == "hi"


def test_rehydrate_notes_unknown_ids_and_bad_placement(harness: Harness) -> None:
    span_id = _note(harness, "Remember the milk")
    result = harness.call(
        EffectType.MEMORY_REHYDRATE, {"span_ids": [span_id, 9, "missing_artifact"], "placement": "sideways"}
    )
    assert result["inserted"] == 1
    assert harness.messages[0]["content"] == f"[MEMORY NOTE span_id={span_id}]: Remember the milk"
    entries = {a["span_id"]: a for a in result["artifacts"]}
    assert entries[span_id]["kind"] == "memory_note"
    assert entries["9"]["error"] == "unknown span id 9"
    assert "not found" in entries["missing_artifact"]["error"]
    assert any("unknown placement" in w for w in result["warnings"])
    empty = harness.call(EffectType.MEMORY_REHYDRATE, {})
    assert empty["inserted"] == 0 and empty["warnings"]


def test_rehydrate_without_store_fails_the_run(make_runtime) -> None:
    h = Harness(make_runtime(artifact_store=None))
    state = h.call_state(EffectType.MEMORY_REHYDRATE, {"span_ids": ["x"]})
    assert state.status == RunStatus.FAILED
    assert "memory_rehydrate requires an artifact store" in state.error


def test_rehydrate_target_run(make_runtime) -> None:
    runtime = make_runtime(chat_summarizer=FakeSummarizer())
    target = Harness(runtime)
    target.set_messages(conversation(6))
    span_id = target.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 1})["output"]["span_id"]
    worker = Harness(runtime)
    result = worker.call(EffectType.MEMORY_REHYDRATE, {"span_ids": [1], "target_run_id": target.run_id})
    assert result["inserted"] == 5
    assert result["artifacts"][0]["span_id"] == span_id
    assert len(target.messages) == 8
    state = worker.call_state(EffectType.MEMORY_REHYDRATE, {"span_ids": [1], "target_run_id": "ghost"})
    assert state.status == RunStatus.FAILED
    assert "unknown target run ghost" in state.error
