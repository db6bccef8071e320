"""ActiveContextPolicy ``_from_run`` variants take the run itself (SPEC §10.4).

They can be called on the class (``ActiveContextPolicy.filter_spans_from_run(run, ...,
artifact_store=...)``) or on an instance, and the ``run_id`` call shapes stay as documented.
"""

from __future__ import annotations

import copy

import pytest
from memory_harness import FakeSummarizer, Harness, conversation

from abstractruntime import EffectType, Runtime
from abstractruntime.errors import CapabilityError
from abstractruntime.memory import ActiveContextPolicy
from abstractruntime.storage.artifacts import InMemoryArtifactStore
from abstractruntime.testing import FakeClock

# The keyword sits past the 160-character preview, so only the archived note text contains it.
LONG_NOTE = "Release checklist: " + "step " * 40 + "then rotate the zanzibar credentials."


def _note(h: Harness, text: str, **payload: object) -> str:
    entry = h.tool(EffectType.MEMORY_NOTE, {"note": text, **payload})
    assert entry["success"], entry["error"]
    return str(entry["output"]["span_id"])


def _ids(spans: list[dict]) -> list[str]:
    return [s["artifact_id"] for s in spans]


def test_list_and_filter_on_the_class_take_the_run(harness: Harness, clock: FakeClock) -> None:
    first = _note(harness, "Billing uses PostgreSQL", tags={"topic": "db"})
    clock.advance(minutes=5)
    second = _note(harness, "Deploys happen on Tuesdays", tags={"topic": "deploy"})
    run = harness.state
    assert _ids(ActiveContextPolicy.list_memory_spans_from_run(run)) == [second, first]
    by_tag = ActiveContextPolicy.filter_spans_from_run(run, tags={"topic": "db"}, artifact_store=None)
    assert _ids(by_tag) == [first]
    by_word = ActiveContextPolicy.filter_spans_from_run(run, query="tuesdays")
    assert _ids(by_word) == [second]


def test_filter_from_run_with_artifact_store_searches_the_archived_note(
    harness: Harness, artifacts: InMemoryArtifactStore
) -> None:
    span_id = _note(harness, LONG_NOTE)
    run = harness.state
    assert "zanzibar" not in run.vars["_runtime"]["memory_spans"][0]["note_preview"]
    assert ActiveContextPolicy.filter_spans_from_run(run, query="zanzibar") == []
    found = ActiveContextPolicy.filter_spans_from_run(run, query="zanzibar", artifact_store=artifacts)
    assert _ids(found) == [span_id]


def test_filter_from_run_on_an_instance_uses_its_artifact_store(runtime: Runtime, harness: Harness) -> None:
    span_id = _note(harness, LONG_NOTE)
    policy = ActiveContextPolicy(run_store=runtime.run_store, artifact_store=runtime.artifact_store)
    assert _ids(policy.filter_spans_from_run(harness.state, query="zanzibar")) == [span_id]
    # the documented run_id shape searches the same way
    assert _ids(policy.filter_spans(harness.run_id, query="zanzibar")) == [span_id]
    bare = ActiveContextPolicy(run_store=runtime.run_store, artifact_store=None)
    assert bare.filter_spans(harness.run_id, query="zanzibar") == []


def test_filter_from_run_searches_archived_conversation_messages(make_runtime) -> None:
    runtime = make_runtime(chat_summarizer=FakeSummarizer("short summary"))
    h = Harness(runtime)
    h.set_messages(conversation(8))
    span_id = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})["output"]["span_id"]
    run = h.state
    # "deployment" is only in the archived messages 2..5, not in the summary or the span metadata
    assert ActiveContextPolicy.filter_spans_from_run(run, query="deployment") == []
    found = ActiveContextPolicy.filter_spans_from_run(
        run, query="deployment", artifact_store=runtime.artifact_store
    )
    assert _ids(found) == [span_id]


def test_select_active_messages_from_run_on_class_and_instance(runtime: Runtime, harness: Harness) -> None:
    harness.set_messages(conversation(4))
    run = copy.deepcopy(harness.state)  # a detached copy (the in-memory store shares live objects)
    run.vars["_limits"]["max_history_messages"] = 1
    view = ActiveContextPolicy.select_active_messages_for_llm_from_run(run)
    assert [m["content"] for m in view] == ["You are helpful.", "message 3 about deployment"]
    two = ActiveContextPolicy.select_active_messages_for_llm_from_run(run, max_history_messages=2)
    assert [m["metadata"]["message_id"] for m in two[1:]] == ["m2", "m3"]
    policy = ActiveContextPolicy(run_store=runtime.run_store, artifact_store=runtime.artifact_store)
    assert policy.select_active_messages_for_llm_from_run(run) == view
    view[0]["content"] = "changed"  # copies: the run is untouched
    assert run.vars["context"]["messages"][0]["content"] == "You are helpful."


def test_rehydrate_from_run_on_the_class_needs_an_artifact_store(
    harness: Harness, artifacts: InMemoryArtifactStore
) -> None:
    span_id = _note(harness, "Remember the milk")
    run = copy.deepcopy(harness.state)  # a detached copy (the in-memory store shares live objects)
    with pytest.raises(CapabilityError):
        ActiveContextPolicy.rehydrate_into_context_from_run(run, span_ids=[span_id])
    report = ActiveContextPolicy.rehydrate_into_context_from_run(
        run, span_ids=[1], placement="end", artifact_store=artifacts
    )
    assert report["inserted"] == 1
    message = run.vars["context"]["messages"][-1]
    assert message["metadata"]["message_id"] == f"memory_note:{span_id}"
    assert harness.messages == []  # in memory only: the stored run is unchanged
