"""Rehydration: put archived span messages back into ``context.messages`` (SPEC §4.9, §10.4).

Shared by the MEMORY_REHYDRATE handler and ``ActiveContextPolicy.rehydrate_into_context``.  It runs
in two phases so that artifact reads stay outside any optimistic-concurrency retry:

1. :func:`load_spans` resolves span ids (artifact ids or 1-based indexes into the run's span index)
   and loads each span's messages: a ``conversation_span`` gives its archived ``messages``; a
   ``memory_note`` gives one system message ``[MEMORY NOTE span_id=<id>]: <note>``; other kinds
   (``evidence``) cannot be rehydrated and are reported with an error.
2. :func:`apply_rehydration` inserts them into a run (idempotent with ``dedup_by="message_id"``).

Placement: ``after_summary`` (default) puts a conversation span's messages right after the summary
message that replaced them (falling back to ``after_system``, with a warning, when that summary is no
longer in the context); ``after_system`` puts them after the leading block of system messages;
``end`` appends them.  Inserted copies carry ``metadata.rehydrated_from = <span_id>``.

The report is ``{"inserted", "skipped", "artifacts": [{span_id, inserted, skipped, error, kind,
preview}], "warnings"}``; ``skipped`` counts duplicates and messages over ``max_messages``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import RunState
from .memory_common import load_json_artifact, preview
from .memory_messages import (
    SUMMARY_MESSAGE_KIND,
    context_messages,
    message_id,
    message_text,
    normalize_messages,
    note_message,
    summary_prefix,
)
from .memory_spans import get_memory_spans, resolve_span_refs

__all__ = ["PLACEMENTS", "LoadedSpan", "apply_rehydration", "load_spans", "normalize_options"]

PLACEMENTS = ("after_summary", "after_system", "end")


@dataclass
class LoadedSpan:
    """One requested span with the messages to insert (empty with ``error`` when it cannot be used)."""

    span_id: str
    kind: str | None
    messages: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def normalize_options(placement: Any, dedup_by: Any) -> tuple[str, str | None, list[str]]:
    """``(placement, dedup_by, warnings)``: unknown placements fall back to ``after_summary``;
    ``dedup_by`` None/``"none"``/``""`` disables deduplication, anything else means ``message_id``."""
    warnings: list[str] = []
    where = str(placement or "after_summary").strip().lower()
    if where not in PLACEMENTS:
        warnings.append(f"unknown placement {placement!r}; using after_summary")
        where = "after_summary"
    dedup: str | None = "message_id"
    if dedup_by is None or dedup_by is False or str(dedup_by).strip().lower() in {"", "none", "false"}:
        dedup = None
    elif str(dedup_by).strip() != "message_id":
        warnings.append(f"unsupported dedup_by {dedup_by!r}; deduplicating by message_id")
    return where, dedup, warnings


def load_spans(store: Any, run: RunState, span_ids: Any) -> list[LoadedSpan]:
    """Resolve ``span_ids`` against ``run``'s span index and load their messages from ``store``."""
    spans = get_memory_spans(run)
    loaded: list[LoadedSpan] = []
    for ref in resolve_span_refs(span_ids, spans):
        span = spans[ref.index] if ref.index is not None else None
        kind = span.get("kind") if isinstance(span, dict) else None
        if ref.artifact_id is None:
            loaded.append(LoadedSpan(ref.requested, None, error=f"unknown span id {ref.requested}"))
            continue
        data, error = load_json_artifact(store, ref.artifact_id)
        if error is not None:
            loaded.append(LoadedSpan(ref.artifact_id, kind, error=error))
            continue
        loaded.append(_span_messages(ref.artifact_id, kind, data, span))
    return loaded


def _span_messages(artifact_id: str, kind: Any, data: Any, span: Any) -> LoadedSpan:
    if not isinstance(kind, str) and isinstance(data, dict):
        kind = "conversation_span" if "messages" in data else "memory_note" if "note" in data else None
    if kind == "conversation_span" and isinstance(data, dict) and isinstance(data.get("messages"), list):
        return LoadedSpan(artifact_id, kind, normalize_messages(data["messages"]))
    if kind == "memory_note" and isinstance(data, dict) and isinstance(data.get("note"), str):
        created = data.get("created_at") or (span.get("created_at") if isinstance(span, dict) else None)
        stamp = created if isinstance(created, str) else None
        return LoadedSpan(
            artifact_id, kind, [note_message(artifact_id=artifact_id, note=data["note"], timestamp=stamp)]
        )
    return LoadedSpan(
        artifact_id, kind if isinstance(kind, str) else None, error=f"span kind {kind!r} cannot be rehydrated"
    )


def _leading_system_end(messages: list[Any]) -> int:
    position = 0
    while (
        position < len(messages)
        and isinstance(messages[position], dict)
        and messages[position].get("role") == "system"
    ):
        position += 1
    return position


def _summary_position(messages: list[Any], span_id: str) -> int | None:
    prefix = summary_prefix(span_id)
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        metadata = message.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        if metadata.get("kind") == SUMMARY_MESSAGE_KIND and metadata.get("span_id") == span_id:
            return i + 1
        content = message.get("content")
        if isinstance(content, str) and content.startswith(prefix):
            return i + 1
    return None


def apply_rehydration(
    run: RunState,
    loaded: list[LoadedSpan],
    *,
    placement: str,
    dedup_by: str | None,
    max_messages: int | None,
) -> dict[str, Any]:
    """Insert the loaded messages into ``run``'s ``context.messages`` and return the report."""
    messages = context_messages(run, create=True)
    seen = {mid for mid in (message_id(m) for m in messages) if mid}
    budget = max_messages if max_messages is not None and max_messages >= 0 else None
    warnings: list[str] = []
    entries: list[dict[str, Any]] = []
    total = 0
    for item in loaded:
        inserted = skipped = 0
        position = _insert_position(messages, item, placement, warnings)
        for message in item.messages:
            mid = message_id(message)
            if dedup_by is not None and mid and mid in seen:
                skipped += 1
                continue
            if budget is not None and total >= budget:
                skipped += 1
                if not any("max_messages" in w for w in warnings):
                    warnings.append(f"max_messages={budget} reached; remaining messages skipped")
                continue
            metadata = message.get("metadata")
            copy_ = dict(message)
            copy_["metadata"] = {
                **(metadata if isinstance(metadata, dict) else {}),
                "rehydrated_from": item.span_id,
            }
            messages.insert(position, copy_)
            position += 1
            if mid:
                seen.add(mid)
            inserted += 1
            total += 1
        entries.append(
            {
                "span_id": item.span_id,
                "inserted": inserted,
                "skipped": skipped,
                "error": item.error,
                "kind": item.kind,
                "preview": preview(message_text(item.messages[0])) if item.messages else "",
            }
        )
    skipped_total = sum(int(e["skipped"]) for e in entries)
    return {"inserted": total, "skipped": skipped_total, "artifacts": entries, "warnings": warnings}


def _insert_position(messages: list[Any], item: LoadedSpan, placement: str, warnings: list[str]) -> int:
    if placement == "end":
        return len(messages)
    if placement == "after_summary" and item.kind == "conversation_span" and item.messages:
        found = _summary_position(messages, item.span_id)
        if found is not None:
            return found
        warnings.append(f"no summary message for span {item.span_id}; placed after the system messages")
    return _leading_system_end(messages)
