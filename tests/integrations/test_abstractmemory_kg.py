"""The stdlib KG bridge: SqliteTripleStore (durable, deduplicating, scored queries), the MEMORY_KG handlers
(scopes, validation) and the CLI's store beside its run database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.core.models import Effect, EffectType, RunState, RunStatus
from abstractruntime.errors import InvalidRecordError
from abstractruntime.integrations.abstractmemory import (
    build_memory_kg_effect_handlers,
    resolve_scope_owner_id,
)
from abstractruntime.integrations.abstractmemory.triple_store import SqliteTripleStore
from abstractruntime.testing.cli import run_cli

NOW = "2026-03-01T00:00:00+00:00"
FACTS = [
    {"subject": "ex:ada", "predicate": "schema:name", "object": "Ada Lovelace", "observed_at": "2026-01-02"},
    {"subject": "ex:ada", "predicate": "schema:knows", "object": "ex:babbage", "observed_at": "2026-01-03"},
    {
        "subject": "ex:babbage",
        "predicate": "schema:name",
        "object": "Charles Babbage",
        "observed_at": "2026-01-01",
    },
]


def _run(run_id: str = "r1", session_id: str | None = "s1") -> RunState:
    return RunState(
        run_id=run_id,
        workflow_id="wf",
        status=RunStatus.RUNNING,
        current_node="n",
        vars={},
        created_at=NOW,
        updated_at=NOW,
        session_id=session_id,
    )


def test_store_survives_a_reopen_and_deduplicates(tmp_path: Path) -> None:
    path = tmp_path / "kg" / "kg.sqlite"
    store = SqliteTripleStore(path)
    ids = store.add(FACTS, owner_id="o", observed_at=NOW)
    assert store.add(FACTS[:1], owner_id="o", observed_at=NOW) == ids[:1]
    store.close()
    reopened = SqliteTripleStore(path)
    items = reopened.query(owner_ids=["o"])
    assert [i["assertion_id"] for i in items] == [ids[1], ids[0], ids[2]]  # newest observation first
    assert reopened.query(owner_ids=["other"]) == []
    reopened.close()


def test_query_filters_and_scores() -> None:
    store = SqliteTripleStore()
    store.add(FACTS, owner_id="o", observed_at=NOW)
    assert [i["object"] for i in store.query(owner_ids=["o"], subject="EX:ADA", order="asc")] == [
        "Ada Lovelace",
        "ex:babbage",
    ]
    scored = store.query(owner_ids=["o"], query_text="babbage name")
    assert [(i["object"], i["score"]) for i in scored] == [
        ("Charles Babbage", 1.0),
        ("ex:babbage", 0.5),  # newer than the Ada name at the same score
        ("Ada Lovelace", 0.5),
    ]
    assert len(store.query(owner_ids=["o"], query_text="babbage name", min_score=0.75)) == 1
    assert len(store.query(owner_ids=["o"], since="2026-01-02", until="2026-01-02")) == 1
    assert len(store.query(owner_ids=["o"], limit=2)) == 2


def test_bad_assertions_store_nothing() -> None:
    store = SqliteTripleStore()
    with pytest.raises(InvalidRecordError, match="#2"):
        store.add([FACTS[0], {"subject": "x", "predicate": "p"}], owner_id="o", observed_at=NOW)
    with pytest.raises(InvalidRecordError):
        store.add(FACTS, owner_id=" ", observed_at=NOW)
    assert store.query(owner_ids=["o"]) == []


def _effect(effect_type: EffectType, payload: dict[str, Any]) -> Effect:
    return Effect(effect_type, payload, "_temp.kg")


def test_handlers_resolve_scopes_and_report_bad_input() -> None:
    store = SqliteTripleStore()
    handlers = build_memory_kg_effect_handlers(store=store, run_store=None, now_iso=lambda: NOW)
    run = _run()
    assert resolve_scope_owner_id(run, scope="session", run_store=None) == "session_memory_s1"
    asserted = handlers[EffectType.MEMORY_KG_ASSERT](
        run, _effect(EffectType.MEMORY_KG_ASSERT, {"assertions": FACTS, "scope": "global"}), None
    )
    assert (
        asserted.result is not None
        and asserted.result["owner_id"] == "global_memory"
        and asserted.result["count"] == 3
    )
    query = handlers[EffectType.MEMORY_KG_QUERY]
    in_run = query(run, _effect(EffectType.MEMORY_KG_QUERY, {"scope": "run"}), None).result
    everywhere = query(
        run, _effect(EffectType.MEMORY_KG_QUERY, {"scope": "all", "max_input_tokens": 20}), None
    ).result
    assert in_run is not None and in_run["count"] == 0 and in_run["active_memory_text"] == ""
    assert everywhere is not None and everywhere["count"] == 3
    assert everywhere["owner_ids"] == ["r1", "session_memory_s1", "global_memory"]
    assert 0 < everywhere["packed_count"] < 3 and everywhere["dropped"] == 3 - everywhere["packed_count"]
    invalid = handlers[EffectType.MEMORY_KG_ASSERT](
        run, _effect(EffectType.MEMORY_KG_ASSERT, {"assertions": [{"subject": "x"}]}), None
    )
    assert invalid.result is not None and invalid.result["ok"] is False and "#1" in invalid.result["error"]
    bad_scope = query(run, _effect(EffectType.MEMORY_KG_QUERY, {"scope": "planet"}), None)
    assert bad_scope.status == "failed" and "planet" in str(bad_scope.error)


ASSERT_FLOW = {
    "id": "kg_write",
    "nodes": [
        {"id": "s", "type": "on_flow_start", "data": {"outputs": [{"id": "exec-out", "type": "execution"}]}},
        {
            "id": "a",
            "type": "memory_kg_assert",
            "data": {
                "inputs": [{"id": "exec-in", "type": "execution"}, {"id": "assertions", "type": "array"}],
                "outputs": [{"id": "exec-out", "type": "execution"}, {"id": "count", "type": "number"}],
                "pinDefaults": {"assertions": FACTS, "scope": "global"},
            },
        },
        {
            "id": "e",
            "type": "on_flow_end",
            "data": {"inputs": [{"id": "exec-in", "type": "execution"}, {"id": "count", "type": "number"}]},
        },
    ],
    "edges": [
        {"source": "s", "sourceHandle": "exec-out", "target": "a", "targetHandle": "exec-in"},
        {"source": "a", "sourceHandle": "exec-out", "target": "e", "targetHandle": "exec-in"},
        {"source": "a", "sourceHandle": "count", "target": "e", "targetHandle": "count"},
    ],
}


def test_cli_keeps_kg_facts_beside_its_store(tmp_path: Path) -> None:
    """Two ``abstractruntime run`` processes on one SQLite store: the second queries what the first asserted."""
    query_flow = json.loads(json.dumps(ASSERT_FLOW).replace('"memory_kg_assert"', '"memory_kg_query"'))
    query_flow["id"] = "kg_read"
    query_flow["nodes"][1]["data"]["pinDefaults"] = {"scope": "global", "query_text": "babbage"}
    for pin in query_flow["nodes"][1:]:
        for key in ("inputs", "outputs"):
            for p in pin["data"].get(key, []):
                if p["id"] == "count":
                    p["id"] = "items"
    query_flow["edges"][2] = {"source": "a", "sourceHandle": "items", "target": "e", "targetHandle": "items"}
    (tmp_path / "write.json").write_text(json.dumps(ASSERT_FLOW))
    (tmp_path / "read.json").write_text(json.dumps(query_flow))
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    wrote = run_cli("--store", store, "run", "write.json", "--json", cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stderr
    assert json.loads(wrote.stdout)["output"]["count"] == 3
    assert (tmp_path / "runs.db.kg.sqlite").is_file()
    read = run_cli("--store", store, "run", "read.json", "--json", cwd=tmp_path)
    assert read.returncode == 0, read.stderr
    items = json.loads(read.stdout)["output"]["items"]
    assert [i["object"] for i in items] == ["ex:babbage", "Charles Babbage"]
