"""``InMemoryArtifactStore`` (SPEC §7.6): artifacts in dicts, blobs shared by content."""

from __future__ import annotations

import builtins
import copy
import threading
from collections import Counter

from ..core.clock import SYSTEM_CLOCK, Clock
from .artifacts import (
    DEFAULT_CONTENT_TYPE,
    Artifact,
    ArtifactMetadata,
    ArtifactStore,
    newest_first,
    prepare_store,
)

__all__ = ["InMemoryArtifactStore"]


class InMemoryArtifactStore(ArtifactStore):
    """Artifacts in dicts (nothing survives the process); thread-safe.

    Identical content is kept once: blobs are keyed by ``blob_id`` and dropped when the last artifact
    referring to them is deleted.

    Args:
        clock: time source for ``created_at`` (default the system clock).
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SYSTEM_CLOCK
        self._meta: dict[str, ArtifactMetadata] = {}
        self._blobs: dict[str, bytes] = {}
        self._refs: Counter[str] = Counter()
        self._lock = threading.Lock()

    def store(
        self,
        content: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        artifact_id: str | None = None,
    ) -> ArtifactMetadata:
        """Store ``content``; see :meth:`ArtifactStore.store`."""
        data, meta, blob_id = prepare_store(
            content,
            content_type=content_type,
            run_id=run_id,
            tags=tags,
            artifact_id=artifact_id,
            created_at=self._clock.now().isoformat(),
        )
        with self._lock:
            self._blobs.setdefault(blob_id, data)
            self._refs[blob_id] += 1
            self._forget_locked(meta.artifact_id)
            self._meta[meta.artifact_id] = meta
        return copy.deepcopy(meta)

    def _forget_locked(self, artifact_id: str) -> bool:
        old = self._meta.pop(artifact_id, None)
        if old is None:
            return False
        if old.blob_id is not None:
            self._refs[old.blob_id] -= 1
            if self._refs[old.blob_id] <= 0:
                del self._refs[old.blob_id]
                self._blobs.pop(old.blob_id, None)
        return True

    def load(self, artifact_id: str) -> Artifact | None:
        """The artifact, or None."""
        with self._lock:
            meta = self._meta.get(artifact_id)
            if meta is None or meta.blob_id is None:
                return None
            return Artifact(copy.deepcopy(meta), self._blobs[meta.blob_id])

    def get_metadata(self, artifact_id: str) -> ArtifactMetadata | None:
        """A copy of the metadata, or None."""
        with self._lock:
            meta = self._meta.get(artifact_id)
            return None if meta is None else copy.deepcopy(meta)

    def exists(self, artifact_id: str) -> bool:
        """True when ``artifact_id`` is stored."""
        with self._lock:
            return artifact_id in self._meta

    def delete(self, artifact_id: str) -> bool:
        """Forget the artifact (its blob goes when no other artifact shares it)."""
        with self._lock:
            return self._forget_locked(artifact_id)

    def list_by_run(self, run_id: str) -> builtins.list[ArtifactMetadata]:
        """Metadata of ``run_id``'s artifacts, newest first."""
        with self._lock:
            found = [copy.deepcopy(m) for m in reversed(self._meta.values()) if m.run_id == run_id]
        return newest_first(found)

    def list_all(self, *, limit: int = 1000) -> builtins.list[ArtifactMetadata]:
        """All metadata, newest first, at most ``limit``."""
        with self._lock:
            found = [copy.deepcopy(m) for m in reversed(self._meta.values())]
        return newest_first(found)[: max(limit, 0)]
