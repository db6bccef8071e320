"""File primitives for the file backends: atomic replace, durable append, and run-scoped locks.

* :func:`atomic_write` — write to a temp file in the same directory, fsync it, ``os.replace`` it over
  the target, fsync the directory: readers see the old or the new content, never a mix, and the new
  content survives power loss once the call returns.
* :func:`durable_append` — append whole lines under an exclusive ``flock``; a torn tail left by a crash
  mid-append (bytes after the last newline) is cut off first, so it never merges with a new line.
* :class:`RunLocks` — exclusive per-run locks valid across threads *and* processes: a striped thread
  lock plus a POSIX record lock on one byte of a shared lock file (offset derived from the run id);
  every ``RunLocks`` on one file in a process shares the stripes and the descriptor.
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX platforms get in-process locking only
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLocks", "atomic_write", "durable_append", "fsync_dir", "remove_stale_temp_files"]

_STRIPES = 256
_LOCK_SPAN = 1 << 30


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry change (create, rename) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (temp file, fsync, rename, dir fsync)."""
    tmp = path.with_name(f"{path.name}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def remove_stale_temp_files(directory: Path, pattern: str, *, older_than_s: float = 300.0) -> int:
    """Delete temp files matching ``pattern`` left by writers killed before their rename.

    Only files older than ``older_than_s`` seconds go, so a live writer's temp file is never touched.
    Returns how many were removed.
    """
    cutoff = time.time() - older_than_s
    removed = 0
    for candidate in directory.glob(pattern):
        try:
            if candidate.stat().st_mtime < cutoff:
                candidate.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def durable_append(path: Path, data: bytes | Callable[[bytes | None], bytes]) -> None:
    """Append ``data`` (one or more complete ``\\n``-terminated lines) to ``path`` and fsync.

    Holds an exclusive ``flock`` on the file while it repairs a torn tail and writes, so concurrent
    appenders in other processes never interleave.  ``data`` may be a function of the file's last
    complete line (None for an empty file), called under the lock: hash chaining uses it.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        _cut_torn_tail(fd)
        if callable(data):
            data = data(_last_line(fd))
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the flock


def _last_line(fd: int) -> bytes | None:
    """The last complete line of the file (without its newline), or None when the file is empty."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    window = min(size, 1 << 16)
    while True:
        chunk = os.pread(fd, window, size - window)
        start = chunk.rfind(b"\n", 0, len(chunk) - 1)
        if start >= 0 or window == size:
            return chunk[start + 1 : -1]
        window = min(size, window * 4)


def _cut_torn_tail(fd: int) -> None:
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    window = min(size, 1 << 20)
    while True:
        chunk = os.pread(fd, window, size - window)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, size - window + cut + 1)
            return
        if window == size:
            os.ftruncate(fd, 0)
            return
        window = min(size, window * 4)


class _LockFile:
    """The state every :class:`RunLocks` on one lock file shares in this process: the stripe locks and
    one descriptor.  POSIX record locks belong to the process (any descriptor of the file closing drops
    them all), so two store objects on one directory must share both to exclude each other."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stripes = [threading.Lock() for _ in range(_STRIPES)]
        self.fd: int | None = None
        self.pid = 0
        self.users = 0
        self.open_lock = threading.Lock()

    def descriptor(self) -> int:
        with self.open_lock:
            if self.fd is None or self.pid != os.getpid():
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                self.pid = os.getpid()
            return self.fd

    def close(self) -> None:
        with self.open_lock:
            if self.fd is not None and self.pid == os.getpid():
                os.close(self.fd)
            self.fd = None


_LOCK_FILES: dict[Path, _LockFile] = {}
_LOCK_FILES_GUARD = threading.Lock()


class RunLocks:
    """Exclusive locks per run id, shared by every thread and process using ``lock_path``.

    Two different runs may occasionally share a stripe (they then wait for each other briefly); the
    same run always maps to the same stripe and the same byte of the lock file.  Every ``RunLocks`` on
    the same file in one process shares its stripes and descriptor (see :class:`_LockFile`).
    """

    def __init__(self, lock_path: Path) -> None:
        self._path = Path(os.path.abspath(lock_path))
        self._shared: _LockFile | None = None
        self._guard = threading.Lock()

    def _lock_file(self) -> _LockFile:
        with self._guard:
            if self._shared is None:
                with _LOCK_FILES_GUARD:
                    shared = _LOCK_FILES.get(self._path)
                    if shared is None:
                        shared = _LOCK_FILES[self._path] = _LockFile(self._path)
                    shared.users += 1
                self._shared = shared
            return self._shared

    @contextmanager
    def hold(self, run_id: str) -> Iterator[None]:
        """Hold the lock of ``run_id`` for the duration of the block."""
        digest = zlib.crc32(run_id.encode("utf-8"))
        shared = self._lock_file()
        with shared.stripes[digest % _STRIPES]:
            if fcntl is None:
                yield
                return
            fd = shared.descriptor()
            offset = digest % _LOCK_SPAN
            fcntl.lockf(fd, fcntl.LOCK_EX, 1, offset)
            try:
                yield
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)

    def close(self) -> None:
        """Stop using the lock file; its descriptor closes when the last user in this process closes
        (the locks reopen it if used again)."""
        with self._guard:
            shared, self._shared = self._shared, None
        if shared is None:
            return
        with _LOCK_FILES_GUARD:
            shared.users -= 1
            if shared.users > 0:
                return
            if _LOCK_FILES.get(self._path) is shared:
                del _LOCK_FILES[self._path]
        shared.close()
