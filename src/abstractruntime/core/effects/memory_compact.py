"""MEMORY_COMPACT (SPEC §4.9 "MEMORY_COMPACT in detail"): archive older messages behind a summary.

Payload: ``preserve_recent`` (default 6, non-system messages kept verbatim), ``compression_mode``
(``light``/``standard``/``heavy``; anything else is treated as ``standard`` with a warning),
``focus``, ``target_run_id`` (compact another run, with a revisioned write), ``tool_name`` (default
``compact_memory``), ``call_id``.

Steps: normalise the messages (every message gets a ``metadata.message_id``); keep the system messages
and the newest ``preserve_recent`` others; summarise the older ones (``memory_summarize``); store them
as the artifact ``{messages, span, created_at}`` tagged ``kind=conversation_span``; rewrite
``context.messages`` as system messages, then the system summary message (content
``[CONVERSATION HISTORY SUMMARY span_id=<artifact_id>]: <summary>``, plus a ``Key points:`` list when
the summarizer gave some), then the remaining messages; append the span ``{kind:
"conversation_span", artifact_id, summary_message_id, created_at, from/to_timestamp,
from/to_message_id, message_count, compression_mode, focus, created_by?}``.

Tool output: ``{"compacted", "span_id", "summary_message_id", "archived_messages", "kept_messages",
"summary"}``; ``meta``: ``{"llm_run_id", "span_id", "summary_message_id", "compression_mode", "focus",
"key_points", "confidence", "owner_run_id", "warnings"}``.  With nothing older than the preserved
messages the call succeeds with ``compacted: False`` and changes nothing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from ...errors import ConcurrencyError, RunNotFoundError
from ..clock import to_iso
from ..models import Effect, RunState
from ..outcome import EffectOutcome
from .kernel import Kernel
from .memory_common import ToolCall, as_int, missing_store_message, store_json_artifact
from .memory_messages import (
    SUMMARY_MESSAGE_KIND,
    context_messages,
    message_id,
    message_key,
    normalize_message,
    summary_prefix,
)
from .memory_scopes import MemoryOwner, apply_to_owner, load_owner
from .memory_spans import get_memory_spans
from .memory_summarize import Summary, SummaryError, summarize_messages

__all__ = ["COMPRESSION_MODES", "make_memory_compact_handler", "split_messages"]

COMPRESSION_MODES = ("light", "standard", "heavy")


def split_messages(
    raw: list[Any], preserve_recent: int
) -> tuple[list[dict[str, Any]], list[tuple[Any, dict[str, Any]]], list[dict[str, Any]]]:
    """``(system, older, recent)`` from raw messages; ``older`` pairs each original with its normalised copy."""
    system: list[dict[str, Any]] = []
    others: list[tuple[Any, dict[str, Any]]] = []
    for item in raw:
        message = normalize_message(item)
        if message is None:
            continue
        if message["role"] == "system":
            system.append(message)
        else:
            others.append((item, message))
    cut = max(len(others) - max(preserve_recent, 0), 0)
    return system, others[:cut], [m for _, m in others[cut:]]


def _edge(messages: list[dict[str, Any]], key: str, *, last: bool) -> Any:
    ordered = reversed(messages) if last else iter(messages)
    for message in ordered:
        value = message.get(key) if key == "timestamp" else message_id(message)
        if value:
            return value
    return None


def _summary_content(artifact_id: str, summary: Summary) -> str:
    text = summary.text
    if summary.key_points:
        text += "\n\nKey points:\n" + "\n".join(f"- {p}" for p in summary.key_points)
    return summary_prefix(artifact_id) + text


def _apply(
    older_keys: list[str], summary_message: dict[str, Any], span: dict[str, Any]
) -> Callable[[RunState], None]:
    """An idempotent mutation: drop the archived messages, insert the summary, index the span."""

    def mutate(target: RunState) -> None:
        messages = context_messages(target, create=True)
        if any(message_id(m) == summary_message["metadata"]["message_id"] for m in messages):
            return
        pending = Counter(older_keys)
        system: list[dict[str, Any]] = []
        rest: list[dict[str, Any]] = []
        for item in messages:
            key = message_key(item)
            if pending[key] > 0:
                pending[key] -= 1
                continue
            message = normalize_message(item)
            if message is not None:
                (system if message["role"] == "system" else rest).append(message)
        messages[:] = [*system, dict(summary_message), *rest]
        spans = get_memory_spans(target, create=True)
        if all(not isinstance(s, dict) or s.get("artifact_id") != span["artifact_id"] for s in spans):
            spans.append(dict(span))

    return mutate


def _span(
    run: RunState, archived: list[dict[str, Any]], *, now: str, mode: str, focus: str | None
) -> dict[str, Any]:
    """The ``conversation_span`` index entry for ``archived`` (new artifact and summary message ids)."""
    span: dict[str, Any] = {
        "kind": "conversation_span",
        "artifact_id": uuid.uuid4().hex,
        "summary_message_id": f"msg_{uuid.uuid4().hex}",
        "created_at": now,
        "from_timestamp": _edge(archived, "timestamp", last=False),
        "to_timestamp": _edge(archived, "timestamp", last=True),
        "from_message_id": _edge(archived, "message_id", last=False),
        "to_message_id": _edge(archived, "message_id", last=True),
        "message_count": len(archived),
        "compression_mode": mode,
        "focus": focus,
    }
    if run.actor_id:
        span["created_by"] = run.actor_id
    return span


def _summary_message(span: dict[str, Any], summary: Summary) -> dict[str, Any]:
    return {
        "role": "system",
        "content": _summary_content(span["artifact_id"], summary),
        "timestamp": span["created_at"],
        "metadata": {
            "message_id": span["summary_message_id"],
            "kind": SUMMARY_MESSAGE_KIND,
            "span_id": span["artifact_id"],
            "compression_mode": span["compression_mode"],
            "message_count": span["message_count"],
        },
    }


def _mode(payload: dict[str, Any], warnings: list[str]) -> str:
    mode = str(payload.get("compression_mode") or "standard").strip().lower()
    if mode not in COMPRESSION_MODES:
        warnings.append(f"unknown compression_mode {payload.get('compression_mode')!r}; using standard")
        return "standard"
    return mode


class _Compaction:
    """One MEMORY_COMPACT call: the parsed payload, the target and the ``meta`` reported back."""

    def __init__(self, kernel: Kernel, run: RunState, payload: dict[str, Any]) -> None:
        self.kernel = kernel
        self.run = run
        self.call = ToolCall.from_payload(payload, default_name="compact_memory")
        warnings: list[str] = []
        self.mode = _mode(payload, warnings)
        self.focus = str(payload.get("focus") or "").strip() or None
        self.preserve = as_int(payload.get("preserve_recent"), 6, minimum=0)
        self.owner = MemoryOwner("run", str(payload.get("target_run_id") or run.run_id))
        self.meta: dict[str, Any] = {
            "llm_run_id": None,
            "span_id": None,
            "summary_message_id": None,
            "compression_mode": self.mode,
            "focus": self.focus,
            "owner_run_id": self.owner.run_id,
            "warnings": warnings,
        }

    def error(self, message: str) -> EffectOutcome:
        """A failed tool result carrying the meta gathered so far."""
        return self.call.error(message, meta=self.meta)

    def execute(self, store: Any) -> EffectOutcome:
        """Split, summarise, archive and rewrite the context (see the module docstring)."""
        target = load_owner(self.kernel, self.run, self.owner)
        if target is None:
            return self.error(f"memory_compact: unknown target run {self.owner.run_id}")
        system, older, recent = split_messages(list(context_messages(target)), self.preserve)
        if not older:
            reason = (
                f"nothing to compact: {len(recent)} non-system message(s), preserve_recent={self.preserve}"
            )
            return self.call.ok({"compacted": False, "reason": reason}, meta=self.meta)
        archived = [m for _, m in older]
        try:
            summary = summarize_messages(
                self.kernel, self.run, archived, compression_mode=self.mode, focus=self.focus
            )
        except SummaryError as exc:
            self.meta["llm_run_id"] = exc.llm_run_id
            return self.error(str(exc))
        self.meta.update(
            llm_run_id=summary.llm_run_id, key_points=summary.key_points, confidence=summary.confidence
        )
        now = to_iso(self.kernel.now())
        span = _span(self.run, archived, now=now, mode=self.mode, focus=self.focus)
        try:
            store_json_artifact(
                store,
                {"messages": archived, "span": span, "created_at": now},
                run_id=self.owner.run_id,
                tags={"kind": "conversation_span"},
                artifact_id=span["artifact_id"],
            )
        except (OSError, ValueError, TypeError) as exc:
            return self.error(f"memory_compact could not store the archived messages: {exc}")
        older_keys = [message_key(original) for original, _ in older]
        mutate = _apply(older_keys, _summary_message(span, summary), span)
        try:
            apply_to_owner(self.kernel, self.run, self.owner, mutate)
        except RunNotFoundError:
            return self.error(f"memory_compact: unknown target run {self.owner.run_id}")
        except ConcurrencyError as exc:
            return self.error(f"memory_compact could not update run {self.owner.run_id}: {exc}")
        self.meta.update(span_id=span["artifact_id"], summary_message_id=span["summary_message_id"])
        output = {
            "compacted": True,
            "span_id": span["artifact_id"],
            "summary_message_id": span["summary_message_id"],
            "archived_messages": len(archived),
            "kept_messages": len(system) + len(recent),
            "summary": summary.text,
        }
        return self.call.ok(output, meta=self.meta)


def make_memory_compact_handler(kernel: Kernel) -> Callable[[RunState, Effect, str | None], EffectOutcome]:
    """A MEMORY_COMPACT handler bound to ``kernel`` (artifact store, summarizer, run store, clock)."""

    def memory_compact(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        compaction = _Compaction(kernel, run, payload)
        store = kernel.artifact_store
        if store is None:
            return compaction.call.error(missing_store_message("memory_compact"))
        return compaction.execute(store)

    return memory_compact
