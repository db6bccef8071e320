"""Run lease backends' shared write side (:class:`LeaseRules` over a :class:`LeaseSlot`).

The port itself — :class:`RunLeaseStore`, :class:`RunLease` and the pure lease rules — lives in the kernel
(:mod:`abstractruntime.core.lease_store`) and is re-exported here.  Backends: ``InMemoryLeaseStore``
(``in_memory.py``), ``JsonFileLeaseStore`` (``json_leases.py``), ``SqliteLeaseStore`` (``sqlite_leases.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from ..core.lease_store import (
    RunLease,
    RunLeaseStore,
    lease_after_acquire,
    lease_after_release,
    lease_after_renew,
    lease_stamp,
)

__all__ = [
    "LeaseRules",
    "LeaseSlot",
    "RunLease",
    "RunLeaseStore",
    "lease_after_acquire",
    "lease_after_release",
    "lease_after_renew",
    "lease_stamp",
]


class LeaseSlot:
    """One run's lease row inside a backend's atomic section: the row as read, and how to replace it."""

    def __init__(self, current: RunLease | None, write: Callable[[RunLease | None], None]) -> None:
        self.current = current
        self.write = write
        """Replace the row (None deletes it)."""


class LeaseRules(ABC):
    """The write side of :class:`RunLeaseStore`, written once over a backend's atomic row section.

    A backend provides :meth:`_slot` (read one row under its lock or transaction and let the rules
    replace it) plus ``get_lease`` and ``list_expired_leases``; acquire, renew and release follow.
    """

    @abstractmethod
    def _slot(self, run_id: str) -> AbstractContextManager[LeaseSlot]:
        """Hold ``run_id``'s row exclusively (a lock or a transaction) for the duration of the block."""

    def acquire_lease(
        self,
        run_id: str,
        *,
        owner: str,
        ttl_s: float,
        now: datetime,
        recovery_mark: str | None = None,
    ) -> RunLease | None:
        """Take the lease unless another owner's is live (a compare-and-set; see :class:`RunLeaseStore`)."""
        with self._slot(run_id) as slot:
            lease = lease_after_acquire(
                slot.current, run_id=run_id, owner=owner, ttl_s=ttl_s, now=now, recovery_mark=recovery_mark
            )
            if lease is not None:
                slot.write(lease)
            return lease

    def renew_lease(self, run_id: str, *, owner: str, ttl_s: float, now: datetime) -> bool:
        """Extend ``owner``'s lease by ``ttl_s`` seconds from ``now``; False when it was lost."""
        with self._slot(run_id) as slot:
            lease = lease_after_renew(slot.current, owner=owner, ttl_s=ttl_s, now=now)
            if lease is None:
                return False
            slot.write(lease)
            return True

    def release_lease(self, run_id: str, *, owner: str, forget: bool = False) -> bool:
        """Drop ``owner``'s claim (delete the row when ``forget``); False when not held."""
        with self._slot(run_id) as slot:
            if slot.current is None or slot.current.owner != owner:
                return False
            slot.write(lease_after_release(slot.current, owner=owner, forget=forget))
            return True
