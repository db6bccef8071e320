"""PostgreSQL tests: one fresh schema per session (dropped at the end); skipped when unreachable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from abstractruntime.testing.postgres import pg_unreachable_reason, temporary_schema, truncate_all

_REASON = pg_unreachable_reason()


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    if _REASON is not None:
        pytest.skip(_REASON)
    with temporary_schema() as url:
        yield url


@pytest.fixture
def pg_url(pg_session_url: str) -> Iterator[str]:
    """The session schema's URL, emptied for this test."""
    from abstractruntime.storage.postgres import PostgresDatabase

    db = PostgresDatabase(pg_session_url)
    truncate_all(db)
    db.close()
    yield pg_session_url
