"""Durable memory: note facts, compact a long chat behind a summary, recall and rehydrate.

Run: python examples/memory_notes.py [artifact_dir]

One workflow run does it all with the built-in MEMORY_* effects (docs/memory.md):

1. ``remember``  — MEMORY_NOTE stores a fact in session memory (artifact + span index entry).
2. ``compact``   — MEMORY_COMPACT archives the older chat messages behind a summary message.  A toy
   summarizer stands in for an LLM here.
3. ``recall``    — MEMORY_QUERY searches the run and session memory for "database".
4. ``rehydrate`` — MEMORY_REHYDRATE brings the archived messages back after the summary.
"""

from __future__ import annotations

import sys
import tempfile
from typing import Any

from abstractruntime import (
    Effect,
    EffectType,
    InMemoryLedgerStore,
    InMemoryRunStore,
    RunStatus,
    Runtime,
    StepPlan,
    WorkflowSpec,
)
from abstractruntime.storage.artifacts import FileArtifactStore


class ToySummarizer:
    """The chat_summarizer contract (SPEC §4.1): returns {"summary", "key_points", "confidence"}."""

    def summarize_chat_history(self, messages, *, preserve_recent=6, focus=None, compression_mode="standard"):
        topics = sorted({m["content"].split()[-1] for m in messages})
        return {
            "summary": f"{len(messages)} messages about {', '.join(topics)}.",
            "key_points": [],
            "confidence": 1,
        }


def step(node: str, effect_type: EffectType, payload: dict[str, Any], next_node: str | None):
    def handler(run, ctx):
        effect = Effect(type=effect_type, payload=payload, result_key=f"scratchpad.{node}")
        return StepPlan(node_id=node, effect=effect, next_node=next_node)

    return handler


WORKFLOW = WorkflowSpec(
    workflow_id="memory_demo",
    entry_node="remember",
    nodes={
        "remember": step(
            "remember",
            EffectType.MEMORY_NOTE,
            {
                "note": "The billing database is PostgreSQL 16",
                "scope": "session",
                "tags": {"topic": "database"},
            },
            "compact",
        ),
        "compact": step("compact", EffectType.MEMORY_COMPACT, {"preserve_recent": 2}, "recall"),
        "recall": step(
            "recall",
            EffectType.MEMORY_QUERY,
            {"query": "database", "scope": "all", "deep": True},
            "rehydrate",
        ),
        "rehydrate": step("rehydrate", EffectType.MEMORY_REHYDRATE, {"span_ids": [1]}, None),
    },
)


def main(artifact_dir: str) -> None:
    runtime = Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        artifact_store=FileArtifactStore(artifact_dir),
        chat_summarizer=ToySummarizer(),
    )
    chat = [{"role": "system", "content": "You are the ops assistant."}]
    for i, topic in enumerate(["database", "database", "backups", "deploy", "deploy", "monitoring"]):
        chat.append({"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} about {topic}"})
    run_id = runtime.start(workflow=WORKFLOW, vars={"context": {"messages": chat}}, session_id="ops-chat")
    state = runtime.tick(workflow=WORKFLOW, run_id=run_id)
    assert state.status == RunStatus.COMPLETED, state.error

    scratch = state.vars["scratchpad"]
    print("noted span:", scratch["remember"]["results"][0]["output"]["span_id"])
    print("compacted:", scratch["compact"]["results"][0]["output"]["archived_messages"], "messages")
    print(scratch["recall"]["results"][0]["output"])
    print("rehydrated:", scratch["rehydrate"]["inserted"], "messages")
    for message in state.vars["context"]["messages"]:
        print(f"  {message['role']:>9}: {message['content'][:70]}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="memory_demo_"))
