"""``JsonFileLeaseStore``: one ``lease_<run_id>.json`` file per leased run (see ``leases.py``).

Every change (the shared rules of ``LeaseRules``) happens under the run's lock in ``<base_dir>/.leases.lock`` (the per-run lock of
``_files.RunLocks``, valid across threads and processes): read the file, apply the lease rule, replace
the file atomically.  That makes an acquire a compare-and-set between processes.  The directory may be
shared with ``JsonFileRunStore`` and ``JsonlLedgerStore``; their file names never collide.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ..errors import CorruptRunError
from ._files import RunLocks, atomic_write, remove_stale_temp_files
from .leases import LeaseRules, LeaseSlot, RunLease

__all__ = ["JsonFileLeaseStore"]

_log = logging.getLogger("abstractruntime.storage.json_files")
_PREFIX, _SUFFIX = "lease_", ".json"


class JsonFileLeaseStore(LeaseRules):
    """Run leases as ``<base_dir>/lease_<run_id>.json`` files (a ``RunLeaseStore``).

    Args:
        base_dir: the directory (created when missing).
    """

    def __init__(self, base_dir: str | os.PathLike[str]) -> None:
        self._dir = Path(base_dir).expanduser().resolve()
        self._dir.mkdir(parents=True, exist_ok=True)
        self._locks = RunLocks(self._dir / ".leases.lock")
        remove_stale_temp_files(self._dir, f"{_PREFIX}*{_SUFFIX}.*.tmp")

    def close(self) -> None:
        """Release the lock file descriptor (reopened if the store is used again)."""
        self._locks.close()

    def _path(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or "\\" in run_id or run_id in (".", ".."):
            raise CorruptRunError(f"invalid run id for a file name: {run_id!r}", run_id=run_id)
        return self._dir / f"{_PREFIX}{run_id}{_SUFFIX}"

    def _read(self, path: Path) -> RunLease | None:
        """The row in ``path``; None when missing, or unreadable (logged: an unreadable lease holds
        nothing, so the run stays recoverable)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return RunLease.from_dict(json.loads(data))
        except (ValueError, KeyError, TypeError):
            _log.error("unreadable lease file %s ignored", path, exc_info=True)
            return None

    def _write(self, path: Path, lease: RunLease | None) -> None:
        if lease is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write(path, json.dumps(lease.to_dict(), separators=(",", ":")).encode("utf-8"))

    @contextmanager
    def _slot(self, run_id: str) -> Iterator[LeaseSlot]:
        path = self._path(run_id)
        with self._locks.hold(run_id):
            yield LeaseSlot(self._read(path), lambda lease: self._write(path, lease))

    def get_lease(self, run_id: str) -> RunLease | None:
        """The row of ``run_id``, or None."""
        return self._read(self._path(run_id))

    def list_expired_leases(self, *, now: datetime, limit: int = 100) -> builtins.list[RunLease]:
        """Rows not live at ``now``, earliest expiry first (released rows first); scans the files."""
        rows: builtins.list[RunLease] = []
        with os.scandir(self._dir) as entries:
            for entry in entries:
                if entry.name.startswith(_PREFIX) and entry.name.endswith(_SUFFIX):
                    lease = self._read(Path(entry.path))
                    if lease is not None and not lease.is_live(now):
                        rows.append(lease)
        rows.sort(key=lambda r: (r.expires_at or "", r.run_id))
        return rows[: max(limit, 0)]
