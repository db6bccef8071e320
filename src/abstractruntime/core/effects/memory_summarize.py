"""Summarising older messages for MEMORY_COMPACT (SPEC §4.9 "MEMORY_COMPACT in detail", step 3).

Two routes, in this order:

1. ``kernel.chat_summarizer`` (SPEC §4.1) when the runtime has one:
   ``summarize_chat_history(messages, preserve_recent=0, focus=..., compression_mode=...)`` is given
   only the older messages (the recent ones were already set aside) and must return a dict with a
   non-blank ``summary`` (``key_points`` and ``confidence`` are optional).
2. Otherwise an internal child run of the workflow ``wf_memory_compact_llm`` (parent: the compacting
   run, same actor and session).  Its single effect node performs an LLM_CALL through whatever
   LLM_CALL handler the host registered, asking for JSON ``{"summary", "key_points", "confidence"}``
   (plain text is accepted as the summary).  The child cannot wait: if it waits (or is still running
   after its step budget) it is cancelled and the compaction fails.  Without an LLM_CALL handler the
   child fails and the compaction reports that a chat_summarizer or an LLM_CALL handler is needed.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from ..models import Effect, EffectType, RunState, RunStatus, StepPlan
from ..spec import RunContext, WorkflowSpec
from .kernel import Kernel
from .memory_common import as_str_list
from .memory_messages import message_text

__all__ = ["COMPACT_WORKFLOW_ID", "Summary", "SummaryError", "summarize_messages"]

_log = logging.getLogger("abstractruntime.memory")

COMPACT_WORKFLOW_ID = "wf_memory_compact_llm"
_CHILD_MAX_STEPS = 10
_NO_LLM = "No effect handler registered for llm_call"
_MODE_GUIDE = {
    "light": "Keep most details: decisions, facts, names, numbers, open questions, and the reasoning behind them.",
    "standard": "Keep the decisions, facts, names, numbers and open questions; drop small talk and repetition.",
    "heavy": "Be very brief: only the essential decisions, facts and open questions, in a few sentences.",
}
_SYSTEM_PROMPT = (
    "You compress conversation history for an AI agent's memory. Reply with JSON only: "
    '{"summary": "<text>", "key_points": ["<point>", ...], "confidence": <0..1>}.'
)


@dataclass
class Summary:
    """A summary of the older messages, with the id of the LLM child run when one was used."""

    text: str
    key_points: list[str] = field(default_factory=list)
    confidence: Any = None
    llm_run_id: str | None = None


class SummaryError(Exception):
    """Summarisation failed; ``llm_run_id`` names the child run when one was started."""

    def __init__(self, message: str, *, llm_run_id: str | None = None) -> None:
        super().__init__(message)
        self.llm_run_id = llm_run_id


def summarize_messages(
    kernel: Kernel, run: RunState, messages: list[dict[str, Any]], *, compression_mode: str, focus: str | None
) -> Summary:
    """Summarise ``messages`` with the chat summarizer, or else with an LLM child run.

    Raises:
        SummaryError: the summarizer raised or returned no summary, the child run failed, waited or
            did not finish, or no LLM_CALL handler is registered.
    """
    summarizer = kernel.chat_summarizer
    if summarizer is not None:
        return _with_summarizer(summarizer, messages, compression_mode=compression_mode, focus=focus)
    return _with_llm_child(kernel, run, messages, compression_mode=compression_mode, focus=focus)


def _with_summarizer(
    summarizer: Any, messages: list[dict[str, Any]], *, compression_mode: str, focus: str | None
) -> Summary:
    try:
        answer = summarizer.summarize_chat_history(
            messages, preserve_recent=0, focus=focus, compression_mode=compression_mode
        )
    except Exception as exc:  # a host summarizer may raise anything: reported, not swallowed
        raise SummaryError(f"memory_compact: chat_summarizer failed: {exc}") from exc
    summary = _parse_summary(answer)
    if summary is None:
        raise SummaryError("memory_compact: chat_summarizer returned no summary")
    return summary


def _parse_summary(answer: Any) -> Summary | None:
    """A :class:`Summary` from a dict ``{"summary", "key_points"?, "confidence"?}`` or plain text."""
    if isinstance(answer, str):
        return Summary(answer.strip()) if answer.strip() else None
    if not isinstance(answer, dict):
        return None
    found = answer.get("summary")
    if not isinstance(found, str) or not found.strip():
        return None
    return Summary(found.strip(), as_str_list(answer.get("key_points")), answer.get("confidence"))


def _transcript(messages: list[dict[str, Any]]) -> str:
    lines = []
    for message in messages:
        stamp = message.get("timestamp")
        head = f"[{stamp}] {message.get('role')}" if isinstance(stamp, str) else str(message.get("role"))
        lines.append(f"{head}: {message_text(message)}")
    return "\n".join(lines)


def _prompt(messages: list[dict[str, Any]], compression_mode: str, focus: str | None) -> str:
    parts = [
        f"Summarize the following {len(messages)} conversation messages.",
        _MODE_GUIDE.get(compression_mode, _MODE_GUIDE["standard"]),
    ]
    if focus:
        parts.append(f"Focus on: {focus}")
    parts.append("Conversation:\n" + _transcript(messages))
    return "\n\n".join(parts)


def _compact_workflow(payload: dict[str, Any]) -> WorkflowSpec:
    def summarize(run: RunState, ctx: RunContext) -> StepPlan:
        effect = Effect(type=EffectType.LLM_CALL, payload=payload, result_key="_temp.llm_response")
        return StepPlan(node_id="summarize", effect=effect, next_node="done")

    def done(run: RunState, ctx: RunContext) -> StepPlan:
        temp = run.vars.get("_temp")
        response = temp.get("llm_response") if isinstance(temp, dict) else None
        return StepPlan(node_id="done", complete_output={"response": response})

    return WorkflowSpec(
        workflow_id=COMPACT_WORKFLOW_ID, entry_node="summarize", nodes={"summarize": summarize, "done": done}
    )


def _child_vars(run: RunState) -> dict[str, Any]:
    parent_runtime = run.vars.get("_runtime")
    runtime_ns: dict[str, Any] = {}
    if isinstance(parent_runtime, dict):
        for key in ("provider", "model"):
            if parent_runtime.get(key):
                runtime_ns[key] = parent_runtime[key]
    return {"context": {"task": "memory_compact"}, "_runtime": runtime_ns}


def _with_llm_child(
    kernel: Kernel, run: RunState, messages: list[dict[str, Any]], *, compression_mode: str, focus: str | None
) -> Summary:
    payload = {
        "system_prompt": _SYSTEM_PROMPT,
        "prompt": _prompt(messages, compression_mode, focus),
        "params": {"temperature": 0.2},
    }
    spec = _compact_workflow(payload)
    child_id = kernel.start(
        workflow=spec,
        vars=_child_vars(run),
        actor_id=run.actor_id,
        session_id=run.session_id,
        parent_run_id=run.run_id,
    )
    try:
        child = kernel.tick(workflow=spec, run_id=child_id, max_steps=_CHILD_MAX_STEPS)
    except Exception as exc:  # reported as the compaction's failure
        raise SummaryError(
            f"memory_compact: summarization run {child_id} raised: {exc}", llm_run_id=child_id
        ) from exc
    if child.status == RunStatus.COMPLETED:
        response = child.output.get("response") if isinstance(child.output, dict) else None
        summary = _summary_from_llm(response)
        if summary is None:
            raise SummaryError(
                f"memory_compact: summarization run {child_id} returned no summary", llm_run_id=child_id
            )
        summary.llm_run_id = child_id
        return summary
    if child.status == RunStatus.FAILED:
        if _NO_LLM in (child.error or ""):
            raise SummaryError(
                "memory_compact needs a chat_summarizer or an LLM_CALL effect handler: "
                f"no LLM_CALL handler is registered (summarization run {child_id} failed)",
                llm_run_id=child_id,
            )
        raise SummaryError(
            f"memory_compact: summarization run {child_id} failed: {child.error}", llm_run_id=child_id
        )
    status = RunStatus(child.status).value
    kernel.cancel_run(child_id, reason="memory_compact summarization cannot wait")
    _log.warning("memory_compact child run %s was %s; cancelled", child_id, status)
    raise SummaryError(
        f"memory_compact: summarization run {child_id} ended {status}; the summarization run cannot wait",
        llm_run_id=child_id,
    )


def _summary_from_llm(response: Any) -> Summary | None:
    """The summary in an LLM result: structured ``data`` first, then JSON (or plain text) ``content``."""
    if isinstance(response, str):
        response = {"content": response}
    if not isinstance(response, dict):
        return None
    data = response.get("data")
    if isinstance(data, dict):
        found = _parse_summary(data)
        if found is not None:
            return found
    content = response.get("content")
    if not isinstance(content, str) or not content.strip():
        return None
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip())
    try:
        parsed = json.loads(text)
    except ValueError:
        return Summary(content.strip())
    return _parse_summary(parsed) or Summary(content.strip())
