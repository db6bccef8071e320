"""MEMORY_REHYDRATE (SPEC §4.9): insert archived span messages back into ``context.messages``.

Payload: ``span_ids`` (or the legacy ``span_id``; artifact ids or 1-based indexes into the target
run's span index; an artifact id that is not indexed there is still loaded), ``placement``
(``after_summary`` default, ``after_system``, ``end``), ``dedup_by`` (default ``message_id``; ``none``
disables it), ``max_messages`` (default: the recall level's ``rehydrate_max_messages``, else no cap),
``target_run_id`` (rehydrate another run, with a revisioned write), ``recall_level``.

Result (not tool-shaped): ``{"inserted", "skipped", "artifacts": [{span_id, inserted, skipped, error,
kind, preview}], "effort": {recall_level, max_messages, placement, dedup_by}, "warnings": [...]}``.
Without an artifact store, or for an unknown target run, the effect fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import ConcurrencyError, RunNotFoundError
from ..models import Effect, RunState
from ..outcome import EffectOutcome
from .kernel import Kernel
from .memory_common import as_int, missing_store_message
from .memory_rehydration import LoadedSpan, apply_rehydration, load_spans, normalize_options
from .memory_scopes import MemoryOwner, apply_to_owner, load_owner

__all__ = ["make_memory_rehydrate_handler", "recall_effort"]


def recall_effort(level_name: Any, warnings: list[str]) -> tuple[str | None, int | None]:
    """``(recall level name, its rehydrate max_messages)``; an unknown name adds a warning."""
    from .recall_levels import get_recall_level

    if level_name is None or (isinstance(level_name, str) and not level_name.strip()):
        return None, None
    level = get_recall_level(level_name)
    if level is None:
        warnings.append(f"unknown recall_level {level_name!r}; using the defaults")
        return None, None
    return level.name, level.rehydrate_max_messages


def make_memory_rehydrate_handler(kernel: Kernel) -> Callable[[RunState, Effect, str | None], EffectOutcome]:
    """A MEMORY_REHYDRATE handler bound to ``kernel`` (artifact store, run store)."""

    def memory_rehydrate(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        store = kernel.artifact_store
        if store is None:
            return EffectOutcome.failed(missing_store_message("memory_rehydrate"))
        placement, dedup_by, warnings = normalize_options(
            payload.get("placement"), payload.get("dedup_by", "message_id")
        )
        level, level_max = recall_effort(payload.get("recall_level"), warnings)
        explicit = payload.get("max_messages")
        max_messages = as_int(explicit, -1) if explicit is not None else level_max
        if max_messages is not None and max_messages < 0:
            max_messages = None
        effort = {
            "recall_level": level,
            "max_messages": max_messages,
            "placement": placement,
            "dedup_by": dedup_by,
        }
        span_ids = payload.get("span_ids")
        if span_ids is None or span_ids == []:
            span_ids = payload.get("span_id")
        if span_ids is None or span_ids in ([], ""):
            warnings.append("no span_ids given; nothing to rehydrate")
            return EffectOutcome.completed(
                {"inserted": 0, "skipped": 0, "artifacts": [], "effort": effort, "warnings": warnings}
            )
        owner = MemoryOwner("run", str(payload.get("target_run_id") or run.run_id))
        target = load_owner(kernel, run, owner)
        if target is None:
            return EffectOutcome.failed(f"memory_rehydrate: unknown target run {owner.run_id}")
        loaded = load_spans(store, target, span_ids)
        try:
            report = apply_to_owner(kernel, run, owner, _rehydrate(loaded, placement, dedup_by, max_messages))
        except RunNotFoundError:
            return EffectOutcome.failed(f"memory_rehydrate: unknown target run {owner.run_id}")
        except ConcurrencyError as exc:
            return EffectOutcome.failed(f"memory_rehydrate could not update run {owner.run_id}: {exc}")
        report["warnings"] = warnings + report["warnings"]
        report["effort"] = effort
        return EffectOutcome.completed(report)

    return memory_rehydrate


def _rehydrate(
    loaded: list[LoadedSpan], placement: str, dedup_by: str | None, max_messages: int | None
) -> Callable[[RunState], dict[str, Any]]:
    def mutate(target: RunState) -> dict[str, Any]:
        return apply_rehydration(
            target, loaded, placement=placement, dedup_by=dedup_by, max_messages=max_messages
        )

    return mutate
