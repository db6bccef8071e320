"""Helpers for the memory effect tests (SPEC §4.9, §10.4).

:class:`Harness` keeps one run alive and feeds it effects one at a time through the public Runtime
API: the run waits on ASK_USER, ``call`` resumes it with ``{"type", "payload"}``, a dispatch node runs
that effect (result at ``vars.last``) and the run goes back to waiting.  Each call gets a distinct
``call_id`` so that identical payloads are not reused through idempotency.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from abstractruntime import (
    Effect,
    EffectType,
    RunState,
    RunStatus,
    Runtime,
    StepPlan,
    WorkflowSpec,
)
from abstractruntime.core.runtime import EffectOutcome


def _ask(run: RunState, ctx: Any) -> StepPlan:
    seq = int(run.vars.get("_seq", 0)) + 1
    run.vars["_seq"] = seq
    effect = Effect(type=EffectType.ASK_USER, payload={"prompt": f"next {seq}"}, result_key="_temp.incoming")
    return StepPlan(node_id="ask", effect=effect, next_node="dispatch")


def _dispatch(run: RunState, ctx: Any) -> StepPlan:
    item = run.vars["_temp"]["incoming"]
    payload = dict(item["payload"])
    payload.setdefault("call_id", f"c{run.vars['_seq']}")
    effect = Effect(type=EffectType(item["type"]), payload=payload, result_key="last")
    return StepPlan(node_id="dispatch", effect=effect, next_node="ask")


HARNESS_FLOW = WorkflowSpec(
    workflow_id="memory_harness", entry_node="ask", nodes={"ask": _ask, "dispatch": _dispatch}
)


class Harness:
    """One long-lived run driven effect by effect."""

    def __init__(self, runtime: Runtime, **start_kwargs: Any) -> None:
        self.runtime = runtime
        self.run_id = runtime.start(workflow=HARNESS_FLOW, **start_kwargs)
        state = runtime.tick(workflow=HARNESS_FLOW, run_id=self.run_id)
        assert state.status == RunStatus.WAITING

    def call_state(self, effect_type: EffectType, payload: dict[str, Any] | None = None) -> RunState:
        """Run one effect; returns the run state afterwards (WAITING again, or FAILED)."""
        return self.runtime.resume(
            workflow=HARNESS_FLOW,
            run_id=self.run_id,
            wait_key=None,
            payload={"type": effect_type.value, "payload": payload or {}},
        )

    def call(self, effect_type: EffectType, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one effect and return its result (the run must not fail)."""
        state = self.call_state(effect_type, payload)
        assert state.status == RunStatus.WAITING, state.error
        return state.vars["last"]

    def tool(self, effect_type: EffectType, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a tool-shaped memory effect and return its single result entry."""
        result = self.call(effect_type, payload)
        assert result["mode"] == "executed"
        assert len(result["results"]) == 1
        return result["results"][0]

    @property
    def state(self) -> RunState:
        return self.runtime.get_state(self.run_id)

    @property
    def spans(self) -> list[dict[str, Any]]:
        return self.state.vars["_runtime"].get("memory_spans", [])

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.state.vars.get("context", {}).get("messages", [])

    def set_messages(self, messages: list[dict[str, Any]]) -> None:
        """Replace context.messages (the harness run is waiting, so a direct save is safe)."""
        state = self.runtime.get_state(self.run_id)
        state.vars.setdefault("context", {})["messages"] = messages
        self.runtime.run_store.save(state)


class FakeSummarizer:
    """A chat_summarizer (SPEC §4.1) that records its calls."""

    def __init__(self, summary: str = "They agreed on PostgreSQL.") -> None:
        self.summary = summary
        self.calls: list[dict[str, Any]] = []

    def summarize_chat_history(
        self,
        messages: list[dict[str, Any]],
        *,
        preserve_recent: int = 6,
        focus: str | None = None,
        compression_mode: str = "standard",
    ) -> dict[str, Any]:
        self.calls.append(
            {
                "messages": messages,
                "preserve_recent": preserve_recent,
                "focus": focus,
                "mode": compression_mode,
            }
        )
        return {"summary": self.summary, "key_points": ["database: PostgreSQL"], "confidence": 0.9}


class FakeLLM:
    """An LLM_CALL handler returning a JSON summary as content (or a scripted outcome)."""

    def __init__(self, outcome: Callable[[dict[str, Any]], EffectOutcome] | None = None) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.runs: list[RunState] = []
        self._outcome = outcome

    def __call__(self, run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        self.payloads.append(effect.payload)
        self.runs.append(run)
        if self._outcome is not None:
            return self._outcome(effect.payload)
        content = json.dumps({"summary": "LLM summary of the chat", "key_points": ["k"], "confidence": 0.7})
        return EffectOutcome.completed({"content": content, "usage": {"input_tokens": 10}})


def conversation(count: int, *, start_hour: int = 9, with_ids: bool = True) -> list[dict[str, Any]]:
    """``count`` alternating user/assistant messages, one minute apart, after a system message."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are helpful."}]
    for i in range(count):
        message: dict[str, Any] = {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"message {i} about {'databases' if i < 2 else 'deployment'}",
            "timestamp": f"2026-01-01T{start_hour:02d}:{i:02d}:00+00:00",
        }
        if with_ids:
            message["metadata"] = {"message_id": f"m{i}"}
        messages.append(message)
    return messages
