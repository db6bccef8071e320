"""MEMORY_COMPACT with a chat_summarizer and with the LLM child-run fallback (SPEC §4.9)."""

from __future__ import annotations

from memory_harness import FakeLLM, FakeSummarizer, Harness, conversation

from abstractruntime import EffectType, RunStatus, WaitReason, WaitState
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.testing import FakeClock

PREFIX = "[CONVERSATION HISTORY SUMMARY span_id={}]: "


def test_compact_with_chat_summarizer(make_runtime, artifacts, clock: FakeClock) -> None:
    summarizer = FakeSummarizer()
    h = Harness(make_runtime(chat_summarizer=summarizer), actor_id="alice")
    h.set_messages(conversation(10))
    entry = h.tool(
        EffectType.MEMORY_COMPACT, {"preserve_recent": 4, "compression_mode": "heavy", "focus": "decisions"}
    )
    assert entry["success"], entry["error"]
    assert entry["name"] == "compact_memory"
    out, meta = entry["output"], entry["meta"]
    span_id = out["span_id"]
    assert out["compacted"] is True
    assert out["archived_messages"] == 6
    assert out["kept_messages"] == 5  # the system message + 4 recent
    assert meta["llm_run_id"] is None
    assert meta["span_id"] == span_id
    assert meta["summary_message_id"] == out["summary_message_id"]
    assert meta["key_points"] == ["database: PostgreSQL"]
    # the summarizer saw only the older messages
    call = summarizer.calls[0]
    assert [m["metadata"]["message_id"] for m in call["messages"]] == ["m0", "m1", "m2", "m3", "m4", "m5"]
    assert (call["focus"], call["mode"], call["preserve_recent"]) == ("decisions", "heavy", 0)
    # context.messages: system, summary, recent
    messages = h.messages
    assert [m["role"] for m in messages] == ["system", "system", "user", "assistant", "user", "assistant"]
    summary = messages[1]
    assert summary["content"].startswith(PREFIX.format(span_id))
    assert summary["content"] == PREFIX.format(span_id) + (
        "They agreed on PostgreSQL.\n\nKey points:\n- database: PostgreSQL"
    )
    assert summary["metadata"]["message_id"] == out["summary_message_id"]
    assert summary["metadata"]["kind"] == "memory_summary"
    assert [m["metadata"]["message_id"] for m in messages[2:]] == ["m6", "m7", "m8", "m9"]
    # the span
    span = h.spans[-1]
    assert span == {
        "kind": "conversation_span",
        "artifact_id": span_id,
        "summary_message_id": out["summary_message_id"],
        "created_at": clock.iso(),
        "from_timestamp": "2026-01-01T09:00:00+00:00",
        "to_timestamp": "2026-01-01T09:05:00+00:00",
        "from_message_id": "m0",
        "to_message_id": "m5",
        "message_count": 6,
        "compression_mode": "heavy",
        "focus": "decisions",
        "created_by": "alice",
    }
    # the archived artifact
    archived = artifacts.load_json(span_id)
    assert set(archived) == {"messages", "span", "created_at"}
    assert [m["content"] for m in archived["messages"]] == [
        f"message {i} about " + t
        for i, t in enumerate(
            ["databases", "databases", "deployment", "deployment", "deployment", "deployment"]
        )
    ]
    assert archived["span"] == span
    assert artifacts.get_metadata(span_id).tags == {"kind": "conversation_span"}


def test_compact_assigns_message_ids_and_keeps_interleaved_system(make_runtime) -> None:
    h = Harness(make_runtime(chat_summarizer=FakeSummarizer()))
    messages = conversation(6, with_ids=False)
    messages.insert(3, {"role": "system", "content": "late system note"})
    messages.append("bare string message")
    h.set_messages(messages)
    entry = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})
    assert entry["success"]
    after = h.messages
    assert [m["content"] for m in after if m["role"] == "system"][:2] == [
        "You are helpful.",
        "late system note",
    ]
    assert after[2]["content"].startswith("[CONVERSATION HISTORY SUMMARY")
    assert [m["content"] for m in after[3:]] == ["message 5 about deployment", "bare string message"]
    assert all(m["metadata"]["message_id"] for m in after)
    assert entry["output"]["archived_messages"] == 5


def test_compact_nothing_to_do(make_runtime) -> None:
    summarizer = FakeSummarizer()
    h = Harness(make_runtime(chat_summarizer=summarizer))
    h.set_messages(conversation(3))
    entry = h.tool(EffectType.MEMORY_COMPACT, {})
    assert entry["success"] is True
    assert entry["output"]["compacted"] is False
    assert summarizer.calls == []
    assert len(h.messages) == 4


