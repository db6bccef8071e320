"""Path and zip-member safety checks shared by the bundle reader, packer and registry.

A WorkflowBundle is untrusted input: it may come from a download or a colleague.  Every path a
bundle names, and every member of a bundle zip, goes through the checks here before anything is read
or written:

* **paths** must be relative POSIX paths: no leading ``/`` or ``\\``, no backslash at all, no drive
  prefix (``C:``), no empty, ``.`` or ``..`` segments, no NUL byte;
* **symlinks** are refused: a zip entry whose Unix mode (the high 16 bits of ``external_attr``) marks a
  symbolic link, or any other non-regular file type, is rejected;
* **size**: a member may not exceed :data:`MAX_MEMBER_BYTES` uncompressed, the whole bundle may not
  exceed :data:`MAX_TOTAL_BYTES`, and a zip may not hold more than :data:`MAX_MEMBERS` entries.  Sizes
  are checked first from the zip headers and again while streaming the decompressed bytes, so a zip
  whose headers lie (a zip bomb) is refused before it can fill memory or disk;
* **clashes**: a name used both as a file and as a directory (``a`` and ``a/b``) is refused, since it
  cannot be unpacked;
* **hostile data**: whatever a malformed zip or manifest makes the standard library raise
  (``BadZipFile``, ``zlib.error``, ``EOFError``, ``UnicodeDecodeError``, ``RecursionError``, a
  ``ValueError`` for a 5,000-digit integer, a ``TypeError`` or ``KeyError`` for a wrong type...) is
  turned into :class:`WorkflowBundleError` by :func:`bundle_errors`, never a raw traceback.

The limits are module attributes read at call time, so a host (or a test) can lower them.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from ._errors import WorkflowBundleError

__all__ = [
    "MAX_MEMBERS",
    "MAX_MEMBER_BYTES",
    "MAX_TOTAL_BYTES",
    "HOSTILE_DATA_ERRORS",
    "bundle_errors",
    "check_every_member",
    "check_safe_relpath",
    "checked_zip_members",
    "read_zip_member",
    "stream_zip_member",
]

#: Largest uncompressed size of one bundle member (64 MiB).
MAX_MEMBER_BYTES: int = 64 * 1024 * 1024
#: Largest total uncompressed size of all members of one bundle (256 MiB).
MAX_TOTAL_BYTES: int = 256 * 1024 * 1024
#: Largest number of entries in one bundle zip.
MAX_MEMBERS: int = 10_000

_CHUNK = 64 * 1024
_DRIVE_RE = re.compile(r"^[A-Za-z]:")

#: What parsing a hostile zip or manifest can raise from the standard library (``zipfile``, ``zlib``,
#: ``json``, ``struct``) or from our own code given a value of the wrong type.
HOSTILE_DATA_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    EOFError,
    NotImplementedError,
    RecursionError,
    OverflowError,
    UnicodeError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
)

#: Reading a member can also raise ``RuntimeError`` (an encrypted member needs a password).
_READ_ERRORS: tuple[type[BaseException], ...] = (*HOSTILE_DATA_ERRORS, RuntimeError)


@contextmanager
def bundle_errors(what: str) -> Iterator[None]:
    """Turn :data:`HOSTILE_DATA_ERRORS` raised in the block into :class:`WorkflowBundleError`.

    ``what`` prefixes the message (for example ``"bundle /x/y.flow"``).  A
    :class:`WorkflowBundleError` raised in the block passes through unchanged.

    Raises:
        WorkflowBundleError: the block raised one of :data:`HOSTILE_DATA_ERRORS`.
    """
    try:
        yield
    except WorkflowBundleError:
        raise
    except HOSTILE_DATA_ERRORS as exc:
        detail = str(exc)[:200] or type(exc).__name__
        raise WorkflowBundleError(
            f"{what}: invalid or corrupt data ({type(exc).__name__}: {detail})"
        ) from exc


def check_safe_relpath(path: object, *, what: str = "path") -> str:
    """Return ``path`` unchanged when it is a safe relative POSIX path, else raise.

    Raises:
        WorkflowBundleError: the path is not a non-empty string, is absolute, has a drive prefix,
            contains a backslash or NUL, or has an empty, ``.`` or ``..`` segment.
    """
    if not isinstance(path, str) or not path:
        raise WorkflowBundleError(f"{what} must be a non-empty string, got {path!r}")
    if "\\" in path or "\x00" in path:
        raise WorkflowBundleError(f"{what} must not contain backslashes or NUL bytes: {path!r}")
    if path.startswith("/"):
        raise WorkflowBundleError(f"{what} must be relative: {path!r}")
    if _DRIVE_RE.match(path):
        raise WorkflowBundleError(f"{what} must not have a drive prefix: {path!r}")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise WorkflowBundleError(f"{what} has an empty, '.' or '..' segment: {path!r}")
    return path


def _member_kind(info: zipfile.ZipInfo) -> str:
    """Classify a zip entry as ``"dir"`` or ``"file"``; raise for links and special files."""
    mode = (info.external_attr >> 16) & 0xFFFF
    file_type = stat.S_IFMT(mode)
    if file_type == stat.S_IFLNK:
        raise WorkflowBundleError(f"bundle member is a symlink: {info.filename!r}")
    if info.is_dir():
        if file_type not in (0, stat.S_IFDIR):
            raise WorkflowBundleError(f"bundle member has an unsupported file type: {info.filename!r}")
        return "dir"
    if file_type not in (0, stat.S_IFREG):
        raise WorkflowBundleError(f"bundle member is not a regular file: {info.filename!r}")
    return "file"


def checked_zip_members(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Validate every entry of ``zf`` from its headers; return the regular files by name.

    Raises:
        WorkflowBundleError: an unsafe name, a duplicate name, a symlink or special file, too many
            entries, or a member / total size above the limits.
    """
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise WorkflowBundleError(f"bundle has {len(infos)} entries (limit {MAX_MEMBERS})")
    files: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        kind = _member_kind(info)
        name = info.filename.rstrip("/") if kind == "dir" else info.filename
        check_safe_relpath(name, what="bundle member name")
        if kind == "dir":
            continue
        if name in files:
            raise WorkflowBundleError(f"duplicate bundle member: {name!r}")
        if info.file_size > MAX_MEMBER_BYTES:
            raise WorkflowBundleError(
                f"bundle member {name!r} is {info.file_size} bytes (limit {MAX_MEMBER_BYTES})"
            )
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise WorkflowBundleError(f"bundle is larger than {MAX_TOTAL_BYTES} bytes uncompressed")
        files[name] = info
    _check_no_clash(files)
    return files


