"""Memory nodes compile to their effects with pins mapped to payload keys, and map results to their pins."""

from __future__ import annotations

from typing import Any

from vf_builders import EXEC, OUT, edge, end, flow, node, pin, start
from vf_node_support import FlowRun, Recorder, one_node, run_flow

from abstractruntime.core.clock import utc_now_iso
from abstractruntime.core.models import EffectType, RunStatus
from abstractruntime.integrations.abstractmemory import build_memory_kg_effect_handlers
from abstractruntime.integrations.abstractmemory.triple_store import SqliteTripleStore


def _tool_answer(output: Any) -> Recorder:
    return Recorder(
        lambda payload: {
            "mode": "executed",
            "results": [{"call_id": "m", "name": "memory", "success": True, "output": output, "error": None}],
        }
    )


def test_memory_note_pins_map_to_the_payload() -> None:
    recorder = _tool_answer({"stored": True, "span_id": "span_1"})
    pins = {
        "tags": {"topic": "travel"},
        "location": "paris",
        "scope": "session",
        "keep_in_context": True,
        "sources": {"span_ids": ["s0"]},
    }
    doc = one_node("memory_note", {"content": "Paris is lovely", **pins}, ["note_id"])
    state = run_flow(doc, {EffectType.MEMORY_NOTE: recorder})
    assert recorder.payloads == [{"note": "Paris is lovely", **pins}]
    assert state.output == {"note_id": "span_1", "success": True}


def test_memory_note_then_query_with_the_kernel_handlers() -> None:
    """Real MEMORY_NOTE/MEMORY_QUERY: the note's id comes out of ``note_id``; the query's ``results`` are
    the span list (each with ``span_id``) and ``rendered`` its text."""
    note = node(
        "note",
        "memory_note",
        [EXEC, pin("content"), pin("location"), pin("keep_in_context")],
        [OUT, pin("note_id")],
        pinDefaults={"content": "the launch moved to friday", "location": "office", "keep_in_context": True},
    )
    query = node(
        "query",
        "memory_query",
        [EXEC, pin("query"), pin("locations"), pin("limit"), pin("tags_mode")],
        [OUT, pin("results"), pin("rendered")],
        pinDefaults={"query": "launch", "locations": ["office"], "limit": 3, "tags_mode": "any"},
    )
    doc = flow(
        "notes",
        [start("s"), note, query, end("e", "note_id", "results", "rendered")],
        [
            edge("s", "exec-out", "note"),
            edge("note", "exec-out", "query"),
            edge("query", "exec-out", "e"),
            edge("note", "note_id", "e", "note_id"),
            edge("query", "results", "e", "results"),
            edge("query", "rendered", "e", "rendered"),
        ],
    )
    state = run_flow(doc, {})
    assert state.status == RunStatus.COMPLETED, state.error
    note_id = state.output["note_id"]
    assert isinstance(note_id, str) and note_id
    assert [r["span_id"] for r in state.output["results"]] == [note_id]
    assert "launch moved to friday" in state.output["rendered"]
    kept = [m for m in state.vars["context"]["messages"] if "launch moved" in str(m.get("content"))]
    assert len(kept) == 1  # keep_in_context put the note into the run's context


def test_memory_query_renames_and_asks_for_spans_and_text() -> None:
    recorder = _tool_answer({"rendered": "r", "spans": [{"span_id": "a"}], "count": 1})
    defaults = {
        "query": "q",
        "limit": 4,
        "usernames": ["laurent"],
        "locations": ["paris"],
        "tags": {"topic": "x"},
        "tags_mode": "any",
        "scope": "all",
        "since": "2026-01-01T00:00:00Z",
        "recall_level": "deep",
    }
    state = run_flow(
        one_node("memory_query", defaults, ["results", "rendered"]), {EffectType.MEMORY_QUERY: recorder}
    )
    (payload,) = recorder.payloads
    renamed = {k: v for k, v in defaults.items() if k not in ("limit", "usernames")}
    assert payload == {**renamed, "limit_spans": 4, "authors": ["laurent"], "return": "both"}
    assert state.output == {"results": [{"span_id": "a"}], "rendered": "r", "success": True}


