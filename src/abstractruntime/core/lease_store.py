"""Run leases, the kernel's port: the :class:`RunLeaseStore` protocol, the :class:`RunLease` row, and
the pure rules every backend applies inside its own atomic section.

A driver (anything calling ``Runtime.tick``/``resume``: the CLI, the scheduler, recovery) acquires a
run's lease before advancing it, renews it while it drives (a heartbeat), and releases it when done.
A RUNNING run whose lease lapsed or was released is *stranded*: its driver died or gave up, and
``Runtime.recover_runs`` may take it over.  Backends: ``InMemoryLeaseStore`` (``in_memory.py``),
``JsonFileLeaseStore`` (``json_leases.py``), ``SqliteLeaseStore`` (``sqlite_leases.py``).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, runtime_checkable

from .clock import parse_iso

__all__ = [
    "RunLease",
    "RunLeaseStore",
    "lease_after_acquire",
    "lease_after_release",
    "lease_after_renew",
    "lease_stamp",
]


def lease_stamp(moment: datetime) -> str:
    """``moment`` as fixed-width UTC ISO-8601 (``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``), so stamps sort as
    time even as strings (SQLite compares them in SQL)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


@dataclass(frozen=True)
class RunLease:
    """One run's lease row.

    Attributes:
        run_id: the leased run.
        owner: the driver holding it (``host:pid:random``), or None once released; a released row
            is kept while the run may still need recovery, for its counters.
        expires_at: when the claim lapses unless renewed (fixed-width UTC ISO-8601), None when released.
        generation: a fencing token, +1 each time a different owner acquires the lease.
        recoveries: consecutive recovery attempts that found the run at ``recovery_mark`` (no progress
            in between); reset to 1 when a recovery finds the run has moved on.
        recovery_mark: the run's progress mark (its revision) when it was last recovered, or None.
    """

    run_id: str
    owner: str | None
    expires_at: str | None
    generation: int = 0
    recoveries: int = 0
    recovery_mark: str | None = None

    def is_live(self, now: datetime) -> bool:
        """True while an owner holds the lease and ``now`` is before ``expires_at``."""
        return self.owner is not None and self.expires_at is not None and parse_iso(self.expires_at) > now

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-safe dict (the file backend's lease file)."""
        return {
            "run_id": self.run_id,
            "owner": self.owner,
            "expires_at": self.expires_at,
            "generation": self.generation,
            "recoveries": self.recoveries,
            "recovery_mark": self.recovery_mark,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunLease:
        """Rebuild a row written by :meth:`to_dict`.

        Raises:
            KeyError, TypeError, ValueError: ``data`` is not such a row.
        """
        return cls(
            run_id=str(data["run_id"]),
            owner=None if data.get("owner") is None else str(data["owner"]),
            expires_at=None if data.get("expires_at") is None else str(data["expires_at"]),
            generation=int(data.get("generation") or 0),
            recoveries=int(data.get("recoveries") or 0),
            recovery_mark=None if data.get("recovery_mark") is None else str(data["recovery_mark"]),
        )


def lease_after_acquire(
    current: RunLease | None,
    *,
    run_id: str,
    owner: str,
    ttl_s: float,
    now: datetime,
    recovery_mark: str | None = None,
) -> RunLease | None:
    """The row an acquire writes over ``current``, or None when another owner's lease is live.

    Every backend applies this inside its own atomic section (a transaction, or a lock), which makes
    the acquire a compare-and-set.  A recovering acquire (``recovery_mark`` given) counts the attempt:
    ``recoveries + 1`` when the run is still at the mark the last recovery saw, else 1.
    """
    if current is not None and current.is_live(now) and current.owner != owner:
        return None
    same_owner = current is not None and current.owner == owner
    generation = (current.generation if current is not None else 0) + (0 if same_owner else 1)
    recoveries = current.recoveries if current is not None else 0
    mark = current.recovery_mark if current is not None else None
    if recovery_mark is not None:
        recoveries = recoveries + 1 if mark == recovery_mark else 1
        mark = recovery_mark
    return RunLease(
        run_id=run_id,
        owner=owner,
        expires_at=lease_stamp(now + timedelta(seconds=ttl_s)),
        generation=generation,
        recoveries=recoveries,
        recovery_mark=mark,
    )


def lease_after_renew(
    current: RunLease | None, *, owner: str, ttl_s: float, now: datetime
) -> RunLease | None:
    """The row a renewal writes, or None when ``owner`` no longer holds the lease (released or taken
    over).  A lease that lapsed but was not taken over is renewed."""
    if current is None or current.owner != owner:
        return None
    return replace(current, expires_at=lease_stamp(now + timedelta(seconds=ttl_s)))


def lease_after_release(current: RunLease | None, *, owner: str, forget: bool) -> RunLease | None:
    """The row a release leaves: None to delete it (``forget``: the run needs no recovery any more),
    else the row with no owner (its counters kept).  Callers check ``current.owner == owner`` first."""
    if forget or current is None:
        return None
    return replace(current, owner=None, expires_at=None)


@runtime_checkable
class RunLeaseStore(Protocol):
    """Leases on runs: which driver is advancing which run, until when.

    A driver (anything calling ``Runtime.tick``/``resume``: the CLI, the scheduler, recovery) acquires
    a run's lease before advancing it, renews it while it drives (a heartbeat), and releases it when
    done.  A RUNNING run whose lease has lapsed or was released is *stranded*: its driver died or
    gave up, and ``Runtime.recover_runs`` may take it over.

    Guarantees every implementation gives:

    * ``acquire_lease`` is a compare-and-set: it fails (returns None) while another owner's lease is
      live, and two concurrent acquires of a free lease cannot both succeed.
    * ``renew_lease`` and ``release_lease`` act only for the current owner.
    * Times are UTC; ``now`` comes from the caller's clock, so tests can move time.

    Leases are advisory for correctness (run revisions still decide which commit wins); they decide
    who *should* drive.  ``generation`` is a fencing token for backends with many workers.
    """

    def acquire_lease(
        self,
        run_id: str,
        *,
        owner: str,
        ttl_s: float,
        now: datetime,
        recovery_mark: str | None = None,
    ) -> RunLease | None:
        """Take (or, for the same owner, extend) the lease of ``run_id`` until ``now + ttl_s`` seconds.

        Args:
            run_id: the run.
            owner: the driver's id (``host:pid:random``).
            ttl_s: the lease lifetime in seconds.
            now: the current time (tz-aware UTC).
            recovery_mark: given by recovery only: the run's progress mark, used to count
                attempts (see :func:`lease_after_acquire`).

        Returns:
            The lease now held, or None when another owner's lease is live.
        """
        ...

    def renew_lease(self, run_id: str, *, owner: str, ttl_s: float, now: datetime) -> bool:
        """Push the expiry of ``owner``'s lease to ``now + ttl_s`` seconds; False when it was lost."""
        ...

    def release_lease(self, run_id: str, *, owner: str, forget: bool = False) -> bool:
        """Give up ``owner``'s lease (the row is deleted when ``forget``, else kept without an owner
        for its recovery counters); False when ``owner`` did not hold it."""
        ...

    def get_lease(self, run_id: str) -> RunLease | None:
        """The lease row of ``run_id``, or None."""
        ...

    def list_expired_leases(self, *, now: datetime, limit: int = 100) -> builtins.list[RunLease]:
        """Rows not live at ``now`` (lapsed or released), earliest expiry first, at most ``limit``."""
        ...
