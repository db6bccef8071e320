"""``JsonFileRunStore``: one ``run_<id>.json`` file per run (SPEC §7.3).

Writes are atomic and durable (temp file, fsync, rename, directory fsync).  The revision of a run is
a 63-bit digest of its file's bytes: it changes on every write that changes the run, and a commit
compares it under a per-run lock that also excludes other processes.  A step commit appends the
step's records to the ledger first (one write + fsync) and renames the new state into place last, so
after a crash the state never claims a step the ledger lacks; the ledger may hold the records of a
step whose state write was lost — a completed effect is then reused, not executed again.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..core.models import RunState, RunStatus, StepRecord, WaitReason
from ..errors import ConcurrencyError, CorruptRunError
from ._files import RunLocks, atomic_write, remove_stale_temp_files
from ._query import due_until, index_row, matches, newest_first
from .base import Checkpoint, LedgerStore, RunStore, append_records
from .codec import decode_run, encode_run

__all__ = ["JsonFileRunStore"]

_log = logging.getLogger("abstractruntime.storage.json_files")
_PREFIX, _SUFFIX = "run_", ".json"

_FileKey = tuple[int, int, int]


def _revision_of(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") >> 1


class JsonFileRunStore(RunStore):
    """Run store writing ``<base_dir>/run_<run_id>.json`` (compact JSON of the 13-key run object).

    Args:
        base_dir: the directory (created when missing); it may be shared with a ``JsonlLedgerStore``.
        cache_size: how many recently used run files are kept decoded in memory.
    """

    def __init__(self, base_dir: str | os.PathLike[str], *, cache_size: int = 4096) -> None:
        self._dir = Path(base_dir).expanduser().resolve()
        self._dir.mkdir(parents=True, exist_ok=True)
        self._locks = RunLocks(self._dir / ".runs.lock")
        # run_id -> (file identity, file bytes, revision, parsed run used only for query filters)
        self._cache: OrderedDict[str, tuple[_FileKey, bytes, int, RunState | None]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_size = max(int(cache_size), 1)
        self._children: dict[str, set[str]] | None = None
        remove_stale_temp_files(self._dir, f"{_PREFIX}*{_SUFFIX}.*.tmp")

    def close(self) -> None:
        """Release the lock file descriptor (the store reopens it if used again)."""
        self._locks.close()

    @property
    def base_dir(self) -> Path:
        """The directory holding the run files."""
        return self._dir

    def _path(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or "\\" in run_id or run_id in (".", ".."):
            raise CorruptRunError(f"invalid run id for a file name: {run_id!r}", run_id=run_id)
        return self._dir / f"{_PREFIX}{run_id}{_SUFFIX}"

    # -- reading ---------------------------------------------------------------------------------
    def _read(self, run_id: str, *, parse: bool = False) -> tuple[bytes, int, RunState | None] | None:
        """(file bytes, revision, parsed run when ``parse``) of ``run_id``, served from a cache keyed by
        the file's identity.  The parsed run is shared by queries: never hand it out."""
        path = self._path(run_id)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._cache_lock:
            cached = self._cache.get(run_id)
        if cached is not None and cached[0] == key:
            data, revision, parsed = cached[1], cached[2], cached[3]
        else:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                return None
            revision, parsed = _revision_of(data), None
        run = parsed
        if run is None and parse:
            run = self._decode(run_id, data)
        with self._cache_lock:
            self._remember(run_id, (key, data, revision, run))
        return data, revision, run

    def _remember(self, run_id: str, entry: tuple[_FileKey, bytes, int, RunState | None]) -> None:
        """Cache ``entry`` (caller holds ``_cache_lock``), evicting the least recently used runs."""
        self._cache[run_id] = entry
        self._cache.move_to_end(run_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def load(self, run_id: str) -> RunState | None:
        """A fresh copy of the stored run, or None when there is no file.

        Raises:
            CorruptRunError (ValueError): the file exists but cannot be decoded (names the run and file).
        """
        found = self._read(run_id)
        return None if found is None else self._fresh(run_id, found[0])

    def load_checkpoint(self, run_id: str) -> Checkpoint | None:
        """A fresh copy of the stored run with its revision, or None."""
        found = self._read(run_id)
        return None if found is None else Checkpoint(self._fresh(run_id, found[0]), found[1])

    def current_revision(self, run_id: str) -> int | None:
        """The revision (content digest) of the stored run, or None."""
        found = self._read(run_id)
        return None if found is None else found[1]

    def _fresh(self, run_id: str, data: bytes) -> RunState:
        return self._decode(run_id, data)

    def _decode(self, run_id: str, data: bytes) -> RunState:
        path = self._path(run_id)
        run = decode_run(data, run_id=run_id, location=str(path))
        if run.run_id != run_id:
            raise CorruptRunError(
                f"{path} holds run {run.run_id!r}, not {run_id!r}", run_id=run_id, location=str(path)
            )
        return run

    # -- writing ---------------------------------------------------------------------------------
    def save(self, run: RunState) -> None:
        """Atomically replace the run's file.

        Raises:
            NotJsonSafeError: the run cannot be encoded; nothing is written.
        """
        data = encode_run(run).encode("utf-8")
        with self._locks.hold(run.run_id):
            self._write(run, data)

    def commit(
        self,
        run: RunState,
        records: Sequence[StepRecord],
        *,
        ledger_store: LedgerStore,
        expected_revision: int | None,
    ) -> int:
        """Under the run's lock: check the revision, append ``records``, then replace the run file.

        Raises:
            ConcurrencyError: the stored revision is not ``expected_revision``; nothing is written.
            NotJsonSafeError: the run cannot be encoded; nothing is written.
        """
        data = encode_run(run).encode("utf-8")
        with self._locks.hold(run.run_id):
            try:
                actual: int | None = _revision_of(self._path(run.run_id).read_bytes())
            except FileNotFoundError:
                actual = None
            if actual != expected_revision:
                raise ConcurrencyError(
                    run_id=run.run_id, expected_revision=expected_revision, actual_revision=actual
                )
            append_records(ledger_store, records)
            return self._write(run, data)

    def _write(self, run: RunState, data: bytes) -> int:
        path = self._path(run.run_id)
        atomic_write(path, data)
        revision = _revision_of(data)
        stat = path.stat()
        with self._cache_lock:
            # the parsed copy is made lazily from the bytes, so it never aliases the caller's object
            self._remember(run.run_id, ((stat.st_mtime_ns, stat.st_size, stat.st_ino), data, revision, None))
            if self._children is not None and run.parent_run_id:
                self._children.setdefault(run.parent_run_id, set()).add(run.run_id)
        return revision

    # -- queries ---------------------------------------------------------------------------------
    def _scan(self, blobs: dict[str, bytes]) -> Iterator[RunState]:
        """Every readable run (shared parsed copies), newest file first; each file's bytes go into
        ``blobs`` so callers can hand out fresh copies.  Unreadable files are logged and skipped."""
        entries = []
        with os.scandir(self._dir) as it:
            for entry in it:
                name = entry.name
                if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
                    try:
                        entries.append((entry.stat().st_mtime_ns, name[len(_PREFIX) : -len(_SUFFIX)]))
                    except FileNotFoundError:
                        continue
        entries.sort(reverse=True)
        for _, run_id in entries:
            try:
                found = self._read(run_id, parse=True)
            except (CorruptRunError, OSError):
                _log.error("skipping unreadable run file for run %s in %s", run_id, self._dir, exc_info=True)
                continue
            if found is not None and found[2] is not None:
                blobs[run_id] = found[0]
                yield found[2]

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        wait_reason: WaitReason | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[RunState]:
        """Matching runs, newest ``updated_at`` first (files scanned newest first, stopping at ``limit``)."""
        found: builtins.list[RunState] = []
        blobs: dict[str, bytes] = {}
        for run in self._scan(blobs):
            if len(found) >= limit:
                break
            if matches(run, status=status, wait_reason=wait_reason, workflow_id=workflow_id):
                found.append(run)
        return [self._fresh(r.run_id, blobs[r.run_id]) for r in newest_first(found)]

    def list_due_wait_until(self, *, now_iso: str, limit: int = 100) -> builtins.list[RunState]:
        """WAITING+UNTIL runs due at ``now_iso``, earliest deadline first (scans every run file)."""
        blobs: dict[str, bytes] = {}
        waiting = (r for r in self._scan(blobs) if r.status == RunStatus.WAITING)
        return [
            self._fresh(r.run_id, blobs[r.run_id]) for r in due_until(waiting, now_iso=now_iso, limit=limit)
        ]

    def list_children(
        self, *, parent_run_id: str, status: RunStatus | None = None
    ) -> builtins.list[RunState]:
        """Children of ``parent_run_id`` ordered by ``created_at`` then ``run_id``."""
        if self._children is None:
            index: dict[str, set[str]] = {}
            for run in self._scan({}):
                if run.parent_run_id:
                    index.setdefault(run.parent_run_id, set()).add(run.run_id)
            with self._cache_lock:
                self._children = index
        with self._cache_lock:
            ids = builtins.list(self._children.get(parent_run_id, ()))
        kids = [k for k in (self.load(i) for i in ids) if k is not None and matches(k, status=status)]
        return sorted(kids, key=lambda r: (r.created_at, r.run_id))

    def list_run_index(
        self,
        *,
        status: RunStatus | None = None,
        workflow_id: str | None = None,
        session_id: str | None = None,
        root_only: bool = False,
        limit: int = 100,
    ) -> builtins.list[dict[str, Any]]:
        """Light rows (SPEC §7.1) of matching runs, newest ``updated_at`` first."""
        found = [
            r
            for r in self._scan({})
            if matches(r, status=status, workflow_id=workflow_id, session_id=session_id, root_only=root_only)
        ]
        return [index_row(r) for r in newest_first(found)[: max(limit, 0)]]
