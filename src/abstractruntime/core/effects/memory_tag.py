"""MEMORY_TAG (SPEC §4.9): change the tags of one span index entry.

Payload: ``span_id`` (artifact id or 1-based index in the owner's span index), ``tags`` (see
``memory_spans.normalize_tags``), ``merge`` (default True: the given keys replace the same keys and
the other keys stay; False: the span's tags become exactly the given ones), ``scope``
(run/session/global), ``target_run_id``, ``tool_name`` (default ``remember``), ``call_id``.

Only the span index changes; the archived artifact is immutable.  Tool output:
``{"span_id", "span_index", "tags", "merged", "scope", "owner_run_id"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import ConcurrencyError, RunNotFoundError
from ..models import Effect, RunState
from ..outcome import EffectOutcome
from .kernel import Kernel
from .memory_common import ToolCall, as_bool
from .memory_scopes import apply_to_owner, load_owner, resolve_owner
from .memory_spans import get_memory_spans, normalize_tags, resolve_span_refs

__all__ = ["make_memory_tag_handler"]


def _retag(span_id: Any, tags: dict[str, Any], merge: bool) -> Callable[[RunState], dict[str, Any] | None]:
    """An idempotent mutation setting the tags of ``span_id``; returns ``{span_id, span_index, tags}`` or None."""

    def mutate(owner_run: RunState) -> dict[str, Any] | None:
        spans = get_memory_spans(owner_run)
        refs = resolve_span_refs(span_id, spans)
        if not refs or refs[0].index is None:
            return None
        span = spans[refs[0].index]
        current = span.get("tags") if isinstance(span.get("tags"), dict) else {}
        new_tags = {**current, **tags} if merge else dict(tags)
        if new_tags:
            span["tags"] = new_tags
        else:
            span.pop("tags", None)
        return {"span_id": span.get("artifact_id"), "span_index": refs[0].index + 1, "tags": new_tags}

    return mutate


def make_memory_tag_handler(kernel: Kernel) -> Callable[[RunState, Effect, str | None], EffectOutcome]:
    """A MEMORY_TAG handler bound to ``kernel`` (run store, clock)."""

    def memory_tag(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        call = ToolCall.from_payload(payload, default_name="remember")
        span_id = payload.get("span_id")
        if span_id is None or isinstance(span_id, bool) or not str(span_id).strip():
            return call.error("memory_tag requires payload.span_id (an artifact id or a 1-based index)")
        merge = as_bool(payload.get("merge"), True)
        tags = normalize_tags(payload.get("tags"))
        try:
            owner = resolve_owner(
                run, payload.get("scope"), kernel.run_store, target_run_id=payload.get("target_run_id")
            )
        except ValueError as exc:
            return call.error(f"memory_tag: {exc}")
        if load_owner(kernel, run, owner) is None:
            return call.error(f"memory_tag: no span index for scope {owner.scope} (run {owner.run_id})")
        try:
            changed = apply_to_owner(kernel, run, owner, _retag(span_id, tags, merge))
        except RunNotFoundError:
            return call.error(f"memory_tag: unknown target run {owner.run_id}")
        except ConcurrencyError as exc:
            return call.error(f"memory_tag could not update run {owner.run_id}: {exc}")
        if changed is None:
            return call.error(f"memory_tag: unknown span_id {span_id!r} in run {owner.run_id}")
        output = {**changed, "merged": merge, "scope": owner.scope, "owner_run_id": owner.run_id}
        return call.ok(output)

    return memory_tag
