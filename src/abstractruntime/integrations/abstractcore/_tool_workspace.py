"""The run's workspace policy (SPEC §11.4) applied to the path arguments of file tools.

The policy lives in host-owned vars (``workspace_root``, ``workspace_access_mode``,
``workspace_allowed_paths``, ``workspace_ignored_paths``; see :mod:`abstractruntime.core.host_vars`) and is
the same one the VisualFlow file nodes obey: :func:`~abstractruntime.visualflow_compiler.nodes.workspace.
policy_from_vars` builds it and :meth:`WorkspacePolicy.resolve` checks a path.  Here it is applied to the
calls of a TOOL_CALLS batch before any of them runs:

* only calls to the file tools in :data:`FILE_TOOLS` are checked; their arguments are flattened the way
  the executor flattens them (a nested ``arguments`` object is merged in), and those whose name is a
  path name (:data:`PATH_ARGUMENTS`, compared without case, ``_``, ``-`` and spaces) are checked, a list of
  paths entry by entry.  A file tool's own path parameters must use one of these names;
* a refused path blocks the call (an error result; the call never reaches the executor);
* an accepted path is rewritten to its resolved absolute path, so tools that work relative to the process
  directory touch exactly the file that was checked (relative paths are relative to ``workspace_root``);
* directory tools (:data:`DIRECTORY_TOOLS`) may name the workspace root itself (``"."`` or nothing);
* an absolute path under the root is accepted in every mode (SPEC §11.4), as the path below the root.

A run without ``workspace_root`` has no workspace policy and its calls are not checked.  An invalid
``workspace_access_mode`` raises ``WorkspaceError`` (a ``ValueError``), which fails the effect.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import Any

from ...visualflow_compiler.nodes.workspace import WorkspaceError, WorkspacePolicy, policy_from_vars
from ._tool_args import DIRECTORY_SYNONYMS, PATH_SYNONYMS, flatten_arguments, normalize_key, parse_arguments

__all__ = [
    "DIRECTORY_TOOLS",
    "FILE_TOOLS",
    "PATH_ARGUMENTS",
    "WorkspaceError",
    "confine_call",
    "resolve_tool_path",
    "run_policy",
]

FILE_TOOLS: frozenset[str] = frozenset(
    {
        "list_files",
        "skim_folders",
        "search_files",
        "analyze_code",
        "skim_files",
        "read_file",
        "write_file",
        "edit_file",
    }
)
"""Tools whose path arguments the workspace policy confines."""

WRITE_TOOLS: frozenset[str] = frozenset({"write_file", "edit_file"})
"""File tools that write (refused in a ``read_only`` workspace)."""

DIRECTORY_TOOLS: frozenset[str] = frozenset({"list_files", "skim_folders", "search_files", "analyze_code"})
"""File tools that take a directory, which may be the workspace root itself."""

PATH_ARGUMENTS: frozenset[str] = frozenset(
    {*PATH_SYNONYMS, *DIRECTORY_SYNONYMS, "paths", "filepaths", "filenames", "files", "directories", "dirs"}
)
"""Normalized argument names holding a path (or a list of paths): every name the executor's argument
canonicalization maps onto a path or directory parameter, so no synonym slips past the check."""


def run_policy(vars: dict[str, Any]) -> WorkspacePolicy | None:
    """The run's workspace policy, or None when ``workspace_root`` is not set.

    Raises:
        WorkspaceError: the policy is invalid (unknown ``workspace_access_mode``).
    """
    root = vars.get("workspace_root")
    if not isinstance(root, str) or not root.strip():
        return None
    return policy_from_vars(vars)


def resolve_tool_path(policy: WorkspacePolicy, value: Any, *, write: bool, directory: bool = False) -> str:
    """The checked, resolved absolute path of a tool's path argument ``value``.

    An absolute path lexically under the workspace root is taken relative to it (SPEC §11.4: absolute
    paths must stay under the root); ``directory`` lets ``"."`` (or nothing) name the root itself.

    Raises:
        WorkspaceError: the policy refuses the path.
    """
    if isinstance(value, str):
        pure = PurePath(value.strip() or ".")
        if pure.is_absolute() and ".." not in pure.parts:
            if pure == PurePath(policy.root):
                pure = PurePath(".")
            elif PurePath(policy.root) in pure.parents:
                pure = pure.relative_to(policy.root)
            value = str(pure)
        inside = ".." not in pure.parts and not pure.is_absolute()
        if directory and inside and Path(os.path.realpath(policy.root / pure)) == policy.root:
            return str(policy.root)
    return str(policy.resolve(value, write=write))


def confine_call(policy: WorkspacePolicy, call: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """``(call with checked, absolute paths, None)`` or ``(call, refusal message)``.

    Calls to tools outside :data:`FILE_TOOLS` are returned unchanged.
    """
    name = call.get("name")
    if not isinstance(name, str) or name not in FILE_TOOLS:
        return call, None
    arguments = flatten_arguments(parse_arguments(call.get("arguments")))
    write = name in WRITE_TOOLS
    directory = name in DIRECTORY_TOOLS
    checked: dict[str, Any] = {}
    try:
        if write and not policy.writable:
            raise WorkspaceError(f"workspace is read-only (workspace_access_mode={policy.mode!r})")
        for key, value in arguments.items():
            if normalize_key(str(key)) not in PATH_ARGUMENTS:
                checked[key] = value
            elif isinstance(value, list):
                checked[key] = [resolve_tool_path(policy, v, write=write, directory=directory) for v in value]
            else:
                checked[key] = resolve_tool_path(policy, value, write=write, directory=directory)
    except WorkspaceError as exc:
        return call, f"Workspace policy refused {name}: {exc}"
    out = dict(call)
    out["arguments"] = checked
    return out, None
