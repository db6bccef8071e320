"""Symlink-proof reads and writes for the file nodes, at the path the workspace policy approved.

:meth:`WorkspacePolicy.resolve <.workspace.WorkspacePolicy.resolve>` checks a *resolved* path (no symlink
left in it).  Something running at the same time — another process, another run, a code node — could swap a
directory or the file on that path for a symlink after the check and before the open, and a plain
``open(path)`` would follow it out of the workspace.  So the open never follows a symlink:

* the walk starts from a trusted **anchor** directory — the workspace root when the path is under it, else
  the ``workspace_allowed_paths`` entry that holds it, else the filesystem root (``all_except_ignored``) —
  opened with ``O_DIRECTORY | O_NOFOLLOW``;
* every further directory component is opened relative to the previous one's descriptor (``dir_fd``, an
  ``openat`` walk) with ``O_DIRECTORY | O_NOFOLLOW``; a write creates missing ones with ``mkdir`` relative to
  the descriptor;
* a read opens the final component with ``O_NOFOLLOW | O_NONBLOCK`` and checks with ``fstat`` that it is a
  regular file (no FIFO, device or directory) before reading at most ``limit`` bytes;
* a write goes to a temp file created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` in the held directory, is
  fsynced, then renamed over the final name relative to the same descriptor (``rename`` replaces a symlink
  itself, it never writes through it), and the directory is fsynced.

A component that turned into a symlink (or a non-directory) makes the node fail with
:class:`~.workspace.WorkspaceError`; nothing is read or written outside the approved path.  Platforms
without ``dir_fd``/``O_NOFOLLOW`` support (Windows) fall back to path-based I/O.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from .workspace import WorkspaceError, WorkspacePolicy

__all__ = ["read_confined", "write_confined"]

_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
# os.replace takes dir_fd arguments wherever os.rename does (it is not listed in supports_dir_fd itself)
_SUPPORTED = bool(_NOFOLLOW and _DIRECTORY) and {os.open, os.mkdir, os.rename, os.stat, os.unlink} <= (
    os.supports_dir_fd
)
_CHUNK = 1 << 16


def _anchor(policy: WorkspacePolicy, path: Path) -> tuple[Path, list[str]]:
    """The trusted directory to walk from and the components of ``path`` below it."""
    bases = [policy.root, *sorted(policy.allowed, key=lambda p: len(p.parts), reverse=True)]
    for base in bases:
        if path != base and base in path.parents:
            return base, list(path.relative_to(base).parts)
    top = Path(path.anchor)
    return top, list(path.relative_to(top).parts)


def _swapped(path: Path, component: str) -> WorkspaceError:
    return WorkspaceError(
        f"file_path {str(path)!r}: {component!r} is a symlink or not a directory (changed after the policy check)"
    )


@contextmanager
def _open_parent(policy: WorkspacePolicy, path: Path, *, create: bool) -> Iterator[tuple[int, str]]:
    """Yield ``(fd of path's directory, final name)``, reached without following any symlink."""
    anchor, parts = _anchor(policy, path)
    if not parts:
        raise WorkspaceError(f"file_path {str(path)!r} names a directory")
    fd = os.open(anchor, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    try:
        for part in parts[:-1]:
            if create:
                with suppress(FileExistsError):  # an existing entry: the O_NOFOLLOW open decides
                    os.mkdir(part, 0o777, dir_fd=fd)
            try:
                child = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _swapped(path, part) from exc
                raise
            os.close(fd)
            fd = child
        yield fd, parts[-1]
    finally:
        os.close(fd)


def read_confined(policy: WorkspacePolicy, path: Path, *, limit: int) -> bytes:
    """Read the regular file at the policy-approved ``path`` (at most ``limit`` bytes), never via a symlink.

    Raises:
        WorkspaceError: the file is missing, not a regular file, a symlink, larger than ``limit``, or a
            directory on the way became a symlink.
        OSError: another I/O failure.
    """
    if not _SUPPORTED:
        return _read_by_path(path, limit)
    with _open_parent(policy, path, create=False) as (dir_fd, name):
        try:
            fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError as exc:
            raise WorkspaceError(f"file_path {str(path)!r} does not exist or is not a file") from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise WorkspaceError(f"file_path {str(path)!r} is a symlink (refused)") from exc
            raise
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise WorkspaceError(f"file_path {str(path)!r} does not exist or is not a file")
            if info.st_size > limit:
                raise WorkspaceError(f"file is larger than max_bytes ({limit})")
            data = handle.read(limit + 1)
    if len(data) > limit:
        raise WorkspaceError(f"file is larger than max_bytes ({limit})")
    return data


def write_confined(policy: WorkspacePolicy, path: Path, data: bytes) -> None:
    """Atomically replace the file at the policy-approved ``path`` with ``data``, never via a symlink.

    Missing directories are created.  Raises:
        WorkspaceError: ``path`` is a directory, or a directory on the way is (or became) a symlink.
        OSError: another I/O failure (nothing is left behind: the temp file is removed).
    """
    if not _SUPPORTED:
        _write_by_path(path, data)
        return
    with _open_parent(policy, path, create=True) as (dir_fd, name):
        try:
            existing = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise WorkspaceError(f"file_path {str(path)!r} is a directory")
        tmp = f".{name[:180]}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            _unlink_quietly(tmp, dir_fd)
            raise
        os.fsync(dir_fd)


def _unlink_quietly(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return


def _read_by_path(path: Path, limit: int) -> bytes:  # pragma: no cover - platforms without dir_fd
    if not path.is_file():
        raise WorkspaceError(f"file_path {str(path)!r} does not exist or is not a file")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise WorkspaceError(f"file is larger than max_bytes ({limit})")
    return data


def _write_by_path(path: Path, data: bytes) -> None:  # pragma: no cover - platforms without dir_fd
    if path.is_dir():
        raise WorkspaceError(f"file_path {str(path)!r} is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name[:180]}.{secrets.token_hex(6)}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
