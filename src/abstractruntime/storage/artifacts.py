"""Artifacts: content-addressed blobs with metadata, referenced from vars and ledgers (SPEC §7.6).

An artifact is some bytes plus an :class:`ArtifactMetadata` record.  Large values are kept out of run
state and ledger records by storing them here and leaving a reference ``{"$artifact": id}`` in place
(see :mod:`abstractruntime.storage.offloading`).

Ids (:func:`compute_artifact_id`) are content addressed::

    artifact_id = sha256(run_id + "\\0" + content).hexdigest()[:32]   # or sha256(content) without run_id
    blob_id     = sha256(content).hexdigest()                        # 64 hex chars

so storing the same bytes again for the same run yields the same artifact, and the same bytes stored
for different runs share one blob (a different artifact id per run, one copy of the content).  An
explicit ``artifact_id`` overrides the computed one.

Backends:

* :class:`InMemoryArtifactStore` — dicts, thread-safe; blobs shared by content with a reference count.
* :class:`FileArtifactStore` (in :mod:`.artifacts_files`, re-exported here) — one file per blob and one
  metadata file per artifact, written atomically and durably.

Only the file store validates ids (``^[a-zA-Z0-9_-]+$``, :class:`InvalidArtifactIdError`), because only
there do ids become file names.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CorruptArtifactError, InvalidArtifactIdError

if TYPE_CHECKING:  # re-exported lazily (see __getattr__): artifacts_files imports this module
    from .artifacts_files import FileArtifactStore
    from .artifacts_memory import InMemoryArtifactStore

__all__ = [
    "ARTIFACT_REF_KEY",
    "Artifact",
    "ArtifactMetadata",
    "ArtifactStore",
    "FileArtifactStore",
    "InMemoryArtifactStore",
    "artifact_ref",
    "compute_artifact_id",
    "compute_blob_id",
    "get_artifact_id",
    "is_artifact_ref",
    "resolve_artifact",
    "validate_artifact_id",
]

ARTIFACT_REF_KEY = "$artifact"
"""The key of an artifact reference dict: ``{"$artifact": "<artifact_id>"}``."""

DEFAULT_CONTENT_TYPE = "application/octet-stream"

_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")


# -- ids ---------------------------------------------------------------------------------------------
def compute_artifact_id(content: bytes, *, run_id: str | None = None) -> str:
    """The content-addressed id of ``content`` (SPEC §7.6).

    Args:
        content: the artifact bytes.
        run_id: when given (and not empty), the id is scoped to the run.

    Returns:
        ``sha256(run_id.encode() + b"\\0" + content)`` — or ``sha256(content)`` without a run id — as
        hex, truncated to 32 characters.
    """
    digest = hashlib.sha256()
    if run_id:
        digest.update(run_id.encode("utf-8"))
        digest.update(b"\0")
    digest.update(content)
    return digest.hexdigest()[:32]


def compute_blob_id(content: bytes) -> str:
    """The blob id of ``content``: its full sha256 hex digest (64 characters)."""
    return hashlib.sha256(content).hexdigest()


def validate_artifact_id(artifact_id: object) -> str:
    """Return ``artifact_id`` when it is safe as a file name, else raise.

    Raises:
        InvalidArtifactIdError (ValueError): not a str matching ``^[a-zA-Z0-9_-]+$``.
    """
    if not isinstance(artifact_id, str) or not _ID_PATTERN.match(artifact_id):
        raise InvalidArtifactIdError(artifact_id)
    return artifact_id


# -- references --------------------------------------------------------------------------------------
def artifact_ref(artifact_id: str) -> dict[str, str]:
    """The reference left in place of an offloaded value: ``{"$artifact": artifact_id}``."""
    return {ARTIFACT_REF_KEY: artifact_id}


def is_artifact_ref(value: Any) -> bool:
    """True for any dict holding the key ``"$artifact"`` (extra keys such as ``content_type`` are allowed)."""
    return isinstance(value, dict) and ARTIFACT_REF_KEY in value


def get_artifact_id(ref: dict[str, Any]) -> str:
    """The artifact id of a reference dict.

    Raises:
        KeyError: ``ref`` has no ``"$artifact"`` key.
    """
    return str(ref[ARTIFACT_REF_KEY])


def resolve_artifact(ref: Any, store: ArtifactStore) -> Artifact | None:
    """Load the artifact ``ref`` points to; None when ``ref`` is not a reference or the artifact is gone."""
    if not is_artifact_ref(ref):
        return None
    return store.load(get_artifact_id(ref))


# -- records -----------------------------------------------------------------------------------------
@dataclass
class ArtifactMetadata:
    """What a store knows about one artifact.

    Attributes:
        artifact_id: the id (:func:`compute_artifact_id` unless given explicitly).
        content_type: a MIME type such as ``text/plain`` or ``application/json``.
        size_bytes: the content length in bytes.
        created_at: UTC ISO-8601 time the artifact was (last) stored.
        blob_id: sha256 hex of the content (None for legacy file-layout artifacts).
        run_id: the run the artifact belongs to, if any.
        tags: free-form ``{str: str}`` labels (offloading adds ``path``, ``kind`` and ``source``).
    """

    artifact_id: str
    content_type: str
    size_bytes: int
    created_at: str
    blob_id: str | None = None
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored in metadata files (the seven fields; ``tags`` copied)."""
        return {
            "artifact_id": self.artifact_id,
            "content_type": self.content_type,
            "size_bytes": self.size_bytes,
            "created_at": self.created_at,
            "blob_id": self.blob_id,
            "run_id": self.run_id,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactMetadata:
        """Rebuild metadata from :meth:`to_dict` output.

        Only ``artifact_id`` is required; ``content_type`` defaults to ``application/octet-stream``,
        ``size_bytes`` to 0, ``created_at`` to ``""`` and ``tags`` to ``{}`` (tag values are made str).
        Unknown keys are ignored.

        Raises:
            CorruptArtifactError (ValueError): ``data`` is not a dict, lacks ``artifact_id``, or has
                values of the wrong type.
        """
        if not isinstance(data, dict) or not isinstance(data.get("artifact_id"), str):
            raise CorruptArtifactError(f"artifact metadata needs a str artifact_id: {data!r:.200}")
        tags = data.get("tags") or {}
        try:
            return cls(
                artifact_id=data["artifact_id"],
                content_type=str(data.get("content_type") or DEFAULT_CONTENT_TYPE),
                size_bytes=int(data.get("size_bytes") or 0),
                created_at=str(data.get("created_at") or ""),
                blob_id=None if data.get("blob_id") is None else str(data["blob_id"]),
                run_id=None if data.get("run_id") is None else str(data["run_id"]),
                tags={str(k): str(v) for k, v in dict(tags).items()},
            )
        except (TypeError, ValueError) as exc:
            raise CorruptArtifactError(f"invalid artifact metadata: {exc}") from exc


@dataclass
class Artifact:
    """An artifact's metadata and its content bytes."""

    metadata: ArtifactMetadata
    content: bytes

    @property
    def artifact_id(self) -> str:
        """The artifact id."""
        return self.metadata.artifact_id

    @property
    def content_type(self) -> str:
        """The MIME type."""
        return self.metadata.content_type

    def as_text(self, encoding: str = "utf-8") -> str:
        """The content decoded with ``encoding``.

        Raises:
            UnicodeDecodeError: the bytes are not valid in ``encoding``.
        """
        return self.content.decode(encoding)

    def as_json(self) -> Any:
        """The content parsed as UTF-8 JSON.

        Raises:
            ValueError: the content is not JSON (``json.JSONDecodeError`` or ``UnicodeDecodeError``).
        """
        return json.loads(self.as_text())


def newest_first(items: Iterable[ArtifactMetadata]) -> builtins.list[ArtifactMetadata]:
    """``items`` sorted by ``created_at`` descending (stable: ties keep their given order)."""
    return sorted(items, key=lambda m: m.created_at, reverse=True)


# -- the interface -----------------------------------------------------------------------------------
class ArtifactStore(ABC):
    """Stores artifacts by id (SPEC §7.6).

    Subclasses implement ``store``, ``load``, ``get_metadata``, ``exists``, ``delete``,
    ``list_by_run`` and ``list_all``; the text/JSON helpers, ``search`` and ``delete_by_run`` are
    built on them.
    """

    @abstractmethod
    def store(
        self,
        content: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        artifact_id: str | None = None,
    ) -> ArtifactMetadata:
        """Store ``content`` (bytes) and return its metadata.

        Args:
            content: the bytes to keep.
            content_type: MIME type recorded in the metadata.
            run_id: the owning run; also scopes the computed id.
            tags: ``{str: str}`` labels, copied.
            artifact_id: explicit id overriding :func:`compute_artifact_id`.

        Storing again under an existing id replaces its metadata (the last store wins).
        """

    @abstractmethod
    def load(self, artifact_id: str) -> Artifact | None:
        """The artifact (metadata + bytes), or None when unknown."""

    @abstractmethod
    def get_metadata(self, artifact_id: str) -> ArtifactMetadata | None:
        """The metadata alone, or None when unknown."""

    @abstractmethod
    def exists(self, artifact_id: str) -> bool:
        """True when an artifact with this id is stored."""

    @abstractmethod
    def delete(self, artifact_id: str) -> bool:
        """Forget the artifact; True when something was removed."""

    @abstractmethod
    def list_by_run(self, run_id: str) -> builtins.list[ArtifactMetadata]:
        """Metadata of every artifact of ``run_id``, newest first."""

    @abstractmethod
    def list_all(self, *, limit: int = 1000) -> builtins.list[ArtifactMetadata]:
        """Metadata of all artifacts, newest ``created_at`` first, at most ``limit``."""

    # -- concrete helpers --------------------------------------------------------------------------
    def delete_by_run(self, run_id: str) -> int:
        """Delete every artifact of ``run_id``; returns how many were removed."""
        return sum(1 for meta in self.list_by_run(run_id) if self.delete(meta.artifact_id))

    def search(
        self,
        *,
        run_id: str | None = None,
        content_type: str | None = None,
        tags: dict[str, str] | None = None,
        limit: int = 100,
    ) -> builtins.list[ArtifactMetadata]:
        """Artifacts whose metadata matches every given filter exactly, newest first.

        Args:
            run_id: only this run's artifacts.
            content_type: exact MIME type.
            tags: every ``key: value`` pair must be present with that exact value.
            limit: at most this many results.
        """
        candidates = self.list_by_run(run_id) if run_id is not None else self.list_all(limit=sys.maxsize)
        wanted = dict(tags or {})
        found = [
            meta
            for meta in candidates
            if (content_type is None or meta.content_type == content_type)
            and all(meta.tags.get(k) == v for k, v in wanted.items())
        ]
        return newest_first(found)[: max(limit, 0)]

    def store_text(
        self,
        text: str,
        *,
        content_type: str = "text/plain",
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        artifact_id: str | None = None,
    ) -> ArtifactMetadata:
        """Store ``text`` encoded as UTF-8 (default content type ``text/plain``)."""
        return self.store(
            text.encode("utf-8"),
            content_type=content_type,
            run_id=run_id,
            tags=tags,
            artifact_id=artifact_id,
        )

    def store_json(
        self,
        data: Any,
        *,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        artifact_id: str | None = None,
    ) -> ArtifactMetadata:
        """Store ``data`` as compact JSON (``ensure_ascii=False``, UTF-8) with type ``application/json``.

        Raises:
            TypeError / ValueError: ``data`` has no JSON form (``json.dumps`` errors).
        """
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return self.store_text(
            text, content_type="application/json", run_id=run_id, tags=tags, artifact_id=artifact_id
        )

    def load_text(self, artifact_id: str, encoding: str = "utf-8") -> str | None:
        """The content decoded as text, or None when the artifact is unknown."""
        artifact = self.load(artifact_id)
        return None if artifact is None else artifact.as_text(encoding)

    def load_json(self, artifact_id: str) -> Any:
        """The content parsed as JSON, or None when the artifact is unknown."""
        artifact = self.load(artifact_id)
        return None if artifact is None else artifact.as_json()


def prepare_store(
    content: bytes | bytearray | memoryview,
    *,
    content_type: str,
    run_id: str | None,
    tags: dict[str, str] | None,
    artifact_id: str | None,
    created_at: str,
) -> tuple[bytes, ArtifactMetadata, str]:
    """Normalise ``content`` to bytes and build the metadata a backend stores with it (ids derived from
    the content when ``artifact_id`` is None; tag keys and values as text): ``(content, metadata,
    blob_id)``, the last being ``metadata.blob_id`` (never None here).

    Args:
        created_at: the store time, UTC ISO-8601 in the backend's own format.

    Raises:
        TypeError: ``content`` is not bytes-like.
    """
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(f"artifact content must be bytes, not {type(content).__name__}")
    data = bytes(content)
    blob_id = compute_blob_id(data)
    meta = ArtifactMetadata(
        artifact_id=artifact_id or compute_artifact_id(data, run_id=run_id),
        content_type=content_type,
        size_bytes=len(data),
        created_at=created_at,
        blob_id=blob_id,
        run_id=run_id,
        tags={str(k): str(v) for k, v in (tags or {}).items()},
    )
    return data, meta, blob_id


def __getattr__(name: str) -> Any:
    """Lazy re-exports of the backends (their modules import this one)."""
    if name == "FileArtifactStore":
        from .artifacts_files import FileArtifactStore

        return FileArtifactStore
    if name == "InMemoryArtifactStore":
        from .artifacts_memory import InMemoryArtifactStore

        return InMemoryArtifactStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
