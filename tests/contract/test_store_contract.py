"""The store contract suite, run on every bundled backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore, ObservableLedgerStore
from abstractruntime.storage.artifacts import FileArtifactStore
from abstractruntime.storage.base import LedgerStore, RunStore
from abstractruntime.storage.in_memory import InMemoryLeaseStore
from abstractruntime.storage.json_files import JsonFileLeaseStore, JsonFileRunStore, JsonlLedgerStore
from abstractruntime.storage.ledger_chain import HashChainedLedgerStore
from abstractruntime.storage.offloading import OffloadingLedgerStore, OffloadingRunStore
from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLeaseStore, SqliteLedgerStore, SqliteRunStore
from abstractruntime.testing.contract import StoreContract, StoreFactory


def _memory(tmp_path: Path) -> StoreFactory:
    pair = (InMemoryRunStore(), InMemoryLedgerStore())
    leases = InMemoryLeaseStore()
    return StoreFactory(name="memory", open=lambda: pair, durable=False, open_leases=lambda: leases)


def _files(tmp_path: Path) -> StoreFactory:
    lease_stores: list[JsonFileLeaseStore] = []

    def open_leases() -> JsonFileLeaseStore:
        lease_stores.append(JsonFileLeaseStore(tmp_path))
        return lease_stores[-1]

    def close() -> None:
        for store in lease_stores:
            store.close()

    return StoreFactory(
        name="files",
        open=lambda: (JsonFileRunStore(tmp_path), JsonlLedgerStore(tmp_path)),
        close=close,
        open_leases=open_leases,
    )


def _sqlite(tmp_path: Path) -> StoreFactory:
    databases: list[SqliteDatabase] = []

    def open_pair() -> tuple[SqliteRunStore, SqliteLedgerStore]:
        db = SqliteDatabase(tmp_path / "runs.db")
        databases.append(db)
        return SqliteRunStore(db), SqliteLedgerStore(db)

    def open_leases() -> SqliteLeaseStore:
        db = SqliteDatabase(tmp_path / "runs.db")
        databases.append(db)
        return SqliteLeaseStore(db)

    def close() -> None:
        for db in databases:
            db.close()

    return StoreFactory(name="sqlite", open=open_pair, close=close, open_leases=open_leases)


def _chained(make: Callable[[Path], StoreFactory]) -> Callable[[Path], StoreFactory]:
    """The same backend behind HashChainedLedgerStore + ObservableLedgerStore: decorators keep every
    guarantee (atomic step commits, indexed lookups)."""

    def build(tmp_path: Path) -> StoreFactory:
        base = make(tmp_path)

        def open_pair() -> tuple[RunStore, LedgerStore]:
            runs, ledger = base.open()
            return runs, ObservableLedgerStore(HashChainedLedgerStore(ledger))

        return StoreFactory(
            name=f"{base.name}+chain",
            open=open_pair,
            durable=base.durable,
            close=base.close,
            open_leases=base.open_leases,
        )

    return build


def _offloaded(make: Callable[[Path], StoreFactory]) -> Callable[[Path], StoreFactory]:
    """The same backend behind OffloadingRunStore + OffloadingLedgerStore: the decorators keep
    revisions, one-unit commits and indexed idempotency lookups (the contract's values stay under the
    1 KiB limit; tests/storage/test_offloading.py covers what moves to artifacts)."""

    def build(tmp_path: Path) -> StoreFactory:
        base = make(tmp_path)

        def open_pair() -> tuple[RunStore, LedgerStore]:
            runs, ledger = base.open()
            artifacts = FileArtifactStore(tmp_path / "offload")
            return (
                OffloadingRunStore(runs, artifact_store=artifacts, max_inline_bytes=1024),
                OffloadingLedgerStore(ledger, artifact_store=artifacts, max_inline_bytes=1024),
            )

        return StoreFactory(
            name=f"{base.name}+offload",
            open=open_pair,
            durable=base.durable,
            close=base.close,
            open_leases=base.open_leases,
        )

    return build


BACKENDS = {
    "memory": _memory,
    "files": _files,
    "sqlite": _sqlite,
    "files+chain": _chained(_files),
    "sqlite+chain": _chained(_sqlite),
    "sqlite+offload": _offloaded(_sqlite),
}


class TestStoreContract(StoreContract):
    @pytest.fixture(params=sorted(BACKENDS))
    def store_factory(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
        factory = BACKENDS[request.param](tmp_path)
        yield factory
        if factory.close is not None:
            factory.close()
