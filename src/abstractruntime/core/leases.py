"""``LeaseKeeper``: the leases one driver holds on the runs it advances, kept alive by a heartbeat.

A driver marks each run it is advancing with a lease in a
:class:`~abstractruntime.core.lease_store.RunLeaseStore`: owner id (``host:pid:random``), expiry
``ttl_s`` seconds ahead.  A daemon thread renews every held lease each ``heartbeat_s`` seconds (a third
of the TTL by default), so a lease outlives a long effect while its process lives, and lapses
``ttl_s`` seconds after the process dies (SIGKILL, power loss).  Releasing on a clean exit (Ctrl-C
included) lets recovery start at once instead of after the TTL.

Holds are counted per run: the CLI driver and the scheduler it uses share the runtime's keeper, so a
nested ``holding`` of a run this keeper already holds succeeds and only the outermost release gives the
lease up.  Expiries are computed from the injected clock; the heartbeat waits in real time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .clock import Clock
from .lease_store import RunLease, RunLeaseStore
from .logs import LazyLogger
from .models import RunStatus

__all__ = ["DEFAULT_LEASE_TTL_S", "HEARTBEAT_THREAD_NAME", "LeaseKeeper", "new_owner_id"]

_log = LazyLogger("abstractruntime.leases")

DEFAULT_LEASE_TTL_S = 30.0
"""Lease lifetime in seconds: a dead driver's runs become recoverable this long after its last beat."""

HEARTBEAT_THREAD_NAME = "abstractruntime-lease-heartbeat"

StatusOf = Callable[[str], "RunStatus | None"]


