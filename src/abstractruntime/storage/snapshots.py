"""Snapshots: named, tagged copies of a run's state that a host can list and restore (SPEC §7.9).

A :class:`Snapshot` holds ``run_state``, the persisted 13-key object of a run (SPEC §2.3), plus a
name, a description and tags.  Stores:

* :class:`InMemorySnapshotStore` — a dict (copies in, copies out); thread-safe.
* :class:`JsonSnapshotStore` — one ``<base_dir>/snapshot_<snapshot_id>.json`` file (indented JSON) per
  snapshot.  Unlike upstream, which writes the file directly, files are written atomically and
  durably (temp file, fsync, rename, directory fsync), so a crash never leaves a torn snapshot.

:func:`restore_snapshot` is an addition (upstream leaves restoring to the host): it rebuilds the
RunState from ``run_state`` and saves it to a run store.
"""

from __future__ import annotations

import builtins
import copy
import logging
import os
import re
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core.clock import SYSTEM_CLOCK, Clock, utc_now_iso
from ..core.models import RunState
from ..errors import CorruptRunError, InvalidRecordError
from ._files import atomic_write, fsync_dir, remove_stale_temp_files
from .base import RunStore
from .codec import decode_json, encode_json

__all__ = [
    "InMemorySnapshotStore",
    "JsonSnapshotStore",
    "Snapshot",
    "SnapshotStore",
    "restore_snapshot",
]

_log = logging.getLogger("abstractruntime.storage.snapshots")
_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
_PREFIX, _SUFFIX = "snapshot_", ".json"


@dataclass
class Snapshot:
    """A named copy of a run's state.

    Attributes:
        snapshot_id: uuid4 string (from :meth:`from_run`).
        run_id: the run it was taken from.
        step_id: the ledger step it corresponds to, if any.
        name: a label; ``description`` longer free text.
        tags: labels matched case-insensitively by ``SnapshotStore.list(tag=...)``.
        created_at / updated_at: UTC ISO-8601; ``updated_at`` is refreshed by every ``save``.
        run_state: the persisted 13-key run object (SPEC §2.3).
    """

    snapshot_id: str
    run_id: str
    step_id: str | None = None
    name: str = ""
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=utc_now_iso)
    updated_at: str = field(default_factory=utc_now_iso)
    run_state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_run(
        cls,
        *,
        run: RunState,
        name: str,
        description: str | None = None,
        tags: builtins.list[str] | None = None,
        step_id: str | None = None,
    ) -> Snapshot:
        """A snapshot of ``run`` with a new uuid4 id; ``run_state`` is a deep copy of its 13-key object."""
        return cls(
            snapshot_id=str(uuid.uuid4()),
            run_id=run.run_id,
            step_id=step_id,
            name=name,
            description=description,
            tags=builtins.list(tags or []),
            run_state=copy.deepcopy(run.to_dict()),
        )


def _snapshot_from_dict(data: Any, *, location: str) -> Snapshot:
    """Rebuild a Snapshot from its JSON object.

    Raises:
        CorruptRunError (ValueError): not an object, missing ids, or fields of the wrong type.
    """
    if not isinstance(data, dict):
        raise CorruptRunError(f"snapshot at {location} is not a JSON object", location=location)
    run_id = data.get("run_id")
    ok = (
        isinstance(data.get("snapshot_id"), str)
        and isinstance(run_id, str)
        and isinstance(data.get("tags", []), list)
        and isinstance(data.get("run_state", {}), dict)
    )
    if not ok:
        raise CorruptRunError(f"invalid snapshot at {location}", run_id=run_id, location=location)
    known = {"snapshot_id", "run_id", "step_id", "name", "description", "tags", "created_at", "updated_at"}
    kwargs = {k: v for k, v in data.items() if k in known and v is not None}
    return Snapshot(**kwargs, run_state=data.get("run_state") or {})


def _select(
    snapshots: Iterable[Snapshot], *, run_id: str | None, tag: str | None, query: str | None, limit: int
) -> builtins.list[Snapshot]:
    wanted_tag = tag.lower() if tag is not None else None
    needle = query.lower() if query else None
    found = [
        s
        for s in snapshots
        if (run_id is None or s.run_id == run_id)
        and (wanted_tag is None or any(str(t).lower() == wanted_tag for t in s.tags))
        and (needle is None or needle in (s.name or "").lower() or needle in (s.description or "").lower())
    ]
    found.sort(key=lambda s: s.created_at, reverse=True)
    return found[: max(limit, 0)]


