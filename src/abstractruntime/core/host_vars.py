"""Host-owned vars: the parts of ``RunState.vars`` that untrusted flow content may read but never write.

A run's vars hold two kinds of data.  Most of it belongs to the workflow: its inputs, scratchpad, context and
temporaries.  A few keys belong to the host, because they decide what the run is *allowed* to do
(SPEC §5.2, §11.4):

- ``_runtime``: runtime metadata (how the CLI reloads the run's workflow, pause control, routing, traces);
- ``workspace_root``, ``workspace_access_mode``, ``workspace_allowed_paths``, ``workspace_ignored_paths``:
  the workspace policy that confines file access.

The host sets them when it starts a run (``Runtime.start(vars=...)``) and through the runtime's own API.
Flow files are untrusted input: the VisualFlow compiler checks every write it makes on a flow's behalf with
:func:`check_flow_write`, and :func:`child_workspace_vars` keeps a child run from getting a wider workspace
than its parent.  ``_limits`` stays writable by flows (real flows set ``_limits.max_iterations`` for their own
agents), except the run budget ``_limits.budget`` (``core/budget.py``), which the kernel enforces: a flow may
neither write it nor replace ``_limits`` as a whole.  Limits that protect the host (code-node CPU, memory,
wall time) live in host configuration, not vars.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import HostOwnedVarError

__all__ = [
    "HOST_OWNED_KEYS",
    "HOST_OWNED_PATHS",
    "WORKSPACE_KEYS",
    "WORKSPACE_MODES",
    "check_flow_write",
    "child_workspace_vars",
    "is_host_owned_path",
    "resolve_workspace_path",
]

WORKSPACE_KEYS: tuple[str, ...] = (
    "workspace_root",
    "workspace_access_mode",
    "workspace_allowed_paths",
    "workspace_ignored_paths",
)
"""The top-level vars of the workspace policy (SPEC §11.4), inherited by child runs (SPEC §4.10)."""

HOST_OWNED_KEYS: frozenset[str] = frozenset({"_runtime", *WORKSPACE_KEYS})
"""Top-level vars keys only the host writes."""

_MODE_RANK = {
    "read_only": 0,
    "workspace_only": 1,
    "read_write": 1,
    "workspace_or_allowed": 2,
    "all_except_ignored": 3,
}
WORKSPACE_MODES: frozenset[str] = frozenset(_MODE_RANK)
"""The accepted ``workspace_access_mode`` values (``read_write`` is an alias of ``workspace_only``)."""
_BASE_ENV = ("ABSTRACT_WORKSPACE_BASE_DIR", "ABSTRACTFLOW_WORKSPACE_BASE_DIR")


HOST_OWNED_PATHS: tuple[str, ...] = ("_limits.budget",)
"""Dotted vars paths below a flow-writable key that only the host writes (the run budget, ``core/budget.py``)."""


def is_host_owned_path(path: str) -> bool:
    """True when the dotted vars ``path`` (``"_runtime.cli_target"``, ``"workspace_root"``,
    ``"_limits.budget.max_llm_calls"``) is host-owned."""
    parts = [part.strip() for part in path.strip().split(".")]
    if parts[0] in HOST_OWNED_KEYS:
        return True
    dotted = ".".join(parts)
    return any(dotted == owned or dotted.startswith(owned + ".") for owned in HOST_OWNED_PATHS)


def _replaces_host_owned(path: str) -> bool:
    """True when writing ``path`` would replace a dict holding a host-owned path (``_limits`` as a whole)."""
    dotted = ".".join(part.strip() for part in path.strip().split("."))
    return any(owned.startswith(dotted + ".") for owned in HOST_OWNED_PATHS)


def check_flow_write(path: Any, *, what: str = "a flow") -> None:
    """Refuse a write by untrusted flow content to a host-owned vars path.

    Args:
        path: the dotted vars path the flow wants to write (non-str values are left to the caller).
        what: who writes, for the message (``"set_var on node 'n1'"``).

    Raises:
        HostOwnedVarError (a PermissionError): ``path`` is host-owned.
    """
    if isinstance(path, str) and (is_host_owned_path(path) or _replaces_host_owned(path)):
        owned = ", ".join([*sorted(HOST_OWNED_KEYS), *HOST_OWNED_PATHS])
        raise HostOwnedVarError(
            f"{what} may not write {path.strip()!r}: it is host-owned or holds a host-owned path "
            f"({owned} are set by the host only)",
            path=path.strip(),
        )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def resolve_workspace_path(value: str, root: str | None = None) -> str:
    """``value`` as an absolute, symlink-resolved path (SPEC §11.4): ``~`` expanded; a relative path is taken
    under ``root``, else ``$ABSTRACT_WORKSPACE_BASE_DIR`` (or ``$ABSTRACTFLOW_WORKSPACE_BASE_DIR``), else the
    current directory."""
    path = os.path.expanduser(value.strip())
    if not os.path.isabs(path):
        base = root or next((os.environ[k] for k in _BASE_ENV if os.environ.get(k)), None) or os.getcwd()
        path = os.path.join(base, path)
    return os.path.realpath(path)


def _within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def _paths(value: Any, root: str) -> list[str]:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [resolve_workspace_path(v, root) for v in items if isinstance(v, str) and v.strip()]


def _mode(value: Any) -> str:
    return value.strip().lower() if isinstance(value, str) and value.strip() else "workspace_only"


def _check_narrows(parent: Mapping[str, Any], child: Mapping[str, Any]) -> None:
    """Raise unless the child's workspace keys are no wider than the parent's (both have a root)."""
    parent_root = resolve_workspace_path(str(parent["workspace_root"]))
    child_root = resolve_workspace_path(
        str(child.get("workspace_root") or parent["workspace_root"]), parent_root
    )
    if not _within(child_root, parent_root):
        raise HostOwnedVarError(
            f"a child run may not widen its workspace: root {child_root!r} is outside the parent's "
            f"{parent_root!r}",
            path="workspace_root",
        )
    parent_mode, child_mode = (
        _mode(parent.get("workspace_access_mode")),
        _mode(child.get("workspace_access_mode")),
    )
    if _MODE_RANK.get(child_mode, 99) > _MODE_RANK.get(parent_mode, 1):
        raise HostOwnedVarError(
            f"a child run may not widen its workspace: access mode {child_mode!r} is wider than the "
            f"parent's {parent_mode!r}",
            path="workspace_access_mode",
        )
    allowed = [*_paths(parent.get("workspace_allowed_paths"), parent_root), parent_root]
    for entry in _paths(child.get("workspace_allowed_paths"), child_root):
        if not any(_within(entry, base) for base in allowed):
            raise HostOwnedVarError(
                f"a child run may not widen its workspace: allowed path {entry!r} is not allowed to the parent",
                path="workspace_allowed_paths",
            )


def child_workspace_vars(parent: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The workspace keys a child run gets, from its parent's vars and the keys its starter gave.

    SPEC §4.10 copies the parent's workspace keys into the child unless the child sets them.  Here a child
    may only *narrow* an inherited policy: its root must lie inside the parent's, its access mode must be
    no wider, its allowed paths must already be allowed to the parent, and the parent's ignored paths stay
    ignored (the lists are merged).  When the parent has no workspace, the given keys are kept as given
    (the starter is host code; VisualFlow inputs never reach here with host-owned keys).

    Args:
        parent: the parent run's vars.
        given: the vars the START_SUBWORKFLOW payload gives the child.

    Returns:
        The workspace keys to set in the child's vars (a new dict; absent keys are omitted).

    Raises:
        HostOwnedVarError: the given keys would widen the parent's policy.
    """
    inherited = {k: parent.get(k) for k in WORKSPACE_KEYS if not _blank(parent.get(k))}
    offered = {k: given.get(k) for k in WORKSPACE_KEYS if not _blank(given.get(k))}
    if "workspace_root" not in inherited:
        merged = dict(inherited)
        merged.update(offered)
        return merged
    if not offered:
        return dict(inherited)
    _check_narrows(inherited, offered)
    result = dict(inherited)
    result.update(offered)
    parent_root = resolve_workspace_path(str(inherited["workspace_root"]))
    ignored: list[Any] = _paths(inherited.get("workspace_ignored_paths"), parent_root)
    for entry in _as_list(offered.get("workspace_ignored_paths")):
        if entry not in ignored:
            ignored.append(entry)
    if ignored:
        result["workspace_ignored_paths"] = ignored
    return result


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [value]
    return list(value) if isinstance(value, list) else []
