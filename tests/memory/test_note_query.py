"""MEMORY_NOTE and MEMORY_QUERY through the public Runtime API (SPEC §4.9)."""

from __future__ import annotations

import pytest
from memory_harness import FakeSummarizer, Harness, conversation

from abstractruntime import EffectType, RunStatus
from abstractruntime.testing import FakeClock


def note(h: Harness, text: str, **payload: object) -> dict:
    entry = h.tool(EffectType.MEMORY_NOTE, {"note": text, **payload})
    assert entry["success"], entry["error"]
    return entry["output"]


def query(h: Harness, **payload: object) -> dict:
    entry = h.tool(EffectType.MEMORY_QUERY, payload)
    assert entry["success"], entry["error"]
    return entry


def test_note_stores_artifact_and_span(harness: Harness, artifacts, clock: FakeClock) -> None:
    out = note(
        harness,
        "Alice prefers PostgreSQL for the billing service",
        tags={"topic": "database", "person": "alice"},
        location="Paris",
        sources={"span_ids": ["x1"], "message_ids": ["m1"]},
    )
    assert out["stored"] is True
    assert out["scope"] == "run"
    assert out["owner_run_id"] == harness.run_id
    assert out["span_index"] == 1
    span = harness.spans[0]
    assert span == {
        "kind": "memory_note",
        "artifact_id": out["span_id"],
        "created_at": clock.iso(),
        "from_timestamp": clock.iso(),
        "to_timestamp": clock.iso(),
        "message_count": 0,
        "note_preview": "Alice prefers PostgreSQL for the billing service",
        "source_run_id": harness.run_id,
        "tags": {"topic": "database", "person": "alice"},
        "sources": {"run_id": harness.run_id, "span_ids": ["x1"], "message_ids": ["m1"]},
        "location": "Paris",
        "created_by": "alice",
    }
    meta = artifacts.get_metadata(out["span_id"])
    assert meta.tags == {"kind": "memory_note", "scope": "run"}
    assert meta.run_id == harness.run_id
    stored = artifacts.load_json(out["span_id"])
    assert stored["note"] == "Alice prefers PostgreSQL for the billing service"
    assert stored["created_by"] == "alice"


def test_note_result_is_tool_shaped_with_default_name(harness: Harness) -> None:
    result = harness.call(EffectType.MEMORY_NOTE, {"note": "n", "call_id": "abc"})
    assert result["mode"] == "executed"
    entry = result["results"][0]
    assert (entry["call_id"], entry["name"], entry["success"], entry["error"]) == (
        "abc",
        "remember_note",
        True,
        None,
    )
    named = harness.tool(EffectType.MEMORY_NOTE, {"note": "n2", "tool_name": "save_it"})
    assert named["name"] == "save_it"


def test_note_preview_is_cut_and_keep_in_context(harness: Harness) -> None:
    long_note = "word " * 100
    out = note(harness, long_note, keep_in_context=True)
    span = harness.spans[0]
    assert len(span["note_preview"]) == 160
    assert span["note_preview"].endswith("…")
    assert out["kept_in_context"] is True
    message = harness.messages[-1]
    assert message["role"] == "system"
    assert message["content"] == f"[MEMORY NOTE span_id={out['span_id']}]: {long_note.strip()}"
    assert message["metadata"]["kind"] == "memory_note"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({}, "memory_note requires payload.note"),
        ({"note": "   "}, "memory_note requires payload.note"),
        ({"note": "x", "scope": "planet"}, "unknown memory scope"),
        ({"note": "x", "target_run_id": "nope"}, "unknown target run nope"),
    ],
)
def test_note_errors_are_tool_errors(harness: Harness, payload: dict, error: str) -> None:
    entry = harness.tool(EffectType.MEMORY_NOTE, payload)
    assert entry["success"] is False
    assert error in entry["error"]


@pytest.mark.parametrize(
    "effect_type", [EffectType.MEMORY_NOTE, EffectType.MEMORY_QUERY, EffectType.MEMORY_COMPACT]
)
def test_missing_artifact_store_names_the_effect(make_runtime, effect_type: EffectType) -> None:
    h = Harness(make_runtime(artifact_store=None))
    entry = h.tool(effect_type, {"note": "x"})
    assert entry["success"] is False
    assert f"{effect_type.value} requires an artifact store" in entry["error"]


def _seed(h: Harness, clock: FakeClock) -> list[str]:
    ids = []
    ids.append(note(h, "Billing uses PostgreSQL 16", tags={"topic": "database"}, location="Paris")["span_id"])
    clock.advance(hours=1)
    ids.append(
        note(h, "Deploy on Fridays is forbidden", tags=["topic=deploy", "urgent"], location="Berlin")[
            "span_id"
        ]
    )
    clock.advance(hours=1)
    ids.append(
        note(h, "Bob owns the PostgreSQL backups", tags={"topic": "database", "person": "bob"})["span_id"]
    )
    return ids


