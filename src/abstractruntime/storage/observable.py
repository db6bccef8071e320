"""A ledger decorator that tells in-process subscribers about every append (SPEC §7.7).

Delivery is synchronous on the appending thread, after the inner store accepted the record, so a
subscriber sees an effect's STARTED record before the effect ends.  A subscriber that raises is
logged and skipped; it never breaks the run.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from ..core.models import StepRecord
from ..errors import CapabilityError
from .base import LedgerStore, Link, ObservableLedgerStoreProtocol, find_completed_in

__all__ = ["ObservableLedgerStore", "ObservableLedgerStoreProtocol"]

_log = logging.getLogger(__name__)

Subscriber = Callable[[dict[str, Any]], None]


class ObservableLedgerStore(LedgerStore):
    """Wraps ``inner`` and calls subscribers with ``asdict(record)`` after each append.

    Args:
        inner: the ledger store that keeps the records.
    """

    def __init__(self, inner: LedgerStore) -> None:
        self._inner = inner
        self._subscribers: dict[int, tuple[Subscriber, str | None]] = {}
        self._next_id = 0
        self._lock = threading.Lock()
        self._append_lock = threading.Lock()

    @property
    def inner(self) -> LedgerStore:
        """The wrapped store."""
        return self._inner

    def append(self, record: StepRecord) -> None:
        """Append to the inner store, then notify the matching subscribers."""
        self._inner.append(record)
        self._notify(record)

    def _notify(self, record: StepRecord) -> None:
        with self._lock:
            targets = [cb for cb, run_id in self._subscribers.values() if run_id in (None, record.run_id)]
        if not targets:
            return
        data = asdict(record)
        for callback in targets:
            try:
                callback(data)
            except Exception:  # noqa: BLE001 - a subscriber must never break the run
                _log.exception("ledger subscriber failed for run %s", record.run_id)

    def append_many(self, records: Sequence[StepRecord]) -> None:
        """Append several records (in one write when the inner store can), then notify."""
        many = getattr(self._inner, "append_many", None)
        if callable(many):
            many(records)
        else:
            for record in records:
                self._inner.append(record)
        for record in records:
            self._notify(record)

    def append_linked(self, records: Sequence[StepRecord], link: Link) -> None:
        """Forward a linked append (hash chaining over this store), then notify.

        An inner store without ``append_linked`` is linked under this object's lock (in-process only).
        """
        linked = getattr(self._inner, "append_linked", None)
        if callable(linked):
            linked(records, link)
        elif records:
            with self._append_lock:
                existing = self._inner.list(records[0].run_id)
                last = existing[-1] if existing else None
                for record in records:
                    link(last, record)
                    self._inner.append(record)
                    last = asdict(record)
        for record in records:
            self._notify(record)

    def subscribe(self, callback: Subscriber, *, run_id: str | None = None) -> Callable[[], None]:
        """Register ``callback`` (for ``run_id`` only, when given); returns an idempotent unsubscribe."""
        with self._lock:
            token = self._next_id
            self._next_id += 1
            self._subscribers[token] = (callback, run_id)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(token, None)

        return unsubscribe

    def clear_subscribers(self) -> None:
        """Drop every subscription."""
        with self._lock:
            self._subscribers.clear()

    def list(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """The inner store's records of ``run_id``."""
        return self._inner.list(run_id)

    def find_completed(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """Forwarded to the inner store's index (or a scan when it has none)."""
        finder = getattr(self._inner, "find_completed", None)
        if callable(finder):
            result: dict[str, Any] | None = finder(run_id, idempotency_key)
            return result
        return find_completed_in(self._inner.list(run_id), idempotency_key)

    def count(self, run_id: str) -> int:
        """Forwarded ``count`` (falls back to ``len(list(run_id))``)."""
        counter = getattr(self._inner, "count", None)
        return int(counter(run_id)) if callable(counter) else len(self._inner.list(run_id))

    def count_many(self, run_ids: Sequence[str]) -> dict[str, int]:
        """Forwarded ``count_many`` (falls back to ``count`` per id)."""
        many = getattr(self._inner, "count_many", None)
        if callable(many):
            return dict(many(run_ids))
        return {run_id: self.count(run_id) for run_id in run_ids}

    def metrics_many(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Forwarded ``metrics_many``.

        Raises:
            CapabilityError: the inner store has no ``metrics_many``.
        """
        metrics = getattr(self._inner, "metrics_many", None)
        if not callable(metrics):
            raise CapabilityError(f"{type(self._inner).__name__} has no metrics_many")
        return dict(metrics(run_ids))
