"""MEMORY_NOTE (SPEC §4.9): store a note as an artifact and index it as a ``memory_note`` span.

Payload: ``note`` (required, non-blank text), ``tags`` (see ``memory_spans.normalize_tags``),
``sources`` ``{run_id, span_ids, message_ids}``, ``location``, ``scope`` (run/session/global, default
run), ``keep_in_context`` (also put the note into the current run's ``context.messages``),
``target_run_id`` (the run-scope owner), ``tool_name`` (default ``remember_note``), ``call_id``.

The artifact is JSON ``{note, tags, sources, location, created_at, created_by, scope, run_id,
source_run_id, owner_run_id}`` with tags ``{kind: memory_note, scope}``, stored under the owner run.
The span is ``{kind: "memory_note", artifact_id, created_at, from_timestamp, to_timestamp,
message_count: 0, note_preview, source_run_id, tags?, sources?, location?, created_by?}``;
``source_run_id`` is the run that wrote the note, which differs from the owner for the session and
global scopes and ``target_run_id``.

With ``keep_in_context`` the note also goes into the *current* run's ``context.messages`` as the
system message ``[MEMORY NOTE span_id=<id>]: <note>`` with ``metadata.message_id =
"memory_note:<artifact_id>"`` (the id MEMORY_REHYDRATE deduplicates on).

Tool output: ``{"stored": True, "span_id", "artifact_id", "artifact_ref": {"$artifact", "content_type"},
"span" (the indexed span), "span_index" (1-based, in the owner's index), "scope", "owner_run_id",
"source_run_id", "kept_in_context"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import ConcurrencyError, RunNotFoundError
from ..clock import to_iso
from ..models import Effect, RunState
from ..outcome import EffectOutcome
from .kernel import Kernel
from .memory_common import ToolCall, as_bool, as_str_list, missing_store_message, preview, store_json_artifact
from .memory_messages import context_messages, message_id, note_message
from .memory_scopes import MemoryOwner, apply_to_owner, resolve_owner
from .memory_spans import get_memory_spans, normalize_tags

__all__ = ["make_memory_note_handler", "normalize_sources"]


def normalize_sources(value: Any, *, default_run_id: str) -> dict[str, Any] | None:
    """``{run_id, span_ids?, message_ids?}`` from a payload ``sources`` dict, or None when absent/empty."""
    if not isinstance(value, dict):
        return None
    span_ids = as_str_list(value.get("span_ids"))
    message_ids = as_str_list(value.get("message_ids"))
    run_id = str(value.get("run_id") or "").strip()
    if not (span_ids or message_ids or run_id):
        return None
    sources: dict[str, Any] = {"run_id": run_id or default_run_id}
    if span_ids:
        sources["span_ids"] = span_ids
    if message_ids:
        sources["message_ids"] = message_ids
    return sources


def _note_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    return "" if value is None else str(value).strip()


def _build_span(
    *,
    artifact_id: str,
    note: str,
    now: str,
    tags: dict[str, Any],
    sources: dict[str, Any] | None,
    location: str,
    created_by: str | None,
    source_run_id: str,
) -> dict[str, Any]:
    span: dict[str, Any] = {
        "kind": "memory_note",
        "artifact_id": artifact_id,
        "created_at": now,
        "from_timestamp": now,
        "to_timestamp": now,
        "message_count": 0,
        "note_preview": preview(note),
        "source_run_id": source_run_id,
    }
    if tags:
        span["tags"] = tags
    if sources:
        span["sources"] = sources
    if location:
        span["location"] = location
    if created_by:
        span["created_by"] = created_by
    return span


def _add_span(span: dict[str, Any]) -> Callable[[RunState], int]:
    """An idempotent mutation: append ``span`` unless its artifact is indexed; returns its 1-based index."""

    def mutate(owner_run: RunState) -> int:
        spans = get_memory_spans(owner_run, create=True)
        for i, existing in enumerate(spans):
            if isinstance(existing, dict) and existing.get("artifact_id") == span["artifact_id"]:
                return i + 1
        spans.append(dict(span))
        return len(spans)

    return mutate


def make_memory_note_handler(kernel: Kernel) -> Callable[[RunState, Effect, str | None], EffectOutcome]:
    """A MEMORY_NOTE handler bound to ``kernel`` (artifact store, run store, clock)."""

    def memory_note(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        call = ToolCall.from_payload(payload, default_name="remember_note")
        store = kernel.artifact_store
        if store is None:
            return call.error(missing_store_message("memory_note"))
        note = _note_text(payload.get("note"))
        if not note:
            return call.error("memory_note requires payload.note (non-blank text)")
        try:
            owner = resolve_owner(
                run, payload.get("scope"), kernel.run_store, target_run_id=payload.get("target_run_id")
            )
        except ValueError as exc:
            return call.error(f"memory_note: {exc}")
        now = to_iso(kernel.now())
        tags = normalize_tags(payload.get("tags"))
        sources = normalize_sources(payload.get("sources"), default_run_id=run.run_id)
        location = str(payload.get("location") or "").strip()
        content = {
            "note": note,
            "tags": tags,
            "sources": sources,
            "location": location or None,
            "created_at": now,
            "created_by": run.actor_id,
            "scope": owner.scope,
            "run_id": run.run_id,
            "source_run_id": run.run_id,
            "owner_run_id": owner.run_id,
        }
        try:
            artifact_id = store_json_artifact(
                store, content, run_id=owner.run_id, tags={"kind": "memory_note", "scope": owner.scope}
            )
        except (OSError, ValueError, TypeError) as exc:
            return call.error(f"memory_note could not store the note artifact: {exc}")
        span = _build_span(
            artifact_id=artifact_id,
            note=note,
            now=now,
            tags=tags,
            sources=sources,
            location=location,
            created_by=run.actor_id,
            source_run_id=run.run_id,
        )
        keep = as_bool(payload.get("keep_in_context"), False)
        return _index_note(kernel, run, owner, call, span, note=note if keep else None)

    return memory_note


def _index_note(
    kernel: Kernel,
    run: RunState,
    owner: MemoryOwner,
    call: ToolCall,
    span: dict[str, Any],
    *,
    note: str | None,
) -> EffectOutcome:
    """Index ``span`` in the owner run; with ``note`` also put the note into ``run``'s context."""
    try:
        index = apply_to_owner(kernel, run, owner, _add_span(span))
    except RunNotFoundError:
        return call.error(f"memory_note: unknown target run {owner.run_id}")
    except ConcurrencyError as exc:
        return call.error(f"memory_note could not update run {owner.run_id}: {exc}")
    if note is not None:
        messages = context_messages(run, create=True)
        message = note_message(artifact_id=span["artifact_id"], note=note, timestamp=span["created_at"])
        if all(message_id(m) != message_id(message) for m in messages):
            messages.append(message)
    artifact_id = span["artifact_id"]
    output = {
        "stored": True,
        "span_id": artifact_id,
        "artifact_id": artifact_id,
        "artifact_ref": {"$artifact": artifact_id, "content_type": "application/json"},
        "span": dict(span),
        "span_index": index,
        "scope": owner.scope,
        "owner_run_id": owner.run_id,
        "source_run_id": run.run_id,
        "kept_in_context": note is not None,
    }
    return call.ok(output)
