"""The checks every tool call passes before it runs (SPEC §11.3 step 2, §11.4).

One function, :func:`check_call`, used for the calls of a fresh TOOL_CALLS batch
(:mod:`.tool_handler`) and again for calls whose arguments were edited at approval
(:meth:`.tool_executor.ApprovalToolExecutor.recheck_call`), so an edited call meets exactly the checks a
fresh one does: the node's allowlist, then the run's workspace policy (:mod:`._tool_workspace`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ...visualflow_compiler.nodes.workspace import WorkspacePolicy
from ._tool_workspace import confine_call, run_policy

__all__ = ["check_call", "recheck_call"]


def check_call(
    call: Any, allowlist: Collection[str] | None, policy: WorkspacePolicy | None
) -> tuple[dict[str, Any], str | None]:
    """``(call to send, None)`` or ``(call, refusal error)`` for one tool call.

    Args:
        call: the call (``{"name", "arguments", "call_id", ...}``); anything but a dict is refused.
        allowlist: the node's allowed tool names, or None for no allowlist.
        policy: the run's workspace policy, or None when the run has none.

    Returns:
        The call with checked, absolute path arguments when accepted; the refusal message otherwise
        (``Tool '<n>' is not allowed at this node``, ``Workspace policy refused ...``).
    """
    if not isinstance(call, dict):
        return {}, "Invalid tool call (not an object)"
    name = call.get("name")
    if allowlist is not None and (not isinstance(name, str) or name not in allowlist):
        return call, f"Tool '{name}' is not allowed at this node"
    if policy is None:
        return call, None
    return confine_call(policy, call)


def recheck_call(
    call: dict[str, Any], *, run_vars: dict[str, Any], allowed_tools: list[str] | None
) -> tuple[dict[str, Any], str | None]:
    """:func:`check_call` with the run's workspace policy read from ``run_vars`` (an invalid policy
    refuses the call)."""
    try:
        policy = run_policy(run_vars)
    except ValueError as exc:
        return call, f"Invalid workspace policy: {exc}"
    return check_call(call, allowed_tools, policy)
