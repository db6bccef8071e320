"""MEMORY_QUERY filters and result shapes as a user's program sees them (SPEC §4.9)."""

from __future__ import annotations

import re
from typing import Any

from memory_harness import FakeSummarizer, Harness, conversation

from abstractruntime import EffectType, Runtime
from abstractruntime.testing import FakeClock


def _note(h: Harness, text: str, **payload: Any) -> str:
    entry = h.tool(EffectType.MEMORY_NOTE, {"note": text, **payload})
    assert entry["success"], entry["error"]
    return str(entry["output"]["span_id"])


def _ids(h: Harness, **payload: Any) -> list[str]:
    entry = h.tool(EffectType.MEMORY_QUERY, {"return": "meta", **payload})
    assert entry["success"], entry["error"]
    return list(entry["output"]["span_ids"])


def _seed(h: Harness, clock: FakeClock) -> dict[str, str]:
    ids = {}
    for name, text, tags in [
        ("db", "Billing runs on PostgreSQL", {"topic": "database", "team": "billing"}),
        ("deploy", "Deploys go through ArgoCD", {"topic": "deploy", "team": "platform"}),
        ("both", "The migration touches schema and pipeline", {"topic": ["database", "deploy"]}),
    ]:
        ids[name] = _note(h, text, tags=tags)
        clock.advance(minutes=1)
    return ids


def test_tags_mode_any_needs_one_wanted_tag(harness: Harness, clock: FakeClock) -> None:
    ids = _seed(harness, clock)
    wanted = {"team": "billing", "topic": "deploy"}
    assert _ids(harness, tags=wanted) == []  # all (default): no span has both
    assert _ids(harness, tags=wanted, tags_mode="any") == [ids["both"], ids["deploy"], ids["db"]]
    assert _ids(harness, tags=wanted, tags_mode="ANY ") == [ids["both"], ids["deploy"], ids["db"]]


def test_multi_value_tag_keys(harness: Harness, clock: FakeClock) -> None:
    ids = _seed(harness, clock)
    # a span tagged with several values under one key matches each of them
    assert _ids(harness, tags={"topic": "deploy"}) == [ids["both"], ids["deploy"]]
    assert _ids(harness, tags=["topic=database"]) == [ids["both"], ids["db"]]
    # several wanted values under one key are alternatives
    assert _ids(harness, tags={"topic": ["deploy", "security"]}) == [ids["both"], ids["deploy"]]
    both = harness.tool(EffectType.MEMORY_QUERY, {"span_id": ids["both"], "return": "meta"})
    assert both["output"]["matches"][0]["tags"] == {"topic": ["database", "deploy"]}


def test_authors_and_locations_over_the_global_scope(runtime: Runtime, clock: FakeClock) -> None:
    alice = Harness(runtime, actor_id="alice")
    bob = Harness(runtime, actor_id="bob")
    from_alice = _note(alice, "Office wifi is slow", scope="global", location="Paris")
    clock.advance(minutes=1)
    from_bob = _note(bob, "Parking is free on Sundays", scope="global", location="Berlin")
    clock.advance(minutes=1)
    tagged = _note(bob, "Coffee machine fixed", scope="global", tags={"author": "carol", "location": "paris"})
    reader = Harness(runtime, actor_id="dave")
    assert _ids(reader, scope="global", authors=["BOB"]) == [tagged, from_bob]
    assert _ids(reader, scope="global", authors=["carol"]) == [tagged]  # the author tag counts too
    assert _ids(reader, scope="global", locations=["paris"]) == [tagged, from_alice]
    assert _ids(reader, scope="global", authors=["alice"], locations=["Berlin"]) == []
    assert _ids(reader, authors=["bob"]) == []  # run scope: the reader's own index is empty


def test_deep_scan_reads_archived_messages(make_runtime) -> None:
    h = Harness(make_runtime(chat_summarizer=FakeSummarizer("a short summary")))
    h.set_messages(conversation(8))
    span_id = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})["output"]["span_id"]
    assert _ids(h, query="deployment") == []  # metadata and summary only
    deep = h.tool(EffectType.MEMORY_QUERY, {"query": "deployment", "deep": True, "return": "both"})
    assert deep["output"]["span_ids"] == [span_id]
    assert deep["output"]["matches"][0]["deep_hits"] == 4  # archived messages 2..5
    rendered = deep["output"]["rendered"]
    assert "matching messages:" in rendered
    assert "message 2 about deployment" in rendered
    assert _ids(h, query="deployment", recall_level="deep") == [span_id]  # the deep preset scans too


