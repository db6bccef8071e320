"""The artifact store contract (SPEC §7.6) on memory, files and PostgreSQL (skipped when unreachable)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from abstractruntime.core.clock import Clock
from abstractruntime.storage.artifacts import FileArtifactStore, InMemoryArtifactStore
from abstractruntime.testing import FakeClock
from abstractruntime.testing.contract import ArtifactStoreContract, ArtifactStoreFactory
from abstractruntime.testing.postgres import pg_unreachable_reason, temporary_schema, truncate_all

_PG_REASON = pg_unreachable_reason()


class TestInMemoryArtifacts(ArtifactStoreContract):
    @pytest.fixture
    def artifact_factory(self) -> ArtifactStoreFactory:
        return ArtifactStoreFactory(
            name="memory", open=lambda clock: InMemoryArtifactStore(clock=clock), durable=False
        )


class TestFileArtifacts(ArtifactStoreContract):
    @pytest.fixture
    def artifact_factory(self, tmp_path: Path) -> ArtifactStoreFactory:
        return ArtifactStoreFactory(name="files", open=lambda clock: FileArtifactStore(tmp_path, clock=clock))


@pytest.fixture(scope="module")
def pg_artifact_url() -> Iterator[str]:
    with temporary_schema(prefix="ar_artifacts_") as url:
        yield url


@pytest.mark.skipif(_PG_REASON is not None, reason=_PG_REASON or "")
class TestPostgresArtifacts(ArtifactStoreContract):
    @pytest.fixture
    def artifact_factory(self, pg_artifact_url: str) -> Iterator[ArtifactStoreFactory]:
        from abstractruntime.storage.postgres import PostgresArtifactStore, PostgresDatabase

        databases: list[PostgresDatabase] = []

        def open_store(clock: Clock) -> PostgresArtifactStore:
            databases.append(PostgresDatabase(pg_artifact_url))
            return PostgresArtifactStore(databases[-1], clock=clock)

        truncate_all(open_store(FakeClock()).db)
        yield ArtifactStoreFactory(name="postgres", open=open_store)
        for db in databases:
            db.close()