def _check_no_clash(files: dict[str, zipfile.ZipInfo]) -> None:
    """Refuse a name used as a file and as a directory (``a`` and ``a/b``): it cannot be unpacked."""
    for name in files:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix in files:
                raise WorkflowBundleError(
                    f"bundle member {prefix!r} is a file but {name!r} uses it as a directory"
                )


def stream_zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, *, limit: int | None = None
) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``info`` in chunks, enforcing the size limit as they arrive.

    ``limit`` defaults to :data:`MAX_MEMBER_BYTES`.  Corrupt data (bad CRC, broken deflate stream)
    is reported as :class:`WorkflowBundleError` too.
    """
    cap = MAX_MEMBER_BYTES if limit is None else min(limit, MAX_MEMBER_BYTES)
    seen = 0
    try:
        with zf.open(info, "r") as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                seen += len(chunk)
                if seen > cap:
                    raise WorkflowBundleError(f"bundle member {info.filename!r} exceeds {cap} bytes")
                yield chunk
    except WorkflowBundleError:
        raise
    except _READ_ERRORS as exc:
        raise WorkflowBundleError(f"cannot read bundle member {info.filename!r}: {exc}") from exc


def read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read one member fully through :func:`stream_zip_member`."""
    return b"".join(stream_zip_member(zf, info))


def check_every_member(path: str | os.PathLike[str]) -> None:
    """Decompress every member of the zip at ``path`` (limits enforced, CRC checked), keeping nothing.

    Raises:
        WorkflowBundleError: an unsafe, oversize, truncated or corrupt member, or not a zip.
    """
    with bundle_errors(f"not a valid bundle zip: {path}"), zipfile.ZipFile(path, "r") as zf:
        for info in checked_zip_members(zf).values():
            for _chunk in stream_zip_member(zf, info):
                pass
