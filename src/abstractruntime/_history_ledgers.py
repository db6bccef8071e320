"""Ledger pages, descendants and the timeline of run history bundles (SPEC §10.1).

Private helper of :mod:`abstractruntime.history_bundle` (its module docstring states the choices made
here: 1-based cursors, breadth-first descendants, timeline order).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ._history_session import duration_ms, parse_instant
from .core.jsonable import to_jsonable
from .storage.base import LedgerStore, RunStore

__all__ = ["descendants", "ledger_page", "timeline"]

_LIST_AFTER_PAGE = 1000


def descendants(run_store: RunStore, root_id: str) -> list[str]:
    """Every descendant of ``root_id``, breadth-first, each once (cycles are ignored)."""
    list_children = getattr(run_store, "list_children", None)
    if not callable(list_children):
        return []
    seen = {root_id}
    order: list[str] = []
    queue = deque([root_id])
    while queue:
        parent = queue.popleft()
        for child in list_children(parent_run_id=parent):
            if child.run_id in seen:
                continue
            seen.add(child.run_id)
            order.append(child.run_id)
            queue.append(child.run_id)
    return order


def ledger_page(ledger_store: LedgerStore, run_id: str, max_items: int) -> dict[str, Any]:
    """``{run_id, total, cursor_start, cursor_end, items}``: the whole ledger or its tail."""
    total, first_cursor, records = _read_ledger(ledger_store, run_id, max_items)
    items = [
        {"cursor": first_cursor + offset, "record": to_jsonable(record)}
        for offset, record in enumerate(records)
    ]
    return {
        "run_id": run_id,
        "total": total,
        "cursor_start": items[0]["cursor"] if items else 0,
        "cursor_end": items[-1]["cursor"] if items else 0,
        "items": items,
    }


def _read_ledger(
    ledger_store: LedgerStore, run_id: str, max_items: int
) -> tuple[int, int, Sequence[dict[str, Any]]]:
    """``(total, cursor of the first returned record, records)``.

    A tail is read with ``count`` + ``list_after`` when the store has both (SQLite: no full scan),
    else by slicing ``list``.
    """
    count = getattr(ledger_store, "count", None)
    list_after = getattr(ledger_store, "list_after", None)
    if max_items > 0 and callable(count) and callable(list_after):
        total = int(count(run_id))
        after = max(0, total - max_items)
        records: list[dict[str, Any]] = []
        cursor = after
        while len(records) < total - after:
            page, cursor = list_after(run_id=run_id, after=cursor, limit=_LIST_AFTER_PAGE)
            if not page:
                break
            records.extend(page)
        return total, after + 1, records[: total - after]
    everything = ledger_store.list(run_id)
    total = len(everything)
    if max_items <= 0 or total <= max_items:
        return total, 1, everything
    return total, total - max_items + 1, everything[total - max_items :]


def timeline(ledgers: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One ``{run_id, cursor, node_id, status, effect_type, started_at, ended_at, duration_ms}`` row
    per exported ledger item, ordered by ``started_at`` (unparsable stamps last, in ledger order)."""
    rows: list[tuple[datetime | None, int, dict[str, Any]]] = []
    for rid, page in ledgers.items():
        for item in page["items"]:
            record = item["record"]
            effect = record.get("effect")
            started, ended = parse_instant(record.get("started_at")), parse_instant(record.get("ended_at"))
            entry = {
                "run_id": rid,
                "cursor": item["cursor"],
                "node_id": record.get("node_id"),
                "status": record.get("status"),
                "effect_type": effect.get("type") if isinstance(effect, dict) else None,
                "started_at": record.get("started_at"),
                "ended_at": record.get("ended_at"),
                "duration_ms": duration_ms(started, ended),
            }
            rows.append((started, len(rows), entry))
    timed = sorted((r for r in rows if r[0] is not None), key=lambda r: (r[0], r[1]))
    untimed = [r for r in rows if r[0] is None]
    return [r[2] for r in (*timed, *untimed)]
