"""A small default toolset over a workspace, and the comms-tool gating of SPEC §11.9.

File tools (the ``files`` toolset): ``list_files``, ``read_file``, ``write_file``, ``search_files``.  They are
bound to one workspace policy (the same :class:`~abstractruntime.visualflow_compiler.nodes.workspace.
WorkspacePolicy` the VisualFlow file nodes use): every path is checked by the policy, files are read and
written with the symlink-proof helpers of ``confined_fs``, and listing/searching never follows a symlink or
enters ``workspace_ignored_paths``.  Paths may be relative to the root or absolute under it (the TOOL_CALLS
handler rewrites checked paths to absolute ones).  A refused path raises, which the executor reports as a
failed call.  The read-only tools (``list_files``, ``read_file``, ``search_files``) carry ``idempotent = True``:
after a crash mid-batch they run again without asking (``docs/llm.md``, "In-doubt calls").

The ``comms`` toolset (SPEC §11.9) is **off** unless ``ABSTRACT_ENABLE_COMMS_TOOLS`` or a channel flag is
set; then it holds the enabled channels' real senders: e-mail (``list_email_accounts``, ``send_email``,
``list_emails``, ``read_email``; :mod:`.comms_email`, SMTP/IMAP), Telegram (``send_telegram_message``) and
WhatsApp (``send_whatsapp_message``; :mod:`.comms_messaging`, their HTTP APIs).  Their credentials come only
from the environment, and sending is in the approval policy's require set.

Not provided (SPEC §11.9 names them): ``skim_folders``, ``analyze_code``, ``skim_files``, ``edit_file``,
the ``web`` and ``system`` toolsets (the MCP worker has its own ``fetch_url`` and ``execute_command``,
:mod:`._system_web_tools`), ``send_telegram_artifact`` and the WhatsApp list/read tools (they need a
webhook receiver).

::

    from abstractruntime.integrations.abstractcore.default_tools import build_default_tool_map
    from abstractruntime.integrations.abstractcore.tool_executor import MappingToolExecutor

    executor = MappingToolExecutor(build_default_tool_map(workspace_root="/srv/ws"))
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ...visualflow_compiler.nodes.confined_fs import read_confined, write_confined
from ...visualflow_compiler.nodes.workspace import WorkspaceError, WorkspacePolicy, policy_from_vars
from ._tool_workspace import resolve_tool_path

__all__ = [
    "WorkspaceTools",
    "build_default_tool_map",
    "comms_tools",
    "comms_tools_enabled",
    "email_tools_enabled",
    "get_default_tools",
    "get_default_toolsets",
    "telegram_tools_enabled",
    "whatsapp_tools_enabled",
]

_TRUTHY = frozenset({"1", "true", "yes", "y", "on"})
_READ_LIMIT = 10 * 1024 * 1024
_SEARCH_FILE_LIMIT = 2 * 1024 * 1024


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUTHY


def email_tools_enabled() -> bool:
    """``ABSTRACT_ENABLE_COMMS_TOOLS`` or ``ABSTRACT_ENABLE_EMAIL_TOOLS`` is set to a true value."""
    return _flag("ABSTRACT_ENABLE_COMMS_TOOLS") or _flag("ABSTRACT_ENABLE_EMAIL_TOOLS")


def whatsapp_tools_enabled() -> bool:
    """``ABSTRACT_ENABLE_COMMS_TOOLS`` or ``ABSTRACT_ENABLE_WHATSAPP_TOOLS`` is set to a true value."""
    return _flag("ABSTRACT_ENABLE_COMMS_TOOLS") or _flag("ABSTRACT_ENABLE_WHATSAPP_TOOLS")


def telegram_tools_enabled() -> bool:
    """``ABSTRACT_ENABLE_COMMS_TOOLS`` or ``ABSTRACT_ENABLE_TELEGRAM_TOOLS`` is set to a true value."""
    return _flag("ABSTRACT_ENABLE_COMMS_TOOLS") or _flag("ABSTRACT_ENABLE_TELEGRAM_TOOLS")


def comms_tools_enabled() -> bool:
    """Any comms flag is set (true values: ``1``, ``true``, ``yes``, ``y``, ``on``)."""
    return email_tools_enabled() or whatsapp_tools_enabled() or telegram_tools_enabled()


_F = TypeVar("_F", bound=Callable[..., Any])


def _idempotent(func: _F) -> _F:
    """Mark a read-only tool as safe to run again after a crash (``docs/llm.md``, "In-doubt calls")."""
    setattr(func, "idempotent", True)  # noqa: B010 - a function attribute read by MappingToolExecutor
    return func


class WorkspaceTools:
    """The file tools bound to one workspace policy (see the module docstring)."""

    def __init__(self, policy: WorkspacePolicy) -> None:
        self.policy = policy

    def _display(self, path: Path) -> str:
        try:
            return path.relative_to(self.policy.root).as_posix()
        except ValueError:
            return str(path)

    def _ignored(self, path: Path) -> bool:
        return any(path == d or d in path.parents for d in self.policy.ignored)

    def _walk(self, top: Path, recursive: bool) -> Iterator[tuple[Path, bool]]:
        """``(path, is_dir)`` under ``top`` in sorted order, never following symlinks or entering ignored paths."""
        for current, dirs, files in os.walk(top, followlinks=False):
            base = Path(current)
            dirs[:] = sorted(d for d in dirs if not self._ignored(base / d))
            for name in sorted([*dirs, *files]):
                path = base / name
                if not self._ignored(path):
                    yield path, name in dirs
            if not recursive:
                return

    @_idempotent
    def list_files(
        self, directory: str = ".", pattern: str = "*", recursive: bool = False, limit: int = 500
    ) -> str:
        """List files under ``directory`` (relative to the workspace) whose name matches ``pattern``.

        Directories end with ``/``.  At most ``limit`` entries are listed.
        """
        top = Path(resolve_tool_path(self.policy, directory, write=False, directory=True))
        if not top.is_dir():
            raise WorkspaceError(f"directory {directory!r} does not exist")
        lines: list[str] = []
        for path, is_dir in self._walk(top, recursive):
            if fnmatch.fnmatch(path.name, pattern or "*"):
                lines.append(self._display(path) + ("/" if is_dir else ""))
                if len(lines) >= max(1, int(limit)):
                    lines.append(f"... (stopped after {limit} entries)")
                    break
        return "\n".join(lines) if lines else f"No files match {pattern!r} in {directory!r}"

    @_idempotent
    def read_file(self, file_path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """The text of ``file_path`` (UTF-8), optionally lines ``start_line``..``end_line`` (1-based, inclusive)."""
        path = Path(resolve_tool_path(self.policy, file_path, write=False))
        text = read_confined(self.policy, path, limit=_READ_LIMIT).decode("utf-8")
        if start_line <= 1 and end_line is None:
            return text
        lines = text.splitlines(keepends=True)
        first = max(1, int(start_line)) - 1
        last = len(lines) if end_line is None else max(first, int(end_line))
        return "".join(lines[first:last])

    def write_file(self, file_path: str, content: str) -> dict[str, Any]:
        """Replace ``file_path`` with ``content`` (UTF-8), creating directories; atomic."""
        path = Path(resolve_tool_path(self.policy, file_path, write=True))
        data = (content if isinstance(content, str) else str(content)).encode("utf-8")
        write_confined(self.policy, path, data)
        return {"ok": True, "file_path": self._display(path), "bytes": len(data)}

    @_idempotent
    def search_files(
        self, pattern: str, directory: str = ".", file_pattern: str = "*", limit: int = 100
    ) -> str:
        """Lines matching the regular expression ``pattern`` (a literal when it is not a valid regex) in the
        text files under ``directory`` whose name matches ``file_pattern``, as ``path:line: text``."""
        try:
            regex = re.compile(pattern)
        except re.error:
            regex = re.compile(re.escape(pattern))
        top = Path(resolve_tool_path(self.policy, directory, write=False, directory=True))
        hits: list[str] = []
        for path, is_dir in self._walk(top, recursive=True):
            if is_dir or path.is_symlink() or not fnmatch.fnmatch(path.name, file_pattern or "*"):
                continue
            try:
                text = read_confined(self.policy, path, limit=_SEARCH_FILE_LIMIT).decode("utf-8")
            except (WorkspaceError, OSError, UnicodeDecodeError):
                continue  # too large, binary, or changed meanwhile: not searched
            for number, line in enumerate(text.splitlines(), start=1):
                if regex.search(line):
                    hits.append(f"{self._display(path)}:{number}: {line.strip()[:300]}")
                    if len(hits) >= max(1, int(limit)):
                        return "\n".join([*hits, f"... (stopped after {limit} matches)"])
        return "\n".join(hits) if hits else f"No matches for {pattern!r}"

    def tools(self) -> list[Callable[..., Any]]:
        """The bound tool methods (their ``__name__`` is the tool name)."""
        return [self.list_files, self.read_file, self.write_file, self.search_files]


def _policy(
    workspace_root: str | None,
    access_mode: str | None,
    allowed_paths: list[str] | None,
    ignored_paths: list[str] | None,
) -> WorkspacePolicy:
    return policy_from_vars(
        {
            "workspace_root": workspace_root or os.getcwd(),
            "workspace_access_mode": access_mode,
            "workspace_allowed_paths": allowed_paths or [],
            "workspace_ignored_paths": ignored_paths or [],
        }
    )


def comms_tools() -> list[Callable[..., Any]]:
    """The comms tools of the channels enabled by the §11.9 flags (empty when none is set)."""
    from .comms_email import email_tools
    from .comms_messaging import telegram_tools, whatsapp_tools

    tools: list[Callable[..., Any]] = []
    if email_tools_enabled():
        tools.extend(email_tools())
    if whatsapp_tools_enabled():
        tools.extend(whatsapp_tools())
    if telegram_tools_enabled():
        tools.extend(telegram_tools())
    return tools


def get_default_toolsets(
    *,
    workspace_root: str | None = None,
    access_mode: str | None = None,
    allowed_paths: list[str] | None = None,
    ignored_paths: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{id: {id, label, tools}}``: the ``files`` toolset over the workspace (default root: the current
    directory; the other arguments are the §11.4 policy keys), and ``comms`` when a comms flag is set.

    Raises:
        WorkspaceError: an invalid access mode.
    """
    tools = WorkspaceTools(_policy(workspace_root, access_mode, allowed_paths, ignored_paths)).tools()
    toolsets: dict[str, dict[str, Any]] = {"files": {"id": "files", "label": "Files", "tools": tools}}
    if comms_tools_enabled():
        toolsets["comms"] = {"id": "comms", "label": "Comms", "tools": comms_tools()}
    return toolsets


def get_default_tools(**kwargs: Any) -> list[Callable[..., Any]]:
    """Every default tool, flattened (same arguments as :func:`get_default_toolsets`)."""
    return [tool for toolset in get_default_toolsets(**kwargs).values() for tool in toolset["tools"]]


def build_default_tool_map(**kwargs: Any) -> dict[str, Callable[..., Any]]:
    """``{name: tool}`` of :func:`get_default_tools`, ready for ``MappingToolExecutor``."""
    return {tool.__name__: tool for tool in get_default_tools(**kwargs)}