def test_memory_tag_compact_rehydrate_payloads_and_outputs() -> None:
    tag = _tool_answer({"span_id": "s1", "tags": {"topic": "ltm"}})
    compact = _tool_answer({"compacted": True, "span_id": "s9"})
    rehydrate = Recorder(lambda payload: {"inserted": 3, "skipped": 1, "artifacts": [], "warnings": []})
    handlers = {
        EffectType.MEMORY_TAG: tag,
        EffectType.MEMORY_COMPACT: compact,
        EffectType.MEMORY_REHYDRATE: rehydrate,
    }
    out = run_flow(
        one_node(
            "memory_tag",
            {"span_id": "s1", "tags": {"topic": "ltm"}, "merge": True, "scope": "run"},
            ["success", "rendered"],
        ),
        handlers,
    ).output
    assert tag.payloads == [{"span_id": "s1", "tags": {"topic": "ltm"}, "merge": True, "scope": "run"}]
    assert out is not None and out["success"] is True and "s1" in out["rendered"]
    out = run_flow(
        one_node(
            "memory_compact", {"preserve_recent": 2, "compression_mode": "light", "focus": "ltm"}, ["span_id"]
        ),
        handlers,
    ).output
    assert compact.payloads == [{"preserve_recent": 2, "compression_mode": "light", "focus": "ltm"}]
    assert out == {"span_id": "s9", "success": True}
    out = run_flow(
        one_node(
            "memory_rehydrate",
            {"span_ids": "s9", "placement": "end", "max_messages": 5},
            ["inserted", "skipped"],
        ),
        handlers,
    ).output
    assert rehydrate.payloads == [{"span_ids": ["s9"], "placement": "end", "max_messages": 5}]
    assert out == {"inserted": 3, "skipped": 1, "success": True}


def _kg_flow() -> dict[str, Any]:
    """assert (session scope) -> query -> resolve, outputs wired to the end node."""
    facts = [
        {"subject": "ex:ada", "predicate": "schema:name", "object": "Ada Lovelace"},
        {"subject": "ex:ada", "predicate": "rdf:type", "object": "schema:Person"},
        {"subject": "ex:engine", "predicate": "schema:name", "object": "Analytical Engine"},
    ]
    kg_assert = node(
        "a",
        "memory_kg_assert",
        [EXEC, pin("assertions"), pin("scope"), pin("span_id"), pin("attributes_defaults")],
        [OUT, pin("assertion_ids"), pin("count"), pin("ok")],
        pinDefaults={
            "assertions": facts,
            "scope": "session",
            "span_id": "span-1",
            "attributes_defaults": {"v": 1},
        },
    )
    kg_query = node(
        "q",
        "memory_kg_query",
        [EXEC, pin("query_text"), pin("scope"), pin("limit"), pin("min_score")],
        [OUT, pin("items"), pin("count"), pin("active_memory_text"), pin("raw")],
        pinDefaults={"query_text": "ada lovelace", "scope": "session", "limit": 10, "min_score": 0.75},
    )
    kg_resolve = node(
        "r",
        "memory_kg_resolve",
        [EXEC, pin("label"), pin("expected_type"), pin("scope")],
        [OUT, pin("candidates"), pin("count")],
        pinDefaults={"label": "lovelace", "expected_type": "Person", "scope": "all"},
    )
    outs = {"ids": ("a", "assertion_ids"), "asserted": ("a", "count"), "items": ("q", "items")}
    outs |= {"text": ("q", "active_memory_text"), "raw": ("q", "raw"), "candidates": ("r", "candidates")}
    edges = [
        edge("s", "exec-out", "a"),
        edge("a", "exec-out", "q"),
        edge("q", "exec-out", "r"),
        edge("r", "exec-out", "e"),
    ]
    edges += [edge(src, src_pin, "e", name) for name, (src, src_pin) in outs.items()]
    return flow("kg", [start("s"), kg_assert, kg_query, kg_resolve, end("e", *outs)], edges)


def test_kg_nodes_run_against_the_sqlite_store() -> None:
    store = SqliteTripleStore()
    handlers = build_memory_kg_effect_handlers(store=store, run_store=None, now_iso=utc_now_iso)
    run = FlowRun(_kg_flow(), dict(handlers))
    state = run.start(session_id="sess")
    assert state.status == RunStatus.COMPLETED, state.error
    out = state.output
    assert out is not None and out["asserted"] == 3 and len(set(out["ids"])) == 3
    # Only "Ada Lovelace" has both query words (min_score 0.75 drops the half matches).
    assert [(i["subject"], i["object"]) for i in out["items"]] == [("ex:ada", "Ada Lovelace")]
    assert out["items"][0]["provenance"] == {"span_id": "span-1"} and out["items"][0]["attributes"] == {
        "v": 1
    }
    assert out["text"] == "## KG ACTIVE MEMORY\n- ex:ada schema:name Ada Lovelace"
    assert out["raw"]["owner_ids"] == ["session_memory_sess"] and out["raw"]["packed_count"] == 1
    assert [c["id"] for c in out["candidates"]] == ["ex:ada"]
    # Re-asserting the same facts (a second run of the session) adds nothing.
    again = run.start(session_id="sess").output
    assert again is not None and again["ids"] == out["ids"]
    assert len(store.query(owner_ids=["session_memory_sess"])) == 3
