"""Atomic extraction of a bundle zip, used by :func:`~.packer.unpack_workflow_bundle`.

A bundle is untrusted input, so extraction either completes or leaves nothing behind:

1. every member is validated from the zip headers first (:func:`._safety.checked_zip_members`: safe
   names, no symlink or special file, no file/directory clash, size limits);
2. the members are streamed, with the size limits enforced again and the CRC checked, into a **staging
   directory created beside the target** (``.<name>.<random>.unpack`` in the same parent, so on the
   same filesystem); missing parent directories of the target are created and remembered;
3. the staging directory is **renamed into place** when the target does not exist or is an empty
   directory: one atomic ``rename``.  When the target is a non-empty directory, the files are merged in:
   every target path is checked first (no symlinked sub-directory, no file where a directory is needed,
   no directory or symlink where a file goes), then each file is renamed over its target.

Any failure (CRC mismatch, truncated member, name clash, target that exists as a file, I/O error)
removes the staging directory and the parent directories this call created, and raises
:class:`WorkflowBundleError`.  Only an OS failure between two renames of a *merge* into an existing
non-empty directory can leave that merge partial; each file is still complete.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import stat
import zipfile
from pathlib import Path

from ._errors import WorkflowBundleError
from ._safety import bundle_errors, checked_zip_members, stream_zip_member

__all__ = ["unpack_zip_atomically"]

_log = logging.getLogger("abstractruntime.workflow_bundle")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def unpack_zip_atomically(src: Path, out_dir: Path) -> None:
    """Extract the bundle zip ``src`` into ``out_dir`` all at once (see the module docstring).

    Raises:
        WorkflowBundleError: unsafe or corrupt member, name clash, ``out_dir`` exists and is not a
            directory, or the extraction failed; nothing is left behind.
    """
    dest = Path(os.path.abspath(out_dir))
    if dest.is_symlink():  # the host named a link to its output directory: use what it points to
        dest = dest.resolve()
    created = _make_parents(dest.parent)
    stage: Path | None = None
    try:
        if os.path.lexists(dest) and not dest.is_dir():
            raise WorkflowBundleError(f"output path exists and is not a directory: {dest}")
        stage = _make_stage(dest)
        _extract_all(src, stage)
        _commit(stage, dest)
    except BaseException:
        if stage is not None and os.path.lexists(stage):
            _remove_tree(stage)
        _remove_created(created)
        raise
    if os.path.lexists(stage):  # what a merge left: the emptied staging directories
        _remove_tree(stage)


def _make_parents(parent: Path) -> list[Path]:
    """Create the missing ancestors of the target; return those created, outermost first."""
    missing: list[Path] = []
    probe = parent
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    created: list[Path] = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs, not ours to remove
        except OSError as exc:
            _remove_created(created)
            raise WorkflowBundleError(f"cannot create the output directory {parent}: {exc}") from exc
        created.append(directory)
    return created


def _remove_created(created: list[Path]) -> None:
    """Remove the directories :func:`_make_parents` created, innermost first, while they are empty."""
    for directory in reversed(created):
        try:
            os.rmdir(directory)
        except OSError as exc:
            _log.warning("could not remove %s after a failed unpack: %s", directory, exc)
            return


def _remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except OSError as exc:
        _log.warning("could not remove the staging directory %s: %s", path, exc)


def _make_stage(dest: Path) -> Path:
    """Create an empty staging directory beside ``dest`` (mode from the umask, like ``mkdir``)."""
    for _ in range(100):
        stage = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.unpack"
        try:
            os.mkdir(stage)
        except FileExistsError:
            continue
        except OSError as exc:
            raise WorkflowBundleError(f"cannot create a staging directory beside {dest}: {exc}") from exc
        return stage
    raise WorkflowBundleError(f"cannot create a staging directory beside {dest}")


def _extract_all(src: Path, stage: Path) -> None:
    """Stream every member of ``src`` into ``stage`` (validated, size-limited, CRC-checked)."""
    with bundle_errors(f"not a valid bundle zip: {src}"), zipfile.ZipFile(src, "r") as zf:
        members = checked_zip_members(zf)
        for name, info in members.items():
            parts = name.split("/")
            try:
                directory = stage
                for part in parts[:-1]:
                    directory = directory / part
                    if not directory.is_dir():
                        os.mkdir(directory)
                _write_member(zf, info, directory / parts[-1])
            except OSError as exc:
                raise WorkflowBundleError(f"cannot unpack bundle member {name!r}: {exc}") from exc


def _write_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as fh:
        for chunk in stream_zip_member(zf, info):
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())


def _staged_files(stage: Path) -> list[str]:
    """The relative POSIX paths of the regular files under ``stage``, sorted."""
    out: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(stage):
        rel = Path(dirpath).relative_to(stage)
        out.extend((rel / f).as_posix() for f in filenames)
    return sorted(out)


def _commit(stage: Path, dest: Path) -> None:
    """Move the complete staging directory into place (rename, or a checked merge)."""
    try:
        if not os.path.lexists(dest) or _is_empty_dir(dest):
            try:
                os.rename(stage, dest)
            except OSError:
                if not dest.is_dir():  # not a lost race with someone filling ``dest``
                    raise
            else:
                _fsync_dir(dest.parent)
                return
        plan = _merge_plan(stage, dest)
        for rel in plan:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / rel, target)
        for directory in {(dest / rel).parent for rel in plan}:
            _fsync_dir(directory)
    except OSError as exc:
        raise WorkflowBundleError(f"cannot move the unpacked bundle into {dest}: {exc}") from exc


def _is_empty_dir(path: Path) -> bool:
    with os.scandir(path) as entries:
        return next(entries, None) is None


def _merge_plan(stage: Path, dest: Path) -> list[str]:
    """Check every file's target in the existing ``dest`` before anything moves; return the files.

    Raises:
        WorkflowBundleError: a sub-directory on the way is a symlink (it would escape ``dest``) or a
            file, or the target itself is a directory or a symlink.
    """
    plan = _staged_files(stage)
    for rel in plan:
        path = dest
        for part in rel.split("/")[:-1]:
            path = path / part
            mode = _lmode(path)
            if mode is None:
                break
            if stat.S_ISLNK(mode):
                raise WorkflowBundleError(f"bundle member {rel!r} escapes the output directory via {path}")
            if not stat.S_ISDIR(mode):
                raise WorkflowBundleError(f"bundle member {rel!r} clashes with the existing file {path}")
        else:
            mode = _lmode(dest / rel)
            if mode is not None and not stat.S_ISREG(mode):
                raise WorkflowBundleError(
                    f"bundle member {rel!r} clashes with {dest / rel}, which is not a regular file"
                )
    return plan


def _lmode(path: Path) -> int | None:
    """``st_mode`` of ``path`` without following a final symlink, or None when it does not exist."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # platforms that cannot open a directory
    try:
        os.fsync(fd)
    except OSError as exc:
        _log.debug("fsync of %s failed: %s", directory, exc)
    finally:
        os.close(fd)
