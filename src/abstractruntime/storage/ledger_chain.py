"""A tamper-evident ledger: every record carries the hash of the one before it (SPEC §7.10).

``record_hash = sha256(canonical_json(record without record_hash/signature, with prev_hash))``, where
canonical JSON is ``sort_keys=True, separators=(",", ":"), ensure_ascii=False``.  Editing any field of
any record, deleting a record or reordering two breaks the chain at that point, and
:func:`verify_ledger_chain` reports the first bad index.  (Removing records from the *end* leaves a
shorter valid chain: compare ``head_hash`` with a head you kept elsewhere to detect truncation.)
:func:`verify_ledger_store` also reports stored lines the store could not read at all (a garbage line in
the middle of a JSONL ledger), at their line and record index, instead of verifying around them.

The chain head is read *inside the inner store's write lock or transaction* (the ``append_linked``
capability of the bundled stores), so two writers — threads or processes — can never fork a chain.
An inner store without that capability gets an in-process lock and a head cache instead.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import threading
from collections.abc import Sequence
from typing import Any

from ..core.models import StepRecord
from .base import LedgerStore
from .ledger_decorator import LedgerDecorator

__all__ = ["HashChainedLedgerStore", "compute_record_hash", "verify_ledger_chain", "verify_ledger_store"]


def compute_record_hash(*, record: dict[str, Any], prev_hash: str | None) -> str:
    """The sha256 hex of ``record`` as chained after ``prev_hash`` (``record_hash``/``signature`` excluded)."""
    body = dict(record)
    body.pop("record_hash", None)
    body.pop("signature", None)
    body["prev_hash"] = prev_hash
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_enum_value)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _enum_value(value: Any) -> Any:
    inner = getattr(value, "value", None)
    if inner is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return inner


def link_record(last: dict[str, Any] | None, record: StepRecord) -> None:
    """Chain ``record`` after ``last`` (the run's previous record, or None): sets both hash fields."""
    prev = last.get("record_hash") if last is not None else None
    record.prev_hash = prev
    record.record_hash = compute_record_hash(record=record.to_dict(), prev_hash=prev)


_MAX_DECORATORS = 16  # how deep verify_ledger_store looks through decorators (``.inner``)


class HashChainedLedgerStore(LedgerDecorator):
    """Wraps ``inner`` and chains every appended record to the previous record of its run.

    Args:
        inner: the ledger store that keeps the records.
    """

    def __init__(self, inner: LedgerStore) -> None:
        super().__init__(inner)
        self._heads: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def append(self, record: StepRecord) -> None:
        """Set ``prev_hash``/``record_hash`` on ``record`` and append it."""
        self.append_many([record])

    def append_many(self, records: Sequence[StepRecord]) -> None:
        """Chain and append several records of one run, in order, in one write where the store allows."""
        if not records:
            return
        linked = getattr(self._inner, "append_linked", None)
        if callable(linked):
            linked(records, link_record)
            return
        with self._lock:
            run_id = records[0].run_id
            if run_id not in self._heads:
                existing = self._inner.list(run_id)
                self._heads[run_id] = existing[-1].get("record_hash") if existing else None
            for record in records:
                head = self._heads[run_id]
                link_record(None if head is None else {"record_hash": head}, record)
                self._inner.append(record)
                self._heads[run_id] = record.record_hash


def verify_ledger_chain(
    records: Sequence[dict[str, Any]], *, problems: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """Check a run's records (in stored order) against their hash chain.

    Args:
        records: the run's records as listed by its ledger store.
        problems: stored entries the store could not read (``{"index", "type", ...}``, for example the
            ``unreadable_line`` problems of ``JsonlLedgerStore.list_with_problems``); each one is an error.

    Returns ``{"ok", "count", "errors", "first_bad_index", "head_hash", "computed_head_hash"}``.  Each error
    is ``{"index", "type", ...}`` with type ``prev_hash_mismatch`` (``expected_prev_hash``,
    ``actual_prev_hash``), ``missing_record_hash`` (verification stops there), ``record_hash_mismatch``
    (``stored``, ``computed``) or a problem's type such as ``unreadable_line`` (``line``, ``error``; its
    ``index`` is the index of the record after it, ``count`` when it is the last line).  Errors are
    sorted by index; ``first_bad_index`` is the lowest failing index (None when ok).
    """
    errors: builtins.list[dict[str, Any]] = [dict(p) for p in problems]
    prev: str | None = None
    computed: str | None = None
    for index, record in enumerate(records):
        stored = record.get("record_hash")
        if not stored:
            errors.append({"index": index, "type": "missing_record_hash", "step_id": record.get("step_id")})
            break
        if record.get("prev_hash") != prev:
            errors.append(
                {
                    "index": index,
                    "type": "prev_hash_mismatch",
                    "step_id": record.get("step_id"),
                    "expected_prev_hash": prev,
                    "actual_prev_hash": record.get("prev_hash"),
                }
            )
        computed = compute_record_hash(record=record, prev_hash=record.get("prev_hash"))
        if computed != stored:
            errors.append(
                {
                    "index": index,
                    "type": "record_hash_mismatch",
                    "step_id": record.get("step_id"),
                    "stored": stored,
                    "computed": computed,
                }
            )
        prev = stored
    errors.sort(key=lambda e: int(e.get("index", 0)))  # stable: a problem comes before its index's errors
    return {
        "ok": not errors,
        "count": len(records),
        "errors": errors,
        "first_bad_index": min((e["index"] for e in errors), default=None),
        "head_hash": records[-1].get("record_hash") if records else None,
        "computed_head_hash": computed,
    }


def verify_ledger_store(ledger_store: LedgerStore, run_id: str) -> dict[str, Any]:
    """Verify the hash chain of ``run_id`` as stored in ``ledger_store``.

    When the store (or a store it decorates, followed through ``.inner``) offers
    ``list_with_problems(run_id)`` — ``JsonlLedgerStore`` does — the entries it could not read are
    reported too (see :func:`verify_ledger_chain`); otherwise this is ``verify_ledger_chain(list(run_id))``.
    """
    store: object = ledger_store
    for _ in range(_MAX_DECORATORS):
        reader = getattr(store, "list_with_problems", None)
        if callable(reader):
            records, problems = reader(run_id)
            return verify_ledger_chain(records, problems=problems)
        store = getattr(store, "inner", None)
        if store is None:
            break
    return verify_ledger_chain(ledger_store.list(run_id))