def test_compact_unknown_mode_falls_back_to_standard(make_runtime) -> None:
    h = Harness(make_runtime(chat_summarizer=FakeSummarizer()))
    h.set_messages(conversation(8))
    entry = h.tool(EffectType.MEMORY_COMPACT, {"compression_mode": "extreme", "preserve_recent": 1})
    assert entry["meta"]["compression_mode"] == "standard"
    assert entry["meta"]["warnings"]
    assert h.spans[-1]["compression_mode"] == "standard"


def test_compact_llm_child_run_fallback(make_runtime) -> None:
    llm = FakeLLM()
    runtime = make_runtime(effect_handlers={EffectType.LLM_CALL: llm})
    h = Harness(runtime, session_id="s9", actor_id="bob")
    h.set_messages(conversation(8))
    entry = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2, "focus": "infra"})
    assert entry["success"], entry["error"]
    llm_run_id = entry["meta"]["llm_run_id"]
    assert llm_run_id
    child = runtime.get_state(llm_run_id)
    assert child.workflow_id == "wf_memory_compact_llm"
    assert child.status == RunStatus.COMPLETED
    assert (child.parent_run_id, child.session_id, child.actor_id) == (h.run_id, "s9", "bob")
    payload = llm.payloads[0]
    assert "Focus on: infra" in payload["prompt"]
    assert "message 0 about databases" in payload["prompt"]
    assert "message 7" not in payload["prompt"]
    assert payload["system_prompt"]
    assert h.messages[1]["content"] == PREFIX.format(entry["output"]["span_id"]) + (
        "LLM summary of the chat\n\nKey points:\n- k"
    )


def test_compact_llm_plain_text_content(make_runtime) -> None:
    llm = FakeLLM(lambda payload: EffectOutcome.completed({"content": "Just prose."}))
    h = Harness(make_runtime(effect_handlers={EffectType.LLM_CALL: llm}))
    h.set_messages(conversation(8))
    entry = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})
    assert entry["output"]["summary"] == "Just prose."


def test_compact_without_summarizer_or_llm_handler_fails_clearly(runtime) -> None:
    h = Harness(runtime)
    h.set_messages(conversation(8))
    entry = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})
    assert entry["success"] is False
    assert "needs a chat_summarizer or an LLM_CALL effect handler" in entry["error"]
    assert runtime.get_state(entry["meta"]["llm_run_id"]).status == RunStatus.FAILED
    assert len(h.messages) == 9  # unchanged
    assert h.spans == []


def test_compact_llm_child_cannot_wait(make_runtime) -> None:
    wait = WaitState(reason=WaitReason.USER, wait_key="approve", resume_to_node="done")
    llm = FakeLLM(lambda payload: EffectOutcome.waiting(wait))
    runtime = make_runtime(effect_handlers={EffectType.LLM_CALL: llm})
    h = Harness(runtime)
    h.set_messages(conversation(8))
    entry = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})
    assert entry["success"] is False
    assert "cannot wait" in entry["error"]
    assert runtime.get_state(entry["meta"]["llm_run_id"]).status == RunStatus.CANCELLED


def test_compact_llm_failure_is_reported(make_runtime) -> None:
    llm = FakeLLM(lambda payload: EffectOutcome.failed("quota exceeded"))
    h = Harness(make_runtime(effect_handlers={EffectType.LLM_CALL: llm}))
    h.set_messages(conversation(8))
    entry = h.tool(EffectType.MEMORY_COMPACT, {"preserve_recent": 2})
    assert entry["success"] is False
    assert "quota exceeded" in entry["error"]


def test_compact_target_run(make_runtime) -> None:
    runtime = make_runtime(chat_summarizer=FakeSummarizer())
    target = Harness(runtime)
    target.set_messages(conversation(8))
    worker = Harness(runtime)
    entry = worker.tool(EffectType.MEMORY_COMPACT, {"target_run_id": target.run_id, "preserve_recent": 2})
    assert entry["success"], entry["error"]
    assert entry["meta"]["owner_run_id"] == target.run_id
    assert target.spans[-1]["artifact_id"] == entry["output"]["span_id"]
    assert target.messages[1]["content"].startswith("[CONVERSATION HISTORY SUMMARY")
    assert worker.spans == []
    missing = worker.tool(EffectType.MEMORY_COMPACT, {"target_run_id": "ghost"})
    assert missing["success"] is False and "unknown target run ghost" in missing["error"]
