"""A ledger decorator that tells in-process subscribers about every append (SPEC §7.7).

Delivery is synchronous on the appending thread, after the inner store accepted the record, so a
subscriber sees an effect's STARTED record before the effect ends.  A subscriber that raises is
logged and skipped; it never breaks the run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from ..core.models import StepRecord
from .base import LedgerStore, Link, ObservableLedgerStoreProtocol
from .ledger_decorator import LedgerDecorator

__all__ = ["ObservableLedgerStore", "ObservableLedgerStoreProtocol"]

_log = logging.getLogger(__name__)

Subscriber = Callable[[dict[str, Any]], None]


class ObservableLedgerStore(LedgerDecorator):
    """Wraps ``inner`` and calls subscribers with ``asdict(record)`` after each append.

    Args:
        inner: the ledger store that keeps the records.
    """

    def __init__(self, inner: LedgerStore) -> None:
        super().__init__(inner)
        self._subscribers: dict[int, tuple[Subscriber, str | None]] = {}
        self._next_id = 0
        self._lock = threading.Lock()
        self._append_lock = threading.Lock()

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
