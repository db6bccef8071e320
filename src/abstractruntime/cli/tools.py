"""Which tools a CLI run may call, and who approves them (``--approve-tools``).

The CLI gives runs the default file toolset (``list_files``, ``read_file``, ``write_file``, ``search_files``)
over the run's workspace (its host-owned ``workspace_root``, default the directory ``run`` was started in),
behind an approval mode the operator picks when starting the run and that the run remembers
(``_runtime.cli_approve_tools``; flows cannot write ``_runtime``):

- ``ask`` (default): read-only tools run; any other call (``write_file``, unknown tools) parks the run in a
  user wait showing the calls. On a terminal the CLI asks at once, call by call (approve, deny or edit the
  arguments); otherwise ``resume RUN --approve`` or ``--deny`` answers later, or per call
  ``--approve-call CALL_ID`` and ``--edit CALL_ID=JSON`` (``cli/answers.py``).
- ``safe-only``: read-only tools run; every other call fails with an error result, nobody is asked.
- ``all``: every call runs without asking (trusted flows only).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from abstractruntime.core.models import EffectType

__all__ = ["APPROVE_MODES", "CLI_NS_APPROVE_TOOLS", "SafeOnlyToolExecutor", "tool_setup"]

APPROVE_MODES = ("ask", "safe-only", "all")
CLI_NS_APPROVE_TOOLS = "cli_approve_tools"


class SafeOnlyToolExecutor:
    """Runs the calls ``policy`` needs no approval for through ``delegate``; refuses the rest (no wait).

    Args:
        delegate: the executor that runs the allowed calls.
        policy: a ``ToolApprovalPolicy``.
    """

    def __init__(self, *, delegate: Any, policy: Any) -> None:
        self.delegate = delegate
        self.policy = policy

    def execute(self, *, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
        """``{"mode": "executed", "results"}`` in input order; refused calls get an error result."""
        from abstractruntime.integrations.abstractcore.tool_executor import tool_result

        results: list[Any] = [None] * len(tool_calls)
        allowed: list[int] = []
        for index, call in enumerate(tool_calls):
            if self.policy.call_requires_approval(call):
                name = call.get("name") if isinstance(call, Mapping) else None
                results[index] = tool_result(
                    call if isinstance(call, Mapping) else {},
                    success=False,
                    error=f"tool {name!r} needs approval, and --approve-tools safe-only refuses such calls",
                )
            else:
                allowed.append(index)
        if allowed:
            ran = self.delegate.execute(tool_calls=[tool_calls[i] for i in allowed])
            executed = ran.get("results") if isinstance(ran, dict) else None
            for position, index in enumerate(allowed):
                if isinstance(executed, list) and position < len(executed):
                    results[index] = executed[position]
                else:
                    results[index] = tool_result(
                        tool_calls[index], success=False, error="Missing tool result"
                    )
        return {"mode": "executed", "results": results}


def tool_setup(mode: str, workspace_root: Any) -> tuple[dict[EffectType, Any], Any]:
    """The TOOL_CALLS handler and the executor (to register for approval resumes) of ``mode``.

    Args:
        mode: one of :data:`APPROVE_MODES`.
        workspace_root: the run's ``workspace_root`` (None or blank: the current directory).

    Raises:
        ValueError: an unknown mode.
    """
    from abstractruntime.integrations.abstractcore.default_tools import build_default_tool_map
    from abstractruntime.integrations.abstractcore.tool_executor import (
        ApprovalToolExecutor,
        MappingToolExecutor,
        ToolApprovalPolicy,
    )
    from abstractruntime.integrations.abstractcore.tool_handler import make_tool_calls_handler

    if mode not in APPROVE_MODES:
        raise ValueError(f"unknown --approve-tools mode {mode!r}; expected one of {', '.join(APPROVE_MODES)}")
    root = workspace_root if isinstance(workspace_root, str) and workspace_root.strip() else os.getcwd()
    delegate = MappingToolExecutor(build_default_tool_map(workspace_root=root))
    executor: Any
    if mode == "all":
        executor = delegate
    elif mode == "safe-only":
        executor = SafeOnlyToolExecutor(delegate=delegate, policy=ToolApprovalPolicy())
    else:
        executor = ApprovalToolExecutor(delegate=delegate)
    return {EffectType.TOOL_CALLS: make_tool_calls_handler(tools=executor)}, executor