class SnapshotStore(ABC):
    """Keeps snapshots by id (SPEC §7.9)."""

    @abstractmethod
    def save(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` (replacing one with the same id); sets its ``updated_at`` to now."""

    @abstractmethod
    def load(self, snapshot_id: str) -> Snapshot | None:
        """The snapshot, or None when unknown."""

    @abstractmethod
    def delete(self, snapshot_id: str) -> bool:
        """Remove the snapshot; True when it existed."""

    @abstractmethod
    def list(
        self,
        *,
        run_id: str | None = None,
        tag: str | None = None,
        query: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Snapshot]:
        """Snapshots matching every filter, newest ``created_at`` first, at most ``limit``.

        Args:
            run_id: only snapshots of this run.
            tag: one tag, matched case-insensitively and exactly.
            query: a case-insensitive substring of the name or the description.
            limit: at most this many.
        """


class InMemorySnapshotStore(SnapshotStore):
    """Snapshots in a dict; ``save`` stores a deep copy and ``load``/``list`` return copies.

    Args:
        clock: time source for ``updated_at`` (default the system clock).
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SYSTEM_CLOCK
        self._items: dict[str, Snapshot] = {}
        self._lock = threading.Lock()

    def save(self, snapshot: Snapshot) -> None:
        """Store a copy of ``snapshot`` (after setting its ``updated_at``)."""
        snapshot.updated_at = self._clock.now().isoformat()
        with self._lock:
            self._items[snapshot.snapshot_id] = copy.deepcopy(snapshot)

    def load(self, snapshot_id: str) -> Snapshot | None:
        """A copy of the snapshot, or None."""
        with self._lock:
            found = self._items.get(snapshot_id)
            return None if found is None else copy.deepcopy(found)

    def delete(self, snapshot_id: str) -> bool:
        """Remove the snapshot; True when it existed."""
        with self._lock:
            return self._items.pop(snapshot_id, None) is not None

    def list(
        self,
        *,
        run_id: str | None = None,
        tag: str | None = None,
        query: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Snapshot]:
        """Matching snapshots (copies), newest first; see :meth:`SnapshotStore.list`."""
        with self._lock:
            items = builtins.list(self._items.values())
        chosen = _select(items, run_id=run_id, tag=tag, query=query, limit=limit)
        return [copy.deepcopy(s) for s in chosen]


class JsonSnapshotStore(SnapshotStore):
    """One ``<base_dir>/snapshot_<snapshot_id>.json`` file per snapshot, written atomically.

    Snapshot ids must match ``^[a-zA-Z0-9_-]+$`` (uuid4 strings do) since they form file names.

    Args:
        base_dir: the directory (created when missing).
        clock: time source for ``updated_at`` (default the system clock).
    """

    def __init__(self, base_dir: str | os.PathLike[str], *, clock: Clock | None = None) -> None:
        self._dir = Path(base_dir).expanduser().resolve()
        self._dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock or SYSTEM_CLOCK
        remove_stale_temp_files(self._dir, f"{_PREFIX}*{_SUFFIX}.*.tmp")

    @property
    def base_dir(self) -> Path:
        """The directory holding the snapshot files."""
        return self._dir

    def _path(self, snapshot_id: str) -> Path | None:
        if not isinstance(snapshot_id, str) or not _ID_PATTERN.match(snapshot_id):
            return None
        return self._dir / f"{_PREFIX}{snapshot_id}{_SUFFIX}"

    def save(self, snapshot: Snapshot) -> None:
        """Write the snapshot's file atomically (after setting its ``updated_at``).

        Raises:
            InvalidRecordError (ValueError): the snapshot id is unsafe as a file name.
            NotJsonSafeError (TypeError): ``run_state`` (or another field) is not JSON-safe;
                nothing is written and ``updated_at`` is left unchanged.
        """
        path = self._path(snapshot.snapshot_id)
        if path is None:
            raise InvalidRecordError(
                f"invalid snapshot id {snapshot.snapshot_id!r}: only letters, digits, '_' and '-' are allowed",
                run_id=snapshot.run_id,
            )
        data = asdict(snapshot)
        data["updated_at"] = self._clock.now().isoformat()
        text = encode_json(data, path="snapshot", run_id=snapshot.run_id, indent=2)
        atomic_write(path, (text + "\n").encode("utf-8"))
        snapshot.updated_at = data["updated_at"]

    def load(self, snapshot_id: str) -> Snapshot | None:
        """The snapshot, or None when there is no file (or the id cannot name one).

        Raises:
            CorruptRunError (ValueError): the file exists but cannot be decoded.
        """
        path = self._path(snapshot_id)
        if path is None:
            return None
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return self._decode(raw, path)

    @staticmethod
    def _decode(raw: bytes, path: Path) -> Snapshot:
        return _snapshot_from_dict(decode_json(raw, run_id=None, location=str(path)), location=str(path))

    def delete(self, snapshot_id: str) -> bool:
        """Remove the snapshot's file; True when it existed."""
        path = self._path(snapshot_id)
        if path is None:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_dir(self._dir)
        return True

    def list(
        self,
        *,
        run_id: str | None = None,
        tag: str | None = None,
        query: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Snapshot]:
        """Matching snapshots, newest first (scans every file; unreadable ones are logged and skipped)."""
        items: builtins.list[Snapshot] = []
        for path in sorted(self._dir.glob(f"{_PREFIX}*{_SUFFIX}")):
            try:
                items.append(self._decode(path.read_bytes(), path))
            except FileNotFoundError:
                continue
            except (CorruptRunError, OSError):
                _log.warning("skipping unreadable snapshot file %s", path, exc_info=True)
        return _select(items, run_id=run_id, tag=tag, query=query, limit=limit)


def restore_snapshot(snapshot: Snapshot, run_store: RunStore) -> RunState:
    """Rebuild the run saved in ``snapshot`` and store it with ``run_store.save`` (an addition to SPEC §7.9).

    The stored run replaces the run's current state as is (its status, vars, wait and timestamps are
    those of the snapshot).  With a revisioned store the save bumps the revision, so a driver still
    holding the replaced state gets ``ConcurrencyError`` on its next commit.

    Args:
        snapshot: the snapshot to restore; its ``run_state`` is deep-copied, never shared.
        run_store: where the run is saved.

    Returns:
        The restored RunState (the object given to ``save``).

    Raises:
        CorruptRunError (ValueError): ``run_state`` is not a valid run object, or belongs to another run
            than ``snapshot.run_id``.
    """
    run = RunState.from_dict(copy.deepcopy(snapshot.run_state))
    if run.run_id != snapshot.run_id:
        raise CorruptRunError(
            f"snapshot {snapshot.snapshot_id} of run {snapshot.run_id} holds the state of run {run.run_id}",
            run_id=snapshot.run_id,
        )
    run_store.save(run)
    return run
