"""Contract tests for RunLeaseStore backends: compare-and-set acquires, renewals, releases, expiry,
recovery counters, durability and races between store objects (stand-ins for processes)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from ...storage.leases import RunLeaseStore
from .factory import StoreFactory

__all__ = ["RunLeaseStoreContract"]

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
TTL = 30.0


def _leases(store_factory: StoreFactory) -> RunLeaseStore:
    if store_factory.open_leases is None:
        pytest.skip(f"{store_factory.name} has no lease store")
    return store_factory.leases()


class RunLeaseStoreContract:
    """Subclass and provide a ``store_factory`` fixture with ``open_leases`` (see the package docstring)."""

    def test_acquire_is_refused_while_another_owner_is_live(self, store_factory: StoreFactory) -> None:
        leases = _leases(store_factory)
        assert isinstance(leases, RunLeaseStore)
        first = leases.acquire_lease("r1", owner="a", ttl_s=TTL, now=T0)
        assert first is not None and first.owner == "a" and first.generation == 1
        assert first.expires_at is not None and datetime.fromisoformat(first.expires_at) == T0 + timedelta(
            seconds=TTL
        )
        assert first.is_live(T0 + timedelta(seconds=TTL - 1)) and not first.is_live(
            T0 + timedelta(seconds=TTL)
        )
        assert leases.acquire_lease("r1", owner="b", ttl_s=TTL, now=T0 + timedelta(seconds=29)) is None
        again = leases.acquire_lease("r1", owner="a", ttl_s=TTL, now=T0 + timedelta(seconds=10))
        assert again is not None and again.generation == 1  # the same owner extends its own lease
        assert leases.acquire_lease("r2", owner="b", ttl_s=TTL, now=T0) is not None  # other runs are free
        stored = leases.get_lease("r1")
        assert stored is not None and stored.owner == "a"

    def test_a_lapsed_lease_is_taken_over_and_the_old_owner_loses_it(
        self, store_factory: StoreFactory
    ) -> None:
        leases = _leases(store_factory)
        leases.acquire_lease("r1", owner="a", ttl_s=TTL, now=T0)
        later = T0 + timedelta(seconds=TTL)
        taken = leases.acquire_lease("r1", owner="b", ttl_s=TTL, now=later)
        assert taken is not None and taken.owner == "b" and taken.generation == 2
        assert leases.renew_lease("r1", owner="a", ttl_s=TTL, now=later) is False
        assert leases.release_lease("r1", owner="a") is False
        current = leases.get_lease("r1")
        assert current is not None and current.owner == "b"

    def test_renew_extends_only_the_owners_lease(self, store_factory: StoreFactory) -> None:
        leases = _leases(store_factory)
        leases.acquire_lease("r1", owner="a", ttl_s=TTL, now=T0)
        assert leases.renew_lease("r1", owner="a", ttl_s=TTL, now=T0 + timedelta(seconds=20)) is True
        renewed = leases.get_lease("r1")
        assert renewed is not None and renewed.is_live(T0 + timedelta(seconds=45))
        assert leases.acquire_lease("r1", owner="b", ttl_s=TTL, now=T0 + timedelta(seconds=45)) is None
        assert leases.renew_lease("r1", owner="b", ttl_s=TTL, now=T0) is False
        assert leases.renew_lease("unknown", owner="a", ttl_s=TTL, now=T0) is False
        # a lease that lapsed but was not taken over is still its owner's to renew
        assert leases.renew_lease("r1", owner="a", ttl_s=TTL, now=T0 + timedelta(seconds=300)) is True

    def test_release_keeps_a_free_row_unless_forgotten(self, store_factory: StoreFactory) -> None:
        leases = _leases(store_factory)
        leases.acquire_lease("r1", owner="a", ttl_s=TTL, now=T0)
        assert leases.release_lease("r1", owner="b") is False
        assert leases.release_lease("r1", owner="a") is True
        free = leases.get_lease("r1")
        assert free is not None and free.owner is None and free.expires_at is None
        assert not free.is_live(T0)
        assert [r.run_id for r in leases.list_expired_leases(now=T0)] == ["r1"]
        taken = leases.acquire_lease("r1", owner="b", ttl_s=TTL, now=T0)  # at once, no TTL to wait
        assert taken is not None and taken.generation == 2
        assert leases.release_lease("r1", owner="b", forget=True) is True
        assert leases.get_lease("r1") is None
        assert leases.release_lease("r1", owner="b") is False

    def test_recovery_marks_count_attempts_without_progress(self, store_factory: StoreFactory) -> None:
        leases = _leases(store_factory)
        first = leases.acquire_lease("r1", owner="a", ttl_s=TTL, now=T0, recovery_mark="rev:4")
        assert first is not None and (first.recoveries, first.recovery_mark) == (1, "rev:4")
        leases.release_lease("r1", owner="a")
        second = leases.acquire_lease("r1", owner="b", ttl_s=TTL, now=T0, recovery_mark="rev:4")
        assert second is not None and second.recoveries == 2
        leases.release_lease("r1", owner="b")
        plain = leases.acquire_lease("r1", owner="c", ttl_s=TTL, now=T0)  # a driver, not a recovery
        assert plain is not None and (plain.recoveries, plain.recovery_mark) == (2, "rev:4")
        leases.release_lease("r1", owner="c")
        moved = leases.acquire_lease("r1", owner="d", ttl_s=TTL, now=T0, recovery_mark="rev:9")
        assert moved is not None and (moved.recoveries, moved.recovery_mark) == (1, "rev:9")

    def test_list_expired_leases_orders_and_limits(self, store_factory: StoreFactory) -> None:
        leases = _leases(store_factory)
        leases.acquire_lease("late", owner="a", ttl_s=20, now=T0)
        leases.acquire_lease("early", owner="a", ttl_s=10, now=T0)
        leases.acquire_lease("live", owner="a", ttl_s=100, now=T0)
        leases.acquire_lease("free", owner="a", ttl_s=100, now=T0)
        leases.release_lease("free", owner="a")
        now = T0 + timedelta(seconds=50)
        assert [r.run_id for r in leases.list_expired_leases(now=now)] == ["free", "early", "late"]
        assert [r.run_id for r in leases.list_expired_leases(now=now, limit=2)] == ["free", "early"]
        assert [r.run_id for r in leases.list_expired_leases(now=T0)] == ["free"]

    def test_leases_survive_a_reopen(self, store_factory: StoreFactory) -> None:
        leases = _leases(store_factory)
        leases.acquire_lease("r1", owner="a", ttl_s=TTL, now=T0, recovery_mark="rev:1")
        reopened = store_factory.leases()
        lease = reopened.get_lease("r1")
        assert lease is not None and lease.owner == "a" and lease.recoveries == 1
        assert reopened.acquire_lease("r1", owner="b", ttl_s=TTL, now=T0) is None

    def test_racing_acquires_have_one_winner(self, store_factory: StoreFactory) -> None:
        stores = [store_factory.leases() for _ in range(4)]  # separate objects: stand-ins for processes
        for round_no in range(10):
            run_id = f"race-{round_no}"
            winners: list[str] = []
            start = threading.Barrier(len(stores))

            def attempt(
                i: int,
                run_id: str = run_id,
                winners: list[str] = winners,
                start: threading.Barrier = start,
            ) -> None:
                start.wait()
                if stores[i].acquire_lease(run_id, owner=f"o{i}", ttl_s=TTL, now=T0) is not None:
                    winners.append(f"o{i}")

            threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(stores))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len(winners) == 1, winners
            lease = stores[0].get_lease(run_id)
            assert lease is not None and lease.owner == winners[0]
