"""``LedgerDecorator``: the base of ledger decorators (hash chaining, offloading, observation).

It keeps the wrapped store and forwards everything a decorator does not change: ``list``, the
idempotency and in-doubt lookups, and the optional extras (``count``, ``count_many``, ``metrics_many``,
``list_after``, ``subscribe``).  A missing optional extra raises
:class:`~abstractruntime.errors.CapabilityError` naming the inner store.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import CapabilityError
from .base import LedgerStore, find_completed_in, find_started_in

__all__ = ["LedgerDecorator", "forward"]


def forward(inner: object, name: str) -> Callable[..., Any]:
    """``inner.<name>`` when it is callable.

    Raises:
        CapabilityError: ``inner`` has no such method.
    """
    method: Callable[..., Any] | None = getattr(inner, name, None)
    if not callable(method):
        raise CapabilityError(f"{type(inner).__name__} has no {name}()")
    return method


class LedgerDecorator(LedgerStore):
    """Wraps ``inner``; subclasses override ``append`` (and ``append_many`` / ``append_linked``)."""

    def __init__(self, inner: LedgerStore) -> None:
        self._inner = inner

    @property
    def inner(self) -> LedgerStore:
        """The wrapped store."""
        return self._inner

    def list(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """The inner store's records of ``run_id``."""
        return self._inner.list(run_id)

    def find_completed(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """Forwarded idempotency lookup (an index on the bundled stores, else a scan)."""
        finder = getattr(self._inner, "find_completed", None)
        if callable(finder):
            found: dict[str, Any] | None = finder(run_id, idempotency_key)
            return found
        return find_completed_in(self._inner.list(run_id), idempotency_key)

    def find_started(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """Forwarded in-doubt lookup (an index on the bundled stores, else a scan)."""
        finder = getattr(self._inner, "find_started", None)
        if callable(finder):
            found: dict[str, Any] | None = finder(run_id, idempotency_key)
            return found
        return find_started_in(self._inner.list(run_id), idempotency_key)

    def count(self, run_id: str) -> int:
        """Forwarded ``count`` (falls back to ``len(list(run_id))``)."""
        counter = getattr(self._inner, "count", None)
        return int(counter(run_id)) if callable(counter) else len(self._inner.list(run_id))

    def count_many(self, run_ids: Sequence[str]) -> dict[str, int]:
        """Forwarded ``count_many`` (falls back to ``count`` per id); ids without records are omitted."""
        many = getattr(self._inner, "count_many", None)
        if callable(many):
            return dict(many(run_ids))
        counts = {r: self.count(r) for r in run_ids}
        return {r: n for r, n in counts.items() if n > 0}

    def metrics_many(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Forwarded ``metrics_many``.

        Raises:
            CapabilityError: the inner store has none.
        """
        return dict(forward(self._inner, "metrics_many")(run_ids))

    def list_after(
        self, *, run_id: str, after: int, limit: int = 1000
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """Forwarded ``list_after`` (records with ``seq > after`` and the next cursor).

        Raises:
            CapabilityError: the inner store has none.
        """
        records, cursor = forward(self._inner, "list_after")(run_id=run_id, after=after, limit=limit)
        return builtins.list(records), int(cursor)

    def subscribe(
        self, callback: Callable[[dict[str, Any]], None], *, run_id: str | None = None
    ) -> Callable[[], None]:
        """Forwarded ``subscribe``.

        Raises:
            CapabilityError: the inner store cannot be observed.
        """
        unsubscribe: Callable[[], None] = forward(self._inner, "subscribe")(callback, run_id=run_id)
        return unsubscribe
