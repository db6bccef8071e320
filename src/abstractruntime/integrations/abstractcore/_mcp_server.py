"""The MCP server of the worker: tools of a ``MappingToolExecutor`` behind the approval policy (SPEC §11.8).

:class:`WorkerTools` is the transport-free part (listing, approval refusal, execution, result shape) so it
can be tested without the SDK; :func:`build_server` wraps it in the ``mcp`` SDK's low-level ``Server``.

A call goes through the same executors as a ``TOOL_CALLS`` effect: an :class:`ApprovalToolExecutor` over a
:class:`MappingToolExecutor`.  A batch the policy flags comes back ``approval_required``; over MCP there is
nobody to ask, so the call is refused with JSON-RPC error ``-32000`` unless the operator started the worker
with ``approve_dangerous`` (then it runs through ``execute_approved``).  An unknown tool is error ``-32602``.
A tool that fails (an exception, a refused path, a failure-shaped output) is a normal result with
``isError: true`` and the error text, so the model sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import MissingExtraError
from .tool_executor import ApprovalToolExecutor, MappingToolExecutor, ToolApprovalPolicy
from .tool_specs import tool_spec

__all__ = ["SERVER_NAME", "ToolRefused", "WorkerTools", "build_server"]

SERVER_NAME = "abstractruntime-mcp-worker"
FORBIDDEN = -32000
INVALID_PARAMS = -32602


class ToolRefused(Exception):
    """A call the worker does not run; ``code`` is the JSON-RPC error code sent back."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _text(output: Any) -> str:
    if isinstance(output, str):
        return output
    try:
        return json.dumps(output, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(output)


class WorkerTools:
    """The tools one worker exposes, their specs, and how a call is checked and run.

    Args:
        tool_map: ``{name: callable}`` (from ``build_default_tool_map``).
        toolset_of: ``{name: toolset id}``, shown in each tool's description.
        policy: the approval policy (default :class:`ToolApprovalPolicy`, SPEC §11.3).
        approve_dangerous: run calls the policy flags instead of refusing them.
        timeout_s: per-call time limit in seconds (None: no limit).
    """

    def __init__(
        self,
        tool_map: Mapping[str, Callable[..., Any]],
        *,
        toolset_of: Mapping[str, str] | None = None,
        policy: ToolApprovalPolicy | None = None,
        approve_dangerous: bool = False,
        timeout_s: float | None = None,
    ) -> None:
        self.tool_map = dict(tool_map)
        self.toolset_of = dict(toolset_of or {})
        self.policy = policy or ToolApprovalPolicy()
        self.approve_dangerous = approve_dangerous
        self.executor = ApprovalToolExecutor(
            delegate=MappingToolExecutor(self.tool_map, timeout_s=timeout_s), policy=self.policy
        )

    def needs_approval(self, name: str) -> bool:
        """True when the policy asks a human before ``name`` runs."""
        return self.policy.call_requires_approval({"name": name})

    def specs(self) -> list[dict[str, Any]]:
        """``[{name, description, inputSchema, dangerous}]`` sorted by name."""
        specs: list[dict[str, Any]] = []
        for name in sorted(self.tool_map):
            spec = tool_spec(self.tool_map[name], name)
            description = spec.get("description") or name
            toolset = self.toolset_of.get(name)
            if toolset:
                description = f"[{toolset}] {description}"
            dangerous = self.needs_approval(name)
            if dangerous and not self.approve_dangerous:
                description += " (needs approval: refused unless the worker runs with --approve-dangerous)"
            schema = dict(spec.get("parameters") or {"type": "object", "properties": {}})
            specs.append(
                {"name": name, "description": description, "inputSchema": schema, "dangerous": dangerous}
            )
        return specs

    def call(self, name: str, arguments: Mapping[str, Any] | None) -> tuple[str, bool]:
        """Run one call; ``(text, is_error)``.

        Raises:
            ToolRefused: an unknown tool (-32602) or a call needing approval without ``approve_dangerous``
                (-32000).
        """
        if name not in self.tool_map:
            raise ToolRefused(INVALID_PARAMS, f"Unknown tool {name!r}; see tools/list")
        call = {"id": "mcp", "name": name, "arguments": dict(arguments or {})}
        if self.approve_dangerous:
            outcome = self.executor.execute_approved(tool_calls=[call])
        else:
            outcome = self.executor.execute(tool_calls=[call])
        if outcome.get("mode") == "approval_required":
            raise ToolRefused(
                FORBIDDEN,
                f"Tool {name!r} needs human approval under the worker's approval policy and was not run; "
                "start the worker with --approve-dangerous to allow it",
            )
        result = (outcome.get("results") or [{}])[0]
        if result.get("success"):
            return _text(result.get("output")), False
        return str(result.get("error") or "Tool failed"), True


def build_server(tools: WorkerTools, *, version: str) -> Any:
    """The ``mcp`` SDK low-level ``Server`` over ``tools`` (tools/list, tools/call).

    Raises:
        MissingExtraError: the ``mcp`` package (extra ``mcp-worker``) is not installed.
    """
    try:
        import anyio
        from mcp.server.lowlevel import Server
        from mcp.shared.exceptions import MCPError

        from mcp import types
    except ImportError as exc:
        raise MissingExtraError(feature="The MCP worker", extra="mcp-worker", module="mcp") from exc

    listed = [
        types.Tool(
            name=spec["name"],
            description=spec["description"],
            input_schema=spec["inputSchema"],
            annotations=types.ToolAnnotations(
                destructive_hint=spec["dangerous"], read_only_hint=not spec["dangerous"]
            ),
        )
        for spec in tools.specs()
    ]

    async def on_list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=listed)

    async def on_call_tool(ctx: Any, params: Any) -> Any:
        try:
            text, is_error = await anyio.to_thread.run_sync(tools.call, params.name, params.arguments)
        except ToolRefused as exc:
            raise MCPError(exc.code, exc.message) from exc
        return types.CallToolResult(content=[types.TextContent(text=text)], is_error=is_error)

    return Server(SERVER_NAME, version=version, on_list_tools=on_list_tools, on_call_tool=on_call_tool)
