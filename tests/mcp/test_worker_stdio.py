"""The MCP worker over stdio, driven by the real ``mcp`` client (the worker runs as a subprocess)."""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from worker_helpers import WORKER, FakeSMTP, worker_env

mcp = pytest.importorskip("mcp", reason="the mcp-worker extra is not installed")
from mcp.shared.exceptions import MCPError  # noqa: E402

from mcp import Client, StdioServerParameters  # noqa: E402


def run_client(args: list[str], env: dict[str, str], body: Callable[[Any], Awaitable[Any]]) -> Any:
    """Spawn the worker with ``args`` and run ``body(client)`` against it."""
    params = StdioServerParameters(command=WORKER[0], args=[*WORKER[1:], *args], env=env)

    async def main() -> Any:
        with anyio.fail_after(60):
            async with Client(params) as client:
                return await body(client)

    return anyio.run(main)


async def tool_names(client: Any) -> list[str]:
    return [tool.name for tool in (await client.list_tools()).tools]


def test_lists_and_calls_file_tools(ws: Path) -> None:
    async def body(client: Any) -> dict[str, Any]:
        listed = (await client.list_tools()).tools
        read = await client.call_tool("read_file", {"file_path": "notes.txt"})
        escape = await client.call_tool("read_file", {"file_path": "../outside.txt"})
        return {
            "tools": {t.name: t for t in listed},
            "read": read,
            "escape": escape,
            "info": client.server_info,
        }

    out = run_client(["--toolsets", "files", "--workspace-root", str(ws)], worker_env(), body)
    assert sorted(out["tools"]) == ["list_files", "read_file", "search_files", "write_file"]
    read_tool = out["tools"]["read_file"]
    assert read_tool.input_schema["type"] == "object" and read_tool.input_schema["required"] == ["file_path"]
    assert "needs approval" in out["tools"]["write_file"].description
    assert out["tools"]["write_file"].annotations.destructive_hint is True
    assert out["info"].name == "abstractruntime-mcp-worker"
    assert out["read"].is_error is False and out["read"].content[0].text == "hello\n"
    # the workspace policy refuses the path: a tool error the model can see, not a protocol error
    assert out["escape"].is_error is True and "escapes the workspace" in out["escape"].content[0].text


def test_dangerous_call_is_refused_without_the_flag(ws: Path) -> None:
    async def body(client: Any) -> list[MCPError]:
        errors = []
        for name, arguments in (("write_file", {"file_path": "x.txt", "content": "x"}), ("no_such_tool", {})):
            with pytest.raises(MCPError) as caught:
                await client.call_tool(name, arguments)
            errors.append(caught.value)
        return errors

    refused, unknown = run_client(["--toolsets", "files", "--workspace-root", str(ws)], worker_env(), body)
    assert refused.code == -32000 and "needs human approval" in refused.message
    assert "--approve-dangerous" in refused.message
    assert unknown.code == -32602 and "no_such_tool" in unknown.message
    assert not (ws / "x.txt").exists()


def test_approve_dangerous_runs_the_call_under_the_workspace_policy(ws: Path) -> None:
    async def body(client: Any) -> tuple[Any, Any]:
        written = await client.call_tool("write_file", {"file_path": "out/x.txt", "content": "data"})
        outside = await client.call_tool("write_file", {"file_path": "/etc/evil.txt", "content": "x"})
        return written, outside

    args = ["--toolsets", "files", "--workspace-root", str(ws), "--approve-dangerous"]
    written, outside = run_client(args, worker_env(), body)
    assert written.is_error is False and (ws / "out" / "x.txt").read_text() == "data"
    assert outside.is_error is True and not Path("/etc/evil.txt").exists()


def test_comms_tools_absent_by_default_present_with_a_flag(ws: Path) -> None:
    base = ["--workspace-root", str(ws)]
    refused = subprocess.run(
        check=False, args=[*WORKER, "--toolsets", "files,comms", *base], env=worker_env(), capture_output=True
    )
    assert refused.returncode == 1 and b"unknown toolset(s) comms" in refused.stderr
    assert b"ABSTRACT_ENABLE_COMMS_TOOLS" in refused.stderr

    telegram = run_client(
        ["--toolsets", "comms", *base], worker_env(ABSTRACT_ENABLE_TELEGRAM_TOOLS="yes"), tool_names
    )
    assert telegram == ["send_telegram_message"]
    everything = run_client(
        ["--toolsets", "comms", *base], worker_env(ABSTRACT_ENABLE_COMMS_TOOLS="1"), tool_names
    )
    assert everything == [
        "list_email_accounts",
        "list_emails",
        "read_email",
        "send_email",
        "send_telegram_message",
        "send_whatsapp_message",
    ]


def test_send_email_needs_approval_then_really_sends(ws: Path, smtp: FakeSMTP) -> None:
    env = worker_env(
        ABSTRACT_ENABLE_EMAIL_TOOLS="1",
        ABSTRACT_EMAIL_SMTP_HOST="127.0.0.1",
        ABSTRACT_EMAIL_SMTP_PORT=str(smtp.port),
        ABSTRACT_EMAIL_SMTP_SECURITY="none",
        ABSTRACT_EMAIL_FROM="bot@example.org",
    )
    arguments = {"to": "alice@example.org", "subject": "Hi", "body": "Report attached."}

    async def refused(client: Any) -> MCPError:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("send_email", arguments)
        return caught.value

    error = run_client(["--toolsets", "comms", "--workspace-root", str(ws)], env, refused)
    assert error.code == -32000 and "send_email" in error.message
    assert smtp.messages == []

    async def send(client: Any) -> Any:
        return await client.call_tool("send_email", arguments)

    result = run_client(
        ["--toolsets", "comms", "--workspace-root", str(ws), "--approve-dangerous"], env, send
    )
    assert result.is_error is False and '"recipients": ["alice@example.org"]' in result.content[0].text
    assert len(smtp.messages) == 1 and smtp.messages[0]["to"] == ["alice@example.org"]
    assert b"Subject: Hi" in smtp.messages[0]["data"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], b"no toolset selected"),
        (["--toolsets", "files,bogus"], b"unknown toolset(s) bogus"),
        (["--toolsets", "files", "--workspace-access-mode", "bogus"], b"invalid choice"),
    ],
)
def test_bad_configuration_exits_non_zero(args: list[str], message: bytes) -> None:
    done = subprocess.run(
        check=False, args=[*WORKER, *args], env=worker_env(), capture_output=True, timeout=60
    )
    assert done.returncode in (1, 2) and message in done.stderr
    assert done.stdout == b""


def test_web_and_system_toolsets(ws: Path) -> None:
    async def body(client: Any) -> tuple[list[str], MCPError, Any]:
        names = await tool_names(client)
        with pytest.raises(MCPError) as caught:
            await client.call_tool("execute_command", {"command": "touch pwned"})
        fetched = await client.call_tool("fetch_url", {"url": "http://127.0.0.1:9/"})
        return names, caught.value, fetched

    names, refused, fetched = run_client(
        ["--toolsets", "web,system", "--workspace-root", str(ws)], worker_env(), body
    )
    assert names == ["execute_command", "fetch_url"]
    assert refused.code == -32000 and not (ws / "pwned").exists()
    assert fetched.is_error is True and "non-public address" in fetched.content[0].text
