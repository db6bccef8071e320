"""Workspace confinement for the file nodes (SPEC §11.4 policy vars, applied to ``read_file``/``write_file``).

The run's vars decide where a file node may touch the disk:

- ``workspace_root`` (required): the base of every relative path.  Unset or blank → the node fails.  A
  relative root is resolved against env ``ABSTRACT_WORKSPACE_BASE_DIR`` (or ``ABSTRACTFLOW_WORKSPACE_BASE_DIR``),
  else the current directory.
- ``workspace_access_mode``: ``workspace_only`` (default) keeps every path under the root;
  ``workspace_or_allowed`` also admits absolute paths under ``workspace_allowed_paths``;
  ``all_except_ignored`` admits any absolute path not under ``workspace_ignored_paths``.  ``read_only``
  behaves like ``workspace_only`` and refuses writes; ``read_write`` is an alias of ``workspace_only``.
  Any other value is refused.
- ``workspace_ignored_paths``: a denylist honoured in every mode (relative entries are under the root).

Absolute paths are refused in ``workspace_only``/``read_only``/``read_write``; ``..`` segments are always
refused; the final path is resolved (symlinks followed) and must still satisfy the policy, so a symlink that
leaves the root is refused too.  The file nodes then open exactly that resolved path without following any
symlink (``confined_fs``), so a symlink swapped in after this check is refused as well.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from ...core.host_vars import WORKSPACE_MODES, resolve_workspace_path

__all__ = ["WorkspaceError", "WorkspacePolicy", "policy_from_vars"]


class WorkspaceError(ValueError):
    """A file node's path or access is refused by the workspace policy."""


def _path_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [str(v).strip() for v in value if isinstance(v, str) and v.strip()]


def _within(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


@dataclass(frozen=True)
class WorkspacePolicy:
    """A resolved workspace policy: the root, the mode and the allow/deny lists (all resolved paths)."""

    root: Path
    mode: str
    allowed: tuple[Path, ...]
    ignored: tuple[Path, ...]

    @property
    def writable(self) -> bool:
        return self.mode != "read_only"

    def resolve(self, raw_path: Any, *, write: bool) -> Path:
        """The resolved, policy-checked path of ``raw_path`` (raises ``WorkspaceError``)."""
        if write and not self.writable:
            raise WorkspaceError(f"workspace is read-only (workspace_access_mode={self.mode!r})")
        if not isinstance(raw_path, str) or not raw_path.strip():
            raise WorkspaceError("file_path is required")
        text = raw_path.strip()
        if "\x00" in text:
            raise WorkspaceError("file_path contains a NUL byte")
        pure = PurePath(text)
        if ".." in pure.parts:
            raise WorkspaceError(f"file_path {text!r} escapes the workspace ('..' is not allowed)")
        if pure.is_absolute() and self.mode not in ("workspace_or_allowed", "all_except_ignored"):
            raise WorkspaceError(f"file_path {text!r} is absolute; use a path relative to workspace_root")
        candidate = Path(text) if pure.is_absolute() else self.root / text
        try:
            resolved = Path(os.path.realpath(candidate))
        except OSError as exc:  # a component changed type while being resolved (a symlink swapped in/out)
            raise WorkspaceError(f"file_path {text!r} changed while it was being resolved: {exc}") from exc
        self._check(text, resolved)
        return resolved

    def _check(self, text: str, resolved: Path) -> None:
        for denied in self.ignored:
            if _within(resolved, denied):
                raise WorkspaceError(f"file_path {text!r} is in workspace_ignored_paths")
        if _within(resolved, self.root):
            if resolved == self.root:
                raise WorkspaceError(f"file_path {text!r} names the workspace root itself")
            return
        if self.mode == "all_except_ignored":
            return
        if self.mode == "workspace_or_allowed" and any(_within(resolved, a) for a in self.allowed):
            return
        raise WorkspaceError(f"file_path {text!r} resolves outside the workspace root")


def _resolve_root(value: str) -> Path:
    root = Path(resolve_workspace_path(value))
    root.mkdir(parents=True, exist_ok=True)
    return Path(os.path.realpath(root))


def policy_from_vars(vars: dict[str, Any]) -> WorkspacePolicy:
    """The workspace policy of a run (raises ``WorkspaceError`` when unset or invalid)."""
    root_value = vars.get("workspace_root")
    if not isinstance(root_value, str) or not root_value.strip():
        raise WorkspaceError("workspace_root is not set; file nodes need a workspace (vars.workspace_root)")
    raw_mode = vars.get("workspace_access_mode")
    mode = raw_mode.strip().lower() if isinstance(raw_mode, str) and raw_mode.strip() else "workspace_only"
    if mode not in WORKSPACE_MODES:
        raise WorkspaceError(
            f"invalid workspace_access_mode {raw_mode!r}; expected one of {sorted(WORKSPACE_MODES)}"
        )
    root = _resolve_root(root_value.strip())

    def resolve_all(entries: list[str]) -> tuple[Path, ...]:
        return tuple(Path(resolve_workspace_path(e, str(root))) for e in entries)

    return WorkspacePolicy(
        root=root,
        mode=mode,
        allowed=resolve_all(_path_list(vars.get("workspace_allowed_paths"))),
        ignored=resolve_all(_path_list(vars.get("workspace_ignored_paths"))),
    )