def test_query_by_tag_time_keyword_author_location(harness: Harness, clock: FakeClock) -> None:
    ids = _seed(harness, clock)
    by_tag = query(harness, tags={"topic": "database"}, **{"return": "meta"})
    assert [s["span_id"] for s in by_tag["output"]["spans"]] == [ids[2], ids[0]]  # newest first
    any_tag = query(harness, tags=["topic=deploy", "person=bob"], tags_mode="any", **{"return": "meta"})
    assert {s["span_id"] for s in any_tag["output"]["spans"]} == {ids[1], ids[2]}
    bare = query(harness, tags=["urgent"], **{"return": "meta"})
    assert [s["span_id"] for s in bare["output"]["spans"]] == [ids[1]]
    by_time = query(harness, since="2026-01-01T10:30:00Z", until="2026-01-01T11:00:00Z", **{"return": "meta"})
    assert [s["span_id"] for s in by_time["output"]["spans"]] == [ids[1]]
    by_keyword = query(harness, query="who handles postgresql backups?", **{"return": "meta"})
    spans = by_keyword["output"]["spans"]
    assert [s["span_id"] for s in spans] == [ids[2], ids[0]]  # 2 keywords beat 1
    assert spans[0]["score"] == 2
    by_location = query(harness, locations=["paris"], **{"return": "meta"})
    assert [s["span_id"] for s in by_location["output"]["spans"]] == [ids[0]]
    assert query(harness, authors=["ALICE"], **{"return": "meta"})["meta"]["count"] == 3
    assert query(harness, authors=["bob"], **{"return": "meta"})["meta"]["count"] == 0


def test_query_limits_span_ids_and_return_modes(harness: Harness, clock: FakeClock) -> None:
    ids = _seed(harness, clock)
    limited = query(harness, limit_spans=1)
    assert limited["meta"]["span_ids"] == [ids[2]]
    assert isinstance(limited["output"], str)
    assert "Bob owns the PostgreSQL backups" in limited["output"]
    assert limited["output"].startswith("Recalled 1 memory span(s)")
    by_index = query(harness, span_ids=[1, ids[1]], **{"return": "meta"})
    assert {s["span_id"] for s in by_index["output"]["spans"]} == {ids[0], ids[1]}
    assert {s["span_index"] for s in by_index["output"]["spans"]} == {1, 2}
    single = query(harness, span_id="3", **{"return": "both"})
    assert single["output"]["count"] == 1
    assert single["output"]["spans"][0]["span_id"] == ids[2]
    assert "span_id=" + ids[2] in single["output"]["rendered"]
    none = query(harness, query="kubernetes")
    assert none["output"].startswith("No matching memory spans")
    assert query(harness, **{"return": "weird"})["meta"]["warnings"]


def test_query_bad_inputs(harness: Harness) -> None:
    bad_time = harness.tool(EffectType.MEMORY_QUERY, {"since": "yesterday"})
    assert bad_time["success"] is False and "since" in bad_time["error"]
    bad_scope = harness.tool(EffectType.MEMORY_QUERY, {"scope": "cosmos"})
    assert bad_scope["success"] is False and "unknown scope" in bad_scope["error"]
    assert harness.tool(EffectType.MEMORY_QUERY, {})["name"] == "recall_memory"


def test_query_connected_neighbours_and_recall_levels(harness: Harness, clock: FakeClock) -> None:
    ids = _seed(harness, clock)
    plain = query(harness, query="Fridays", **{"return": "meta"})
    assert plain["meta"]["span_ids"] == [ids[1]]
    connected = query(harness, query="backups", connected=True, **{"return": "meta"})
    spans = connected["output"]["spans"]
    assert [s["span_id"] for s in spans] == [ids[2], ids[0]]
    assert spans[1]["connected_via"] == "topic=database"
    deep = query(harness, query="backups", recall_level="deep", **{"return": "meta"})
    assert deep["meta"]["recall_level"] == "deep"
    assert deep["meta"]["effort"]["limit_spans"] == 12
    assert deep["meta"]["span_ids"] == [ids[2], ids[0]]
    urgent = query(harness, recall_level="urgent", limit_spans=2)
    assert urgent["meta"]["effort"]["limit_spans"] == 2  # explicit keys win over the preset
    assert urgent["meta"]["effort"]["max_messages"] == 30


def test_deep_query_scans_archived_messages(make_runtime, clock: FakeClock) -> None:
    h = Harness(make_runtime(chat_summarizer=FakeSummarizer("short")))
    h.set_messages(conversation(10))
    compact = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})
    assert compact["success"], compact["error"]
    span_id = compact["output"]["span_id"]
    shallow = query(h, query="deployment", **{"return": "meta"})
    assert shallow["meta"]["count"] == 0
    deep = query(h, query="deployment", deep=True, **{"return": "both"})
    assert deep["meta"]["span_ids"] == [span_id]
    assert deep["output"]["spans"][0]["deep_hits"] == 6  # messages 2..7 mention deployment
    assert "matching messages:" in deep["output"]["rendered"]
    capped = query(h, query="deployment", deep=True, deep_limit_messages_per_span=2)
    assert capped["meta"]["count"] == 0
    rendered = query(h, span_id=span_id, max_messages=3)
    assert rendered["output"].count("      - ") == 3
    assert "summary: short" in rendered["output"]


def test_failed_run_never_happens_for_tool_errors(harness: Harness) -> None:
    state = harness.call_state(EffectType.MEMORY_QUERY, {"scope": "nowhere"})
    assert state.status == RunStatus.WAITING
