"""The store contract suite on PostgreSQL: one fresh schema per session, emptied before each test.

Skips (with the reason) when PostgreSQL is unreachable or psycopg is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from abstractruntime.testing.contract import StoreContract, StoreFactory
from abstractruntime.testing.postgres import pg_unreachable_reason, temporary_schema, truncate_all

_REASON = pg_unreachable_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


@pytest.fixture(scope="session")
def pg_contract_url() -> Iterator[str]:
    with temporary_schema(prefix="ar_contract_") as url:
        yield url


def _factory(url: str, *, chained: bool) -> StoreFactory:
    from abstractruntime.storage import HashChainedLedgerStore, ObservableLedgerStore
    from abstractruntime.storage.postgres import (
        PostgresDatabase,
        PostgresLeaseStore,
        PostgresLedgerStore,
        PostgresRunStore,
    )

    databases: list[PostgresDatabase] = []

    def database() -> PostgresDatabase:
        databases.append(PostgresDatabase(url))
        return databases[-1]

    def open_pair() -> tuple[PostgresRunStore, object]:
        db = database()
        ledger = PostgresLedgerStore(db)
        return PostgresRunStore(db), (
            ObservableLedgerStore(HashChainedLedgerStore(ledger)) if chained else ledger
        )

    def close() -> None:
        for db in databases:
            db.close()

    truncate_all(database())
    return StoreFactory(
        name="postgres+chain" if chained else "postgres",
        open=open_pair,  # type: ignore[arg-type]
        close=close,
        open_leases=lambda: PostgresLeaseStore(database()),
    )


class TestPostgresStoreContract(StoreContract):
    @pytest.fixture(params=["postgres", "postgres+chain"])
    def store_factory(self, request: pytest.FixtureRequest, pg_contract_url: str) -> Iterator[StoreFactory]:
        factory = _factory(pg_contract_url, chained=request.param.endswith("+chain"))
        yield factory
        assert factory.close is not None
        factory.close()
