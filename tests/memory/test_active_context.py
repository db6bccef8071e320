"""ActiveContextPolicy and TimeRange (SPEC §10.4)."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import pytest
from memory_harness import FakeSummarizer, Harness, conversation

from abstractruntime import EffectType, InMemoryRunStore, RunState
from abstractruntime.errors import CapabilityError, ConcurrencyError
from abstractruntime.memory import ActiveContextPolicy, TimeRange
from abstractruntime.testing import FakeClock


# -- TimeRange -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rng", "start", "end", "expected"),
    [
        (TimeRange(), None, None, True),  # unbounded matches even without timestamps
        (TimeRange(start="2026-01-01T10:00:00Z"), None, None, False),
        (TimeRange(end="2026-01-01T10:00:00Z"), None, None, False),
        (TimeRange("2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"), "2026-01-01T11:00:00+00:00", None, True),
        (TimeRange("2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"), None, "2026-01-01T10:00:00Z", True),
        (
            TimeRange("2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"),
            "2026-01-01T09:00:00Z",
            "2026-01-01T09:59:59Z",
            False,
        ),
        (
            TimeRange("2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"),
            "2026-01-01T09:00:00Z",
            "2026-01-01T12:00:00Z",
            True,
        ),
        (
            TimeRange("2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"),
            "2026-01-01T11:00:00.000001Z",
            "2026-01-01T12:00:00Z",
            False,
        ),
        # compared as datetimes, not strings: +02:00 offset is 09:30Z
        (
            TimeRange("2026-01-01T10:00:00Z", None),
            "2026-01-01T11:30:00+02:00",
            "2026-01-01T11:30:00+02:00",
            False,
        ),
        (TimeRange(None, "2026-01-01T10:00:00Z"), "2026-01-01T11:30:00+02:00", None, True),
        (TimeRange(datetime(2026, 1, 1, 10, tzinfo=timezone.utc), None), "2026-01-01T10:00:00", None, True),
        (TimeRange("2026-01-01T10:00:00Z"), "not a time", None, False),
    ],
)
def test_time_range_contains(rng: TimeRange, start: Any, end: Any, expected: bool) -> None:
    assert rng.contains(start=start, end=end) is expected


def test_time_range_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError, match=r"TimeRange\.start"):
        TimeRange(start="tomorrow-ish")


# -- select_messages_view --------------------------------------------------------------------------
MESSAGES = [
    {"role": "system", "content": "s1"},
    {"role": "user", "content": "u1"},
    {"role": "assistant", "content": "a1"},
    {"role": "system", "content": "s2"},
    {"role": "user", "content": "u2"},
]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (-1, ["s1", "u1", "a1", "s2", "u2"]),
        (-5, ["s1", "u1", "a1", "s2", "u2"]),
        (None, ["s1", "u1", "a1", "s2", "u2"]),
        (0, ["s1", "s2"]),
        (1, ["s1", "s2", "u2"]),
        (2, ["s1", "a1", "s2", "u2"]),
        (10, ["s1", "u1", "a1", "s2", "u2"]),
    ],
)
def test_select_messages_view(limit: int | None, expected: list[str]) -> None:
    view = ActiveContextPolicy.select_messages_view(MESSAGES, max_history_messages=limit)
    assert [m["content"] for m in view] == expected


def test_select_active_messages_for_llm_uses_run_limits(runtime) -> None:
    h = Harness(runtime)
    h.set_messages(list(MESSAGES))
    policy = ActiveContextPolicy(run_store=runtime.run_store, artifact_store=runtime.artifact_store)
    assert len(policy.select_active_messages_for_llm(h.run_id)) == 5  # default _limits: -1
    assert [
        m["content"] for m in policy.select_active_messages_for_llm(h.run_id, max_history_messages=0)
    ] == [
        "s1",
        "s2",
    ]
    runtime.update_limits(h.run_id, {"max_history_messages": 1})
    view = policy.select_active_messages_for_llm(h.run_id)
    assert [m["content"] for m in view] == ["s1", "s2", "u2"]
    view[0]["content"] = "changed"
    assert h.messages[0]["content"] == "s1"  # copies
    with pytest.raises(KeyError):
        policy.select_active_messages_for_llm("ghost")


# -- spans -----------------------------------------------------------------------------------------
def _seed(runtime, clock: FakeClock) -> tuple[Harness, list[str]]:
    h = Harness(runtime, actor_id="alice")
    ids = []
    for text, tags, location in [
        ("postgres tuning", {"topic": "db"}, "Paris"),
        ("release checklist", {"topic": "deploy", "person": "bob"}, None),
        ("postgres backups", {"topic": "db", "person": "bob"}, "Berlin"),
    ]:
        payload: dict[str, Any] = {"note": text, "tags": tags}
        if location:
            payload["location"] = location
        ids.append(h.tool(EffectType.MEMORY_NOTE, payload)["output"]["span_id"])
        clock.advance(hours=1)
    return h, ids


def test_list_and_filter_spans(runtime, clock: FakeClock) -> None:
    h, ids = _seed(runtime, clock)
    policy = ActiveContextPolicy(run_store=runtime.run_store, artifact_store=runtime.artifact_store)
    assert [s["artifact_id"] for s in policy.list_memory_spans(h.run_id)] == ids[::-1]
    assert [s["artifact_id"] for s in policy.list_memory_spans_from_run(h.state)] == ids[::-1]
    f = policy.filter_spans
    assert [s["artifact_id"] for s in f(h.run_id, tags={"topic": "db"})] == [ids[2], ids[0]]
    assert [s["artifact_id"] for s in f(h.run_id, tags={"topic": "deploy", "person": "bob"})] == [ids[1]]
    assert [
        s["artifact_id"] for s in f(h.run_id, tags={"topic": "deploy", "person": "x"}, tags_mode="any")
    ] == [ids[1]]
    assert [s["artifact_id"] for s in f(h.run_id, tags={"person": "*"})] == [ids[2], ids[1]]
    window = TimeRange("2026-01-01T10:30:00Z", "2026-01-01T11:00:00Z")
    assert [s["artifact_id"] for s in f(h.run_id, time_range=window)] == [ids[1]]
    assert [s["artifact_id"] for s in f(h.run_id, authors=["Alice"], limit=2)] == [ids[2], ids[1]]
    assert [s["artifact_id"] for s in f(h.run_id, locations=["berlin"])] == [ids[2]]
    assert [s["artifact_id"] for s in f(h.run_id, query="postgres backups")] == [ids[2], ids[0]]
    assert f(h.run_id, query="kubernetes") == []
    assert f(h.run_id, limit=0) == []
    with pytest.raises(KeyError):
        policy.list_memory_spans("ghost")


def test_resolve_span_ids_and_summary_texts(make_runtime) -> None:
    runtime = make_runtime(chat_summarizer=FakeSummarizer("sum text"))
    h = Harness(runtime)
    h.set_messages(conversation(8))
    span_id = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})["output"]["span_id"]
    spans = h.spans
    resolve = ActiveContextPolicy.resolve_span_ids_from_spans
    assert resolve([1, "1", span_id, 5, "other"], spans) == [span_id, "other"]
    assert resolve(span_id, spans) == [span_id]
    texts = ActiveContextPolicy.summary_text_by_artifact_id_from_run(h.state)
    assert texts == {span_id: "sum text\n\nKey points:\n- database: PostgreSQL"}
    policy = ActiveContextPolicy(run_store=runtime.run_store, artifact_store=runtime.artifact_store)
    assert [s["artifact_id"] for s in policy.filter_spans(h.run_id, query="sum text")] == [span_id]


def test_rehydrate_into_context_saves_with_revision(make_runtime) -> None:
    runtime = make_runtime(chat_summarizer=FakeSummarizer())
    h = Harness(runtime)
    h.set_messages(conversation(8))
    span_id = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})["output"]["span_id"]
    store: InMemoryRunStore = runtime.run_store
    before = store.current_revision(h.run_id)
    policy = ActiveContextPolicy(run_store=store, artifact_store=runtime.artifact_store)
    report = policy.rehydrate_into_context(h.run_id, span_ids=[1], max_messages=4)
    assert (report["inserted"], report["skipped"]) == (4, 2)
    assert report["artifacts"][0]["span_id"] == span_id
    assert store.current_revision(h.run_id) == before + 1
    assert [m["metadata"]["message_id"] for m in h.messages[2:6]] == ["m0", "m1", "m2", "m3"]
    again = policy.rehydrate_into_context(h.run_id, span_ids=[span_id], placement="end")
    assert (again["inserted"], again["skipped"]) == (2, 4)
    # the harness run can still be driven: the policy's save did not break its revision
    assert h.tool(EffectType.MEMORY_QUERY, {})["success"]


def test_rehydrate_from_run_changes_memory_only(make_runtime) -> None:
    runtime = make_runtime(chat_summarizer=FakeSummarizer())
    h = Harness(runtime)
    h.set_messages(conversation(6))
    h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 1})
    detached: RunState = copy.deepcopy(h.state)
    policy = ActiveContextPolicy(run_store=runtime.run_store, artifact_store=runtime.artifact_store)
    report = policy.rehydrate_into_context_from_run(detached, span_ids=[1], placement="bogus")
    assert report["inserted"] == 5
    assert "unknown placement" in report["warnings"][0]
    assert len(detached.vars["context"]["messages"]) == 8
    assert len(h.messages) == 3


def test_rehydrate_requires_artifact_store(runtime) -> None:
    policy = ActiveContextPolicy(run_store=runtime.run_store, artifact_store=None)
    h = Harness(runtime)
    with pytest.raises(CapabilityError):
        policy.rehydrate_into_context(h.run_id, span_ids=[1])
    with pytest.raises(RuntimeError):
        policy.rehydrate_into_context_from_run(h.state, span_ids=[1])


class _ConflictingStore(InMemoryRunStore):
    """Every commit of a loaded run conflicts (someone else always wrote first)."""

    def commit(self, run, records, *, ledger_store, expected_revision):  # type: ignore[override]
        if expected_revision is not None:
            raise ConcurrencyError(run_id=run.run_id, expected_revision=expected_revision, actual_revision=-1)
        return super().commit(run, records, ledger_store=ledger_store, expected_revision=expected_revision)


def test_rehydrate_gives_up_after_repeated_conflicts(artifacts) -> None:
    store = _ConflictingStore()
    run = RunState.new(workflow_id="w", entry_node="n", vars={"_runtime": {"memory_spans": []}})
    store.save(run)
    note_id = artifacts.store_json({"note": "hello"}, run_id=run.run_id).artifact_id
    policy = ActiveContextPolicy(run_store=store, artifact_store=artifacts)
    with pytest.raises(ConcurrencyError):
        policy.rehydrate_into_context(run.run_id, span_ids=[note_id])
