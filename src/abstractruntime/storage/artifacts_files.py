"""``FileArtifactStore``: artifacts as files, content deduplicated across runs (SPEC §7.6).

Layout under ``base_dir``::

    artifacts/blobs/<blob_id>.bin        content, one file per distinct content (sha256 hex name)
    artifacts/refs/<artifact_id>.meta    metadata (indented JSON of ArtifactMetadata.to_dict())
    artifacts/<artifact_id>.bin|.meta    legacy layout (one content file per artifact): still read

A blob is written (temp file, fsync, rename, directory fsync) only when absent, then the metadata is
written the same way, so a metadata file never points at a missing or torn blob.  ``delete`` removes
metadata only; blobs nobody references any more are reclaimed by :meth:`FileArtifactStore.gc`.

Every id that becomes part of a path — the artifact id given or computed, and the ``blob_id`` read
back from a metadata file — must match ``^[a-zA-Z0-9_-]+$``; anything else raises
:class:`~abstractruntime.errors.InvalidArtifactIdError` (a ``ValueError``), a path-traversal guard.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core.clock import SYSTEM_CLOCK, Clock
from ..errors import CorruptArtifactError, InvalidArtifactIdError
from ._files import atomic_write, fsync_dir, remove_stale_temp_files
from .artifacts import (
    DEFAULT_CONTENT_TYPE,
    Artifact,
    ArtifactMetadata,
    ArtifactStore,
    newest_first,
    prepare_store,
    validate_artifact_id,
)

__all__ = ["FileArtifactStore"]

_log = logging.getLogger("abstractruntime.storage.artifacts")
_BLOB, _META = ".bin", ".meta"


class FileArtifactStore(ArtifactStore):
    """Artifact store over a directory; safe for several threads and processes.

    Args:
        base_dir: the root directory; artifacts live in ``<base_dir>/artifacts`` (created when missing).
        clock: time source for ``created_at`` (default the system clock).
    """

    def __init__(self, base_dir: str | os.PathLike[str], *, clock: Clock | None = None) -> None:
        self._base = Path(base_dir).expanduser().resolve()
        self._root = self._base / "artifacts"
        self._blobs = self._root / "blobs"
        self._refs = self._root / "refs"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._refs.mkdir(parents=True, exist_ok=True)
        self._clock = clock or SYSTEM_CLOCK
        self._lock = threading.Lock()  # store vs gc within this process
        remove_stale_temp_files(self._blobs, f"*{_BLOB}.*.tmp")
        remove_stale_temp_files(self._refs, f"*{_META}.*.tmp")

    @property
    def base_dir(self) -> Path:
        """The directory given to the constructor (resolved)."""
        return self._base

    # -- paths -----------------------------------------------------------------------------------
    def _blob_path(self, blob_id: str) -> Path:
        return self._blobs / f"{validate_artifact_id(blob_id)}{_BLOB}"

    def _meta_path(self, artifact_id: str) -> Path:
        return self._refs / f"{validate_artifact_id(artifact_id)}{_META}"

    def _legacy_path(self, artifact_id: str, suffix: str) -> Path:
        return self._root / f"{validate_artifact_id(artifact_id)}{suffix}"

    # -- writing ---------------------------------------------------------------------------------
    def store(
        self,
        content: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        artifact_id: str | None = None,
    ) -> ArtifactMetadata:
        """Store ``content`` (bytes); see :meth:`ArtifactStore.store`.

        The blob is written only when no blob with the same sha256 exists (or the existing file has
        the wrong size); then the metadata file is replaced atomically.

        Raises:
            InvalidArtifactIdError (ValueError): an explicit ``artifact_id`` unsafe as a file name.
            TypeError: ``content`` is not bytes-like.
        """
        if artifact_id is not None:
            validate_artifact_id(artifact_id)
        data, meta, blob_id = prepare_store(
            content,
            content_type=content_type,
            run_id=run_id,
            tags=tags,
            artifact_id=artifact_id,
            created_at=self._clock.now().isoformat(),
        )
        text = json.dumps(meta.to_dict(), indent=2, ensure_ascii=False) + "\n"
        with self._lock:
            self._write_blob(blob_id, data)
            atomic_write(self._meta_path(meta.artifact_id), text.encode("utf-8"))
        return meta

    def _write_blob(self, blob_id: str, data: bytes) -> None:
        path = self._blob_path(blob_id)
        try:
            if path.stat().st_size == len(data):
                os.utime(path)  # a fresh mtime keeps gc(min_age_s=...) off a blob being reused
                return
            _log.warning("artifact blob %s has the wrong size; rewriting it", path)
        except FileNotFoundError:
            pass
        atomic_write(path, data)

    def delete(self, artifact_id: str) -> bool:
        """Remove the artifact's metadata (and a legacy-layout content file, which no one shares).

        The blob stays until :meth:`gc`.  Returns True when something was removed.

        Raises:
            InvalidArtifactIdError (ValueError): ``artifact_id`` is unsafe as a file name.
        """
        paths = (
            self._meta_path(artifact_id),
            self._legacy_path(artifact_id, _META),
            self._legacy_path(artifact_id, _BLOB),
        )
        removed = False
        with self._lock:
            for path in paths:
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed = True
                fsync_dir(path.parent)
        return removed

    # -- reading ---------------------------------------------------------------------------------
    def _read_meta(self, artifact_id: str) -> ArtifactMetadata | None:
        for path in (self._meta_path(artifact_id), self._legacy_path(artifact_id, _META)):
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue
            return self._decode_meta(raw, path)
        return None

    @staticmethod
    def _decode_meta(raw: bytes, path: Path) -> ArtifactMetadata | None:
        try:
            data = json.loads(raw)
            return ArtifactMetadata.from_dict(data)
        except (ValueError, CorruptArtifactError):
            _log.error("unreadable artifact metadata %s", path, exc_info=True)
            return None

    def get_metadata(self, artifact_id: str) -> ArtifactMetadata | None:
        """The metadata, or None when unknown or unreadable (an unreadable file is logged).

        Raises:
            InvalidArtifactIdError (ValueError): ``artifact_id`` is unsafe as a file name.
        """
        return self._read_meta(artifact_id)

    def load(self, artifact_id: str) -> Artifact | None:
        """The artifact, or None when its metadata or content is missing or unreadable.

        Raises:
            InvalidArtifactIdError (ValueError): ``artifact_id`` is unsafe as a file name.
        """
        meta = self._read_meta(artifact_id)
        if meta is None:
            return None
        candidates: builtins.list[Path] = []
        if meta.blob_id is not None:
            try:
                candidates.append(self._blob_path(meta.blob_id))
            except InvalidArtifactIdError:
                _log.error("artifact %s names an unsafe blob id %r", artifact_id, meta.blob_id)
                return None
        candidates.append(self._legacy_path(artifact_id, _BLOB))
        for path in candidates:
            try:
                return Artifact(meta, path.read_bytes())
            except FileNotFoundError:
                continue
        _log.warning("artifact %s has metadata but no content", artifact_id)
        return None

    def exists(self, artifact_id: str) -> bool:
        """True when metadata for ``artifact_id`` exists (new or legacy layout).

        Raises:
            InvalidArtifactIdError (ValueError): ``artifact_id`` is unsafe as a file name.
        """
        return self._meta_path(artifact_id).exists() or self._legacy_path(artifact_id, _META).exists()

    def _iter_meta(self, errors: builtins.list[str] | None = None) -> Iterator[ArtifactMetadata]:
        """Every readable metadata record (new layout first; a legacy file shadowed by a new one is
        skipped).  Unreadable files are logged, skipped and, when given, listed in ``errors``."""
        seen: set[str] = set()
        for directory in (self._refs, self._root):
            with os.scandir(directory) as entries:
                names = sorted(e.name for e in entries if e.name.endswith(_META) and e.is_file())
            for name in names:
                artifact_id = name[: -len(_META)]
                if artifact_id in seen:
                    continue
                seen.add(artifact_id)
                path = directory / name
                try:
                    meta = self._decode_meta(path.read_bytes(), path)
                except FileNotFoundError:
                    continue
                if meta is None:
                    if errors is not None:
                        errors.append(f"{path}: unreadable metadata")
                    continue
                yield meta

    def list_by_run(self, run_id: str) -> builtins.list[ArtifactMetadata]:
        """Metadata of ``run_id``'s artifacts, newest first (scans the metadata files)."""
        return newest_first(m for m in self._iter_meta() if m.run_id == run_id)

    def list_all(self, *, limit: int = 1000) -> builtins.list[ArtifactMetadata]:
        """All metadata, newest first, at most ``limit`` (scans the metadata files)."""
        return newest_first(self._iter_meta())[: max(limit, 0)]

    # -- garbage collection ----------------------------------------------------------------------
    def gc(self, *, dry_run: bool = True, min_age_s: float = 0.0) -> dict[str, Any]:
        """Delete blobs no metadata refers to.

        Args:
            dry_run: only report what would be deleted (the default).
            min_age_s: keep unreferenced blobs modified less than this many seconds ago.  Pass a
                grace period (say 300) when other processes may be storing artifacts meanwhile:
                a blob is written (or its mtime refreshed) just before its metadata.

        Returns:
            ``{"dry_run", "blobs_total", "blobs_referenced", "blobs_deleted", "bytes_reclaimed",
            "errors"}``: blob counts, the bytes freed (or freeable, in a dry run) and a list of
            ``"<path>: <problem>"`` strings.  In a dry run ``blobs_deleted``/``bytes_reclaimed``
            describe what a real run would delete.  When some metadata cannot be read, nothing is
            deleted (its blob cannot be told apart from garbage); the unreadable files are listed.
        """
        errors: builtins.list[str] = []
        report: dict[str, Any] = {
            "dry_run": dry_run,
            "blobs_total": 0,
            "blobs_referenced": 0,
            "blobs_deleted": 0,
            "bytes_reclaimed": 0,
            "errors": errors,
        }
        with self._lock:
            referenced = {m.blob_id for m in self._iter_meta(errors) if m.blob_id}
            blocked = bool(errors)
            cutoff = time.time() - max(min_age_s, 0.0)
            with os.scandir(self._blobs) as entries:
                blobs = sorted((e.name, Path(e.path)) for e in entries if e.name.endswith(_BLOB))
            for name, path in blobs:
                report["blobs_total"] += 1
                if name[: -len(_BLOB)] in referenced:
                    report["blobs_referenced"] += 1
                    continue
                if blocked and not dry_run:
                    continue
                try:
                    stat = path.stat()
                    if min_age_s > 0 and stat.st_mtime >= cutoff:
                        continue
                    if not dry_run:
                        path.unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    errors.append(f"{path}: {exc}")
                    continue
                report["blobs_deleted"] += 1
                report["bytes_reclaimed"] += stat.st_size
            if not dry_run and report["blobs_deleted"]:
                fsync_dir(self._blobs)
        return report
