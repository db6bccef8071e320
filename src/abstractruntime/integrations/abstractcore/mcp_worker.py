"""``abstractruntime-mcp-worker``: the runtime's default tools served to MCP clients (SPEC §11.8).

Runs the toolsets chosen with ``--toolsets`` (``files``, and ``comms`` when a comms flag of §11.9 is set)
over the official ``mcp`` SDK (extra ``mcp-worker``), on stdio (a desktop client spawns the worker) or
streamable HTTP (``/mcp``).  Calls go through the same executors as ``TOOL_CALLS``: the workspace policy
(``--workspace-root``, ``--workspace-access-mode``, allowed/ignored paths, SPEC §11.4) and the approval
policy (§11.3; a call needing approval is refused unless ``--approve-dangerous``).

HTTP is locked down by default (:mod:`._mcp_security`): a bearer token is required (``--http-auth-token``
or the variable named by ``--http-auth-token-env``, default ``ABSTRACT_WORKER_TOKEN``); ``--http-no-auth``
is accepted on a loopback address only, and the worker refuses to start without a token elsewhere.
Requests with a foreign ``Host`` or ``Origin``, a wrong token or an oversized body get 403/401/413.

Exit codes: 0 after a clean shutdown, 1 for a configuration error (no or unknown toolset, no token, a
non-loopback address without a token, an invalid workspace), 2 for bad command-line syntax.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence
from typing import Any

from ...errors import MissingExtraError
from ._mcp_security import DEFAULT_MAX_BODY_BYTES, HttpGuard, is_loopback_host
from ._mcp_server import WorkerTools, build_server

__all__ = ["WorkerConfigError", "build_parser", "build_worker_tools", "main"]

logger = logging.getLogger("abstractruntime.mcp_worker")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class WorkerConfigError(Exception):
    """The worker cannot start with these options (exit code 1)."""


def _split(values: Sequence[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (flags of SPEC §11.8 plus the workspace, approval and HTTP limits)."""
    p = argparse.ArgumentParser(prog="abstractruntime-mcp-worker", description=__doc__.split("\n\n")[0])
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    p.add_argument(
        "--toolsets", action="append", help="comma-separated toolset ids: files, comms (when enabled)"
    )
    p.add_argument("--workspace-root", default=None, help="base directory of the file tools (default: cwd)")
    p.add_argument(
        "--workspace-access-mode",
        default=None,
        choices=("workspace_only", "all_except_ignored", "workspace_or_allowed"),
    )
    p.add_argument("--workspace-allowed-path", action="append", help="repeatable; for workspace_or_allowed")
    p.add_argument("--workspace-ignored-path", action="append", help="repeatable; never listed or read")
    p.add_argument("--approve-dangerous", action="store_true", help="run calls the approval policy flags")
    p.add_argument("--tool-timeout-s", type=float, default=None, help="per-call limit in seconds")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on stderr)")
    p.add_argument("--http-require-auth", action="store_true", help="the default; kept for compatibility")
    p.add_argument("--http-no-auth", action="store_true", help="no token (loopback addresses only)")
    p.add_argument("--http-auth-token", "--token", dest="http_auth_token", default=None)
    p.add_argument("--http-auth-token-env", default="ABSTRACT_WORKER_TOKEN")
    p.add_argument("--http-allow-origin", action="append", help="repeatable, comma-separated")
    p.add_argument("--http-allow-host", action="append", help="extra Host names accepted (repeatable)")
    p.add_argument("--http-max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    p.add_argument("--log-level", default="INFO")
    return p


def build_worker_tools(args: argparse.Namespace) -> WorkerTools:
    """The tools of the toolsets named in ``args.toolsets``.

    Raises:
        WorkerConfigError: no toolset, an unknown toolset, or an invalid workspace policy.
    """
    from ...visualflow_compiler.nodes.workspace import WorkspaceError
    from ._system_web_tools import SystemTools, WebTools
    from .default_tools import _policy, get_default_toolsets

    wanted = _split(args.toolsets)
    if not wanted:
        raise WorkerConfigError("no toolset selected; pass --toolsets (for example --toolsets files)")
    workspace = {
        "workspace_root": args.workspace_root,
        "access_mode": args.workspace_access_mode,
        "allowed_paths": args.workspace_allowed_path,
        "ignored_paths": args.workspace_ignored_path,
    }
    try:
        available = get_default_toolsets(**workspace)
        # web and system are the worker's own (SPEC §11.8): workflows' default tool map stays files (+ comms)
        available["web"] = {"id": "web", "label": "Web", "tools": WebTools().tools()}
        policy = _policy(
            args.workspace_root,
            args.workspace_access_mode,
            args.workspace_allowed_path,
            args.workspace_ignored_path,
        )
        system = SystemTools(policy).tools()
        available["system"] = {"id": "system", "label": "System", "tools": system}
    except (WorkspaceError, ValueError, OSError) as exc:
        raise WorkerConfigError(f"invalid workspace: {exc}") from exc
    unknown = [t for t in wanted if t not in available]
    if unknown:
        hint = "" if "comms" in available else " (comms needs ABSTRACT_ENABLE_COMMS_TOOLS or a channel flag)"
        raise WorkerConfigError(
            f"unknown toolset(s) {', '.join(unknown)}; available: {', '.join(sorted(available))}{hint}"
        )
    tool_map: dict[str, Any] = {}
    toolset_of: dict[str, str] = {}
    for toolset_id in dict.fromkeys(wanted):
        for tool in available[toolset_id]["tools"]:
            tool_map[tool.__name__] = tool
            toolset_of[tool.__name__] = toolset_id
    return WorkerTools(
        tool_map,
        toolset_of=toolset_of,
        approve_dangerous=args.approve_dangerous,
        timeout_s=args.tool_timeout_s,
    )


def _http_token(args: argparse.Namespace) -> str | None:
    """The bearer token, or None when ``--http-no-auth`` on loopback.

    Raises:
        WorkerConfigError: no token, or ``--http-no-auth`` on a non-loopback address.
    """
    if args.http_no_auth:
        if not is_loopback_host(args.host):
            raise WorkerConfigError(
                f"refusing to serve {args.host} without a token; --http-no-auth is loopback-only"
            )
        return None
    token = args.http_auth_token or os.environ.get(args.http_auth_token_env, "")
    if not token.strip():
        raise WorkerConfigError(
            f"HTTP needs a bearer token: set {args.http_auth_token_env} or pass --http-auth-token"
            + (" (or --http-no-auth on a loopback address)" if is_loopback_host(args.host) else "")
        )
    return token.strip()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _serve_http(tools: WorkerTools, args: argparse.Namespace, version: str) -> None:
    token = _http_token(args)
    try:
        import anyio
        import uvicorn
        from mcp.server.transport_security import TransportSecuritySettings
    except ImportError as exc:
        raise MissingExtraError(feature="The MCP worker (HTTP)", extra="mcp-worker", module="mcp") from exc
    server = build_server(tools, version=version)
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        max_request_body_size=args.http_max_body_bytes,
        # the guard below checks Host and Origin (with the operator's allow-lists) before the SDK runs
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=args.host,
    )
    hosts = [*_LOOPBACK_HOSTS, *_split(args.http_allow_host)]
    if not is_loopback_host(args.host) and args.host not in ("0.0.0.0", "::"):
        hosts.append(args.host)
    elif args.host in ("0.0.0.0", "::") and not args.http_allow_host:
        logger.warning(
            "listening on all interfaces: only loopback Host names are accepted; add --http-allow-host"
        )
    guarded = HttpGuard(
        app,
        token=token,
        allowed_origins=_split(args.http_allow_origin),
        allowed_hosts=hosts,
        max_body_bytes=args.http_max_body_bytes,
    )
    sock = _bind(args.host, args.port)
    bound_port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    logger.info(
        "serving %d tool(s) on http://%s:%d/mcp (auth: %s)",
        len(tools.tool_map),
        shown,
        bound_port,
        "bearer token" if token else "none",
    )
    config = uvicorn.Config(
        guarded,
        log_level=args.log_level.lower(),
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,  # open SSE streams do not hold a shutdown forever
    )
    anyio.run(uvicorn.Server(config).serve, [sock])


def _serve_stdio(tools: WorkerTools, version: str) -> None:
    try:
        import anyio
        from mcp.server.stdio import stdio_server
    except ImportError as exc:
        raise MissingExtraError(feature="The MCP worker", extra="mcp-worker", module="mcp") from exc
    server = build_server(tools, version=version)

    async def run() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    logger.info("serving %d tool(s) on stdio", len(tools.tool_map))
    anyio.run(run)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker with ``argv`` (default ``sys.argv[1:]``); returns the exit code (see the module doc).

    Logs go to stderr (stdout is the MCP channel on stdio); no token is ever logged.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from ... import __version__

    try:
        tools = build_worker_tools(args)
        if args.transport == "http":
            _serve_http(tools, args, __version__)
        else:
            _serve_stdio(tools, __version__)
    except (WorkerConfigError, MissingExtraError) as exc:
        print(f"abstractruntime-mcp-worker: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the address is taken, or cannot be bound
        print(f"abstractruntime-mcp-worker: cannot serve: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