def test_connected_neighbours_follow_shared_tags(harness: Harness, clock: FakeClock) -> None:
    hit = _note(harness, "Quarterly report is due", tags={"topic": "report", "person": "erin"})
    clock.advance(minutes=1)
    one_hop = _note(harness, "Erin is on leave in May", tags={"person": "erin", "topic": "leave"})
    clock.advance(minutes=1)
    two_hops = _note(harness, "Leave requests need approval", tags={"topic": "leave"})
    clock.advance(minutes=1)
    _note(harness, "Unrelated lunch plans", tags={"topic": "food"})
    assert _ids(harness, query="quarterly") == [hit]
    entry = harness.tool(EffectType.MEMORY_QUERY, {"query": "quarterly", "connected": True, "return": "meta"})
    matches = entry["output"]["matches"]
    assert [m["span_id"] for m in matches] == [hit, one_hop]
    assert matches[1]["connected_via"] == "person=erin"
    assert _ids(harness, query="quarterly", connected=True, neighbor_hops=2) == [hit, one_hop, two_hops]
    assert _ids(harness, query="quarterly", connected=True, connect_by=["topic"]) == [hit]


def test_meta_and_both_return_matches_and_span_ids_as_lists(harness: Harness, clock: FakeClock) -> None:
    ids = _seed(harness, clock)
    meta = harness.tool(EffectType.MEMORY_QUERY, {"tags": {"topic": "deploy"}, "return": "meta"})
    output = meta["output"]
    assert isinstance(output["matches"], list) and isinstance(output["span_ids"], list)
    assert output["span_ids"] == [ids["both"], ids["deploy"]] == meta["meta"]["span_ids"]
    assert [m["span_id"] for m in output["matches"]] == output["span_ids"]
    assert [m["span_index"] for m in output["matches"]] == [3, 2]
    assert output["count"] == 2
    assert "rendered" not in output
    both = harness.tool(EffectType.MEMORY_QUERY, {"tags": {"topic": "deploy"}, "return": "both"})
    assert both["output"]["span_ids"] == output["span_ids"]
    assert both["output"]["matches"] == output["matches"]
    assert isinstance(both["output"]["rendered"], str)
    empty = harness.tool(EffectType.MEMORY_QUERY, {"query": "kubernetes", "return": "meta"})
    assert (empty["output"]["matches"], empty["output"]["span_ids"], empty["output"]["count"]) == ([], [], 0)


def test_rendered_hits_name_their_span_id(harness: Harness, clock: FakeClock) -> None:
    ids = _seed(harness, clock)
    entry = harness.tool(EffectType.MEMORY_QUERY, {"tags": {"topic": "database"}})
    rendered = entry["output"]
    assert isinstance(rendered, str)
    assert re.findall(r"span_id=(\w+)", rendered) == [ids["both"], ids["db"]]
    assert "Billing runs on PostgreSQL" in rendered


def test_rendered_hit_without_artifact_id_names_its_index(runtime: Runtime, harness: Harness) -> None:
    state = runtime.get_state(harness.run_id)
    state.vars["_runtime"]["memory_spans"] = [{"kind": "memory_note", "note_preview": "legacy entry"}]
    runtime.run_store.save(state)  # the harness run is waiting: a direct save is safe
    rendered = harness.tool(EffectType.MEMORY_QUERY, {})["output"]
    assert "[1] span_id=1 kind=memory_note" in rendered
    assert "legacy entry" in rendered


def test_deep_scan_reads_the_full_note_text(harness: Harness) -> None:
    note = "Runbook: " + "check " * 40 + "and finally page the quokka on-call."
    span_id = _note(harness, note, scope="session")
    assert _ids(harness, scope="session", query="quokka") == []  # past the 160-character preview
    assert _ids(harness, scope="session", query="quokka", deep=True) == [span_id]
