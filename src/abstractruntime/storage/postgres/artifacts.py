"""``PostgresArtifactStore``: artifacts (SPEC §7.6) in the ``artifacts`` table of a PostgreSQL database.

One row per artifact: the metadata columns, ``tags`` as ``jsonb`` and the content as ``bytea``.  Content
is not shared between rows (each artifact keeps its own copy; ``blob_id`` is still its sha256), which
keeps delete a single-row statement with no reference counting between concurrent writers.  Storing
again under an existing id replaces the row in one ``INSERT … ON CONFLICT`` statement, and the row
moves to the newest position among equal ``created_at`` values, as in the other backends.

``created_at`` is fixed-width UTC text (``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``), so SQL orders it as time.
:meth:`PostgresArtifactStore.search` runs in SQL (``tags @> …``) instead of filtering every row in Python.
"""

from __future__ import annotations

import builtins
import json
from datetime import timezone
from typing import Any

from ...core.clock import SYSTEM_CLOCK, Clock
from ..artifacts import (
    DEFAULT_CONTENT_TYPE,
    Artifact,
    ArtifactMetadata,
    ArtifactStore,
    prepare_store,
)
from .db import PostgresDatabase

__all__ = ["PostgresArtifactStore"]

_META = "artifact_id, content_type, size_bytes, created_at, blob_id, run_id, tags"
_NEWEST = "ORDER BY created_at DESC, seq DESC"


def _meta_from_row(row: tuple[Any, ...]) -> ArtifactMetadata:
    artifact_id, content_type, size_bytes, created_at, blob_id, run_id, tags = row[:7]
    return ArtifactMetadata(
        artifact_id=artifact_id,
        content_type=content_type,
        size_bytes=int(size_bytes),
        created_at=created_at,
        blob_id=blob_id,
        run_id=run_id,
        tags={str(k): str(v) for k, v in dict(tags or {}).items()},
    )


class PostgresArtifactStore(ArtifactStore):
    """Artifacts over a :class:`PostgresDatabase` (the ``artifacts`` table, schema version 2).

    Every method is one statement (writes join the calling thread's open transaction, if any), so many
    worker processes can share the store.

    Args:
        db: the database shared with the run/ledger/command stores.
        clock: time source for ``created_at`` (default the system clock).
    """

    def __init__(self, db: PostgresDatabase, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SYSTEM_CLOCK

    @property
    def db(self) -> PostgresDatabase:
        """The database this store writes to."""
        return self._db

    def store(
        self,
        content: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        artifact_id: str | None = None,
    ) -> ArtifactMetadata:
        """Store ``content`` (bytes); see :meth:`ArtifactStore.store`.  The last store of an id wins.

        Raises:
            TypeError: ``content`` is not bytes-like.
        """
        data, meta, _ = prepare_store(
            content,
            content_type=content_type,
            run_id=run_id,
            tags=tags,
            artifact_id=artifact_id,
            created_at=self._clock.now().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
        )
        with self._db.transaction() as conn:
            conn.execute(
                f"INSERT INTO artifacts ({_META}, content) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s) "
                "ON CONFLICT (artifact_id) DO UPDATE SET content_type = excluded.content_type, "
                "size_bytes = excluded.size_bytes, created_at = excluded.created_at, "
                "blob_id = excluded.blob_id, run_id = excluded.run_id, tags = excluded.tags, "
                "content = excluded.content, seq = DEFAULT",
                (
                    meta.artifact_id,
                    meta.content_type,
                    meta.size_bytes,
                    meta.created_at,
                    meta.blob_id,
                    meta.run_id,
                    json.dumps(meta.tags),
                    data,
                ),
            )
        return meta

    def load(self, artifact_id: str) -> Artifact | None:
        """The artifact (metadata and bytes), or None when unknown."""
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {_META}, content FROM artifacts WHERE artifact_id = %s", (artifact_id,)
            ).fetchone()
        return None if row is None else Artifact(_meta_from_row(row), bytes(row[7]))

    def get_metadata(self, artifact_id: str) -> ArtifactMetadata | None:
        """The metadata alone (the content is not read), or None when unknown."""
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {_META} FROM artifacts WHERE artifact_id = %s", (artifact_id,)
            ).fetchone()
        return None if row is None else _meta_from_row(row)

    def exists(self, artifact_id: str) -> bool:
        """True when ``artifact_id`` is stored."""
        with self._db.connection() as conn:
            row = conn.execute("SELECT 1 FROM artifacts WHERE artifact_id = %s", (artifact_id,)).fetchone()
        return row is not None

    def delete(self, artifact_id: str) -> bool:
        """Remove the artifact; True when a row was deleted."""
        with self._db.transaction() as conn:
            cur = conn.execute("DELETE FROM artifacts WHERE artifact_id = %s", (artifact_id,))
            return bool(cur.rowcount)

    def delete_by_run(self, run_id: str) -> int:
        """Remove every artifact of ``run_id`` in one statement; returns how many were removed."""
        with self._db.transaction() as conn:
            return int(conn.execute("DELETE FROM artifacts WHERE run_id = %s", (run_id,)).rowcount)

    def list_by_run(self, run_id: str) -> builtins.list[ArtifactMetadata]:
        """Metadata of ``run_id``'s artifacts, newest first."""
        return self._select(run_id=run_id, content_type=None, tags=None, limit=None)

    def list_all(self, *, limit: int = 1000) -> builtins.list[ArtifactMetadata]:
        """All metadata, newest first, at most ``limit``."""
        return self._select(run_id=None, content_type=None, tags=None, limit=max(limit, 0))

    def search(
        self,
        *,
        run_id: str | None = None,
        content_type: str | None = None,
        tags: dict[str, str] | None = None,
        limit: int = 100,
    ) -> builtins.list[ArtifactMetadata]:
        """Artifacts matching every given filter exactly, newest first (see :meth:`ArtifactStore.search`).

        Args:
            run_id: only this run's artifacts.
            content_type: exact MIME type.
            tags: every ``key: value`` pair must be present with that exact value (``tags @> …``).
            limit: at most this many.
        """
        return self._select(run_id=run_id, content_type=content_type, tags=tags, limit=max(limit, 0))

    def _select(
        self,
        *,
        run_id: str | None,
        content_type: str | None,
        tags: dict[str, str] | None,
        limit: int | None,
    ) -> builtins.list[ArtifactMetadata]:
        where: list[str] = []
        params: list[Any] = []
        if run_id is not None:
            where.append("run_id = %s")
            params.append(run_id)
        if content_type is not None:
            where.append("content_type = %s")
            params.append(content_type)
        if tags:
            where.append("tags @> %s::jsonb")
            params.append(json.dumps({str(k): str(v) for k, v in tags.items()}))
        sql = f"SELECT {_META} FROM artifacts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" {_NEWEST}"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        with self._db.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_meta_from_row(row) for row in rows]