def new_owner_id() -> str:
    """A driver id unique across hosts and restarts: ``<hostname>:<pid>:<8 hex chars>``."""
    import secrets  # imported here: only runtimes with a lease store need them (import cost)
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseKeeper:
    """Acquires, renews (heartbeat thread) and releases the leases of one owner.

    Args:
        store: where leases live.
        clock: the time source for expiries (tz-aware UTC).
        owner: this driver's id (default :func:`new_owner_id`).
        ttl_s: lease lifetime in seconds (> 0).
        heartbeat_s: seconds between renewals (default ``ttl_s / 3``; must be < ``ttl_s``).
        status_of: ``status_of(run_id)`` -> the run's status or None; a release forgets the lease row
            unless the run is still RUNNING (then the row is kept so recovery sees it was released).

    Raises:
        ValueError: ``ttl_s <= 0`` or ``heartbeat_s`` not in ``(0, ttl_s)``.
    """

    def __init__(
        self,
        store: RunLeaseStore,
        *,
        clock: Clock,
        owner: str | None = None,
        ttl_s: float = DEFAULT_LEASE_TTL_S,
        heartbeat_s: float | None = None,
        status_of: StatusOf | None = None,
    ) -> None:
        beat = ttl_s / 3.0 if heartbeat_s is None else heartbeat_s
        if not ttl_s > 0 or not 0 < beat < ttl_s:
            raise ValueError(f"need ttl_s > 0 and 0 < heartbeat_s < ttl_s, got {ttl_s!r} / {beat!r}")
        self._store = store
        self._clock = clock
        self._owner = owner or new_owner_id()
        self._ttl_s = float(ttl_s)
        self._heartbeat_s = float(beat)
        self._status_of = status_of
        self._holds: dict[str, int] = {}
        self._leases: dict[str, RunLease] = {}
        self._lost: set[str] = set()
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()  # orders one run's acquire against its release
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> RunLeaseStore:
        """The lease store."""
        return self._store

    @property
    def owner(self) -> str:
        """This driver's owner id."""
        return self._owner

    @property
    def ttl_s(self) -> float:
        """Lease lifetime in seconds."""
        return self._ttl_s

    @property
    def heartbeat_s(self) -> float:
        """Seconds between renewals."""
        return self._heartbeat_s

    def holds(self, run_id: str) -> bool:
        """True while this keeper holds the lease of ``run_id``."""
        with self._lock:
            return run_id in self._holds

    def held(self) -> list[str]:
        """The run ids held now."""
        with self._lock:
            return list(self._holds)

    def lost(self, run_id: str) -> bool:
        """True when a renewal found the lease of ``run_id`` taken over (stop driving that run)."""
        with self._lock:
            return run_id in self._lost

    # -- acquire / release -----------------------------------------------------------------------
    def acquire(self, run_id: str, *, recovery_mark: str | None = None) -> RunLease | None:
        """Hold ``run_id``: take its lease, or count one more hold when this keeper has it already.

        Args:
            run_id: the run.
            recovery_mark: for recovery only (see ``RunLeaseStore.acquire_lease``).

        Returns:
            The lease, or None when another owner's lease is live.
        """
        with self._io_lock:
            with self._lock:
                if run_id in self._holds:
                    self._holds[run_id] += 1
                    return self._leases[run_id]
            lease = self._store.acquire_lease(
                run_id,
                owner=self._owner,
                ttl_s=self._ttl_s,
                now=self._clock.now(),
                recovery_mark=recovery_mark,
            )
            if lease is None:
                return None
            with self._lock:
                self._holds[run_id] = 1
                self._leases[run_id] = lease
                self._lost.discard(run_id)
                self._start_heartbeat()
            return lease

    def release(self, run_id: str, *, forget: bool | None = None) -> None:
        """Drop one hold of ``run_id``; the last one releases the lease in the store (best effort:
        a store error is logged).  ``forget`` None decides from ``status_of`` (see the class doc)."""
        with self._io_lock:
            with self._lock:
                count = self._holds.get(run_id, 0)
                if count > 1:
                    self._holds[run_id] = count - 1
                    return
                if count == 0:
                    return
                del self._holds[run_id]
                self._leases.pop(run_id, None)
                self._lost.discard(run_id)
            self._release_in_store(run_id, forget)

    def abandon(self, run_id: str) -> None:
        """Stop holding ``run_id`` without releasing it in the store: the lease lapses at its expiry
        (recovery uses this to space out attempts on a run whose node keeps raising)."""
        with self._io_lock, self._lock:
            self._holds.pop(run_id, None)
            self._leases.pop(run_id, None)
            self._lost.discard(run_id)

    def release_all(self) -> None:
        """Release every lease held, whatever the hold counts (a driver exiting, Ctrl-C included)."""
        with self._io_lock:
            with self._lock:
                run_ids = list(self._holds)
                self._holds.clear()
                self._leases.clear()
                self._lost.clear()
            for run_id in run_ids:
                self._release_in_store(run_id, None)

    @contextmanager
    def holding(self, run_id: str) -> Iterator[RunLease | None]:
        """Hold ``run_id`` for the block; yields the lease, or None (nothing held) when another owner
        holds it."""
        lease = self.acquire(run_id)
        try:
            yield lease
        finally:
            if lease is not None:
                self.release(run_id)

    def close(self) -> None:
        """Release every lease and stop the heartbeat thread."""
        self.release_all()
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def _release_in_store(self, run_id: str, forget: bool | None) -> None:
        try:
            if forget is None:
                status = self._status_of(run_id) if self._status_of is not None else None
                forget = status != RunStatus.RUNNING
            self._store.release_lease(run_id, owner=self._owner, forget=forget)
        except Exception:  # noqa: BLE001 - an unreleased lease only delays recovery until it lapses
            _log.warning("could not release the lease of run %s; it lapses on its own", run_id, exc_info=True)

    # -- heartbeat -------------------------------------------------------------------------------
    def renew_all(self) -> None:
        """Renew every held lease now (what each heartbeat does); a lost lease is remembered."""
        for run_id in self.held():
            try:
                kept = self._store.renew_lease(
                    run_id, owner=self._owner, ttl_s=self._ttl_s, now=self._clock.now()
                )
            except Exception:  # noqa: BLE001 - the next beat retries; the lease lasts ttl_s meanwhile
                _log.warning("lease renewal of run %s failed; retrying", run_id, exc_info=True)
                continue
            if not kept:
                with self._lock:
                    if run_id in self._holds:
                        self._lost.add(run_id)
                _log.warning("the lease of run %s was taken over by another driver", run_id)

    def _start_heartbeat(self) -> None:
        """Start the daemon heartbeat thread unless it runs (caller holds ``_lock``)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=HEARTBEAT_THREAD_NAME, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self._heartbeat_s):
            self.renew_all()
