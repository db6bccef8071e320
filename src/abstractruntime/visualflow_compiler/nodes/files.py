"""File nodes: ``read_file`` and ``write_file``, confined to the run's workspace (see ``workspace``).

``write_file`` (pins ``file_path``, ``content``; optional ``format``) writes a string as text and any other
JSON value as pretty-printed JSON (``format: "json"`` forces JSON, ``"text"`` forces ``str()``), atomically:
a temp file in the target directory, fsync, then rename over the target.  Outputs ``bytes``, ``file_path``
(relative to the root when under it), ``ok``.

Both nodes check the path with the workspace policy, then open it without following any symlink (an
``openat``-style walk from the workspace root, see :mod:`.confined_fs`), so a symlink swapped in after the
check cannot lead the read or the write out of the workspace.

``read_file`` (pins ``file_path``; optional ``format`` = ``auto``/``text``/``json``, ``max_bytes``) outputs
``content`` (text), ``data`` (the parsed JSON for ``json``, or ``auto`` with a ``.json`` file, else None),
``bytes``, ``file_path``, ``ok``.

Any refusal (no ``workspace_root``, escapes, read-only workspace, missing file) is a node error: the run
completes with ``success: False`` and ``_flow_error``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ...core.models import StepPlan
from .confined_fs import read_confined, write_confined
from .env import ExecEnv, Runner
from .workspace import WorkspaceError, WorkspacePolicy, policy_from_vars

__all__ = ["FILE_RUNNERS", "atomic_write"]

_DEFAULT_MAX_BYTES = 10 * 1024 * 1024


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory, fsync'd, then renamed.

    A path-based helper for host-chosen paths; the file nodes use :func:`.confined_fs.write_confined`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        dir_fd = os.open(str(path.parent), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _display(policy: WorkspacePolicy, path: Path) -> str:
    try:
        return path.relative_to(policy.root).as_posix()
    except ValueError:
        return str(path)


def _encode(content: Any, fmt: str) -> bytes:
    if fmt == "json" or (fmt != "text" and not isinstance(content, str)):
        if fmt != "json" and content is None:
            return b""
        return (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return (content if isinstance(content, str) else str(content)).encode("utf-8")


def _format(inputs: dict[str, Any]) -> str:
    value = inputs.get("format")
    return value.strip().lower() if isinstance(value, str) and value.strip() else "auto"


def _write_file(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    fmt = _format(inputs)
    if fmt not in ("auto", "text", "json"):
        return env.fail(f"write_file: unknown format {fmt!r} (auto, text or json)")
    try:
        policy = policy_from_vars(env.vars)
        path = policy.resolve(inputs.get("file_path"), write=True)
        data = _encode(inputs.get("content"), fmt)
        write_confined(policy, path, data)
    except (WorkspaceError, OSError, TypeError, ValueError) as exc:
        return env.fail(f"write_file: {exc}")
    return env.go("exec-out", {"bytes": len(data), "file_path": _display(policy, path), "ok": True})


def _max_bytes(value: Any) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return int(value)
    return _DEFAULT_MAX_BYTES


def _read_file(env: ExecEnv) -> StepPlan:
    inputs = env.inputs()
    fmt = _format(inputs)
    if fmt not in ("auto", "text", "json"):
        return env.fail(f"read_file: unknown format {fmt!r} (auto, text or json)")
    try:
        policy = policy_from_vars(env.vars)
        path = policy.resolve(inputs.get("file_path"), write=False)
        raw = read_confined(policy, path, limit=_max_bytes(inputs.get("max_bytes")))
        text = raw.decode("utf-8")
        parse = fmt == "json" or (fmt == "auto" and path.suffix.lower() == ".json")
        data = json.loads(text) if parse else None
    except (WorkspaceError, OSError, UnicodeDecodeError, ValueError) as exc:
        return env.fail(f"read_file: {exc}")
    outputs = {
        "content": text,
        "data": data,
        "bytes": len(raw),
        "file_path": _display(policy, path),
        "ok": True,
    }
    return env.go("exec-out", outputs)


FILE_RUNNERS: dict[str, Runner] = {"read_file": _read_file, "write_file": _write_file}
