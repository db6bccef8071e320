"""The MCP worker over streamable HTTP: the real ``mcp`` client, hostile requests, and start-up refusals."""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from worker_helpers import TOKEN, WORKER, HttpWorker, start_http_worker, stop, worker_env

mcp = pytest.importorskip("mcp", reason="the mcp-worker extra is not installed")
httpx2 = pytest.importorskip("httpx2")
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

from mcp import Client  # noqa: E402

MAX_BODY = 64 * 1024
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpWorker]:
    """One worker for the module: token auth, one allowed origin, a 64 KiB body limit."""
    tmp = tmp_path_factory.mktemp("http")
    ws = tmp / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("hello\n", encoding="utf-8")
    args = [
        "--toolsets",
        "files",
        "--workspace-root",
        str(ws),
        "--http-allow-origin",
        "https://app.example.org,http://localhost:3000",
        "--http-max-body-bytes",
        str(MAX_BODY),
    ]
    worker = start_http_worker(tmp, args, worker_env(ABSTRACT_WORKER_TOKEN=TOKEN))
    yield worker
    stop(worker)
    assert TOKEN not in worker.logs()  # the token is never logged, whatever happened


def raw(
    worker: HttpWorker, method: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes, Any]:
    """One request with ``http.client`` (headers exactly as given, plus Host); ``(status, body, headers)``."""
    conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)
    try:
        conn.request(method, "/mcp", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), response.headers
    finally:
        conn.close()


def authed(**extra: str) -> dict[str, str]:
    return {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}", **extra}


def run_client(worker: HttpWorker, headers: dict[str, str], body: Any) -> Any:
    async def main() -> Any:
        with anyio.fail_after(60):
            async with httpx2.AsyncClient(headers=headers) as http_client:
                transport = streamable_http_client(worker.url, http_client=http_client)
                async with Client(transport) as client:
                    return await body(client)

    return anyio.run(main)


def test_client_lists_and_calls_with_the_token(worker: HttpWorker) -> None:
    async def body(client: Any) -> tuple[list[str], Any, MCPError]:
        names = [t.name for t in (await client.list_tools()).tools]
        read = await client.call_tool("read_file", {"file_path": "notes.txt"})
        with pytest.raises(MCPError) as caught:
            await client.call_tool("write_file", {"file_path": "x", "content": "y"})
        return names, read, caught.value

    names, read, refused = run_client(worker, {"Authorization": f"Bearer {TOKEN}"}, body)
    assert names == ["list_files", "read_file", "search_files", "write_file"]
    assert read.is_error is False and read.content[0].text == "hello\n"
    assert refused.code == -32000 and "needs human approval" in refused.message


def test_the_worker_token_header_is_accepted_too(worker: HttpWorker) -> None:
    async def body(client: Any) -> int:
        return len((await client.list_tools()).tools)

    assert run_client(worker, {"X-Abstract-Worker-Token": TOKEN}, body) == 4


def test_client_without_the_token_is_refused(worker: HttpWorker) -> None:
    async def body(client: Any) -> None:
        await client.list_tools()

    with pytest.raises(BaseException) as caught:  # the SDK raises the 401's JSON-RPC error in a task group
        run_client(worker, {}, body)
    leaves = list(leaf_errors(caught.value))
    assert [(type(e), e.code) for e in leaves if isinstance(e, MCPError)] == [(MCPError, -32001)]


def leaf_errors(error: BaseException) -> Iterator[BaseException]:
    """The exceptions inside (nested) exception groups, or the error itself."""
    inner = getattr(error, "exceptions", None)
    if not inner:
        yield error
        return
    for child in inner:
        yield from leaf_errors(child)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"X-Abstract-Worker-Token": ""},
    ],
    ids=["none", "wrong", "not-bearer", "longer", "empty-header"],
)
def test_missing_or_wrong_token_is_401(worker: HttpWorker, headers: dict[str, str]) -> None:
    status, body, response_headers = raw(
        worker, "POST", json.dumps(INIT).encode(), {**MCP_HEADERS, **headers}
    )
    assert status == 401
    assert response_headers["WWW-Authenticate"].startswith("Bearer")
    assert json.loads(body)["error"]["code"] == -32001
    assert TOKEN.encode() not in body


def test_get_and_delete_need_the_token_too(worker: HttpWorker) -> None:
    assert raw(worker, "GET", None, {"Accept": "text/event-stream"})[0] == 401
    assert raw(worker, "DELETE", None, {})[0] == 401


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "null", "https://app.example.org.evil.example", "http://localhost:3001"],
)
def test_foreign_origin_is_403_even_with_the_token(worker: HttpWorker, origin: str) -> None:
    status, body, _ = raw(worker, "POST", json.dumps(INIT).encode(), authed(Origin=origin))
    assert status == 403 and b"origin not allowed" in body


def test_allowed_origin_passes(worker: HttpWorker) -> None:
    status, body, _ = raw(
        worker, "POST", json.dumps(INIT).encode(), authed(Origin="https://APP.example.org/")
    )
    assert status == 200, body
    assert b"abstractruntime-mcp-worker" in body


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.2.nip.io"])
def test_foreign_host_header_is_403(worker: HttpWorker, host: str) -> None:
    status, body, _ = raw(worker, "POST", json.dumps(INIT).encode(), authed(Host=host))
    assert status == 403 and b"host not allowed" in body


def test_oversized_body_is_413(worker: HttpWorker) -> None:
    big = json.dumps({**INIT, "params": {**INIT["params"], "pad": "x" * (MAX_BODY + 10)}}).encode()
    status, body, _ = raw(worker, "POST", big, authed())
    assert status == 413 and b"larger than" in body
    # a chunked body has no Content-Length: counted while read
    conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)
    try:
        chunks = iter([b"x" * 40_000, b"y" * 40_000])
        conn.request("POST", "/mcp", body=chunks, headers=authed(), encode_chunked=True)
        assert conn.getresponse().status == 413
    finally:
        conn.close()


def test_unauthenticated_oversized_body_is_401_not_413(worker: HttpWorker) -> None:
    assert raw(worker, "POST", b"x" * (MAX_BODY + 1), MCP_HEADERS)[0] == 401


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"{not json", -32700),
        (b'{"jsonrpc": "2.0", "method": 5, "id": 1}', None),
        (b'"just a string"', None),
    ],
    ids=["parse-error", "bad-method", "not-an-object"],
)
def test_malformed_json_rpc_is_400(worker: HttpWorker, payload: bytes, code: int | None) -> None:
    status, body, _ = raw(worker, "POST", payload, authed())
    assert status == 400
    error = json.loads(body)["error"]
    assert error["code"] < 0 and (code is None or error["code"] == code)


def test_start_up_refusals(tmp_path: Path, ws: Path) -> None:
    base = [*WORKER, "--transport", "http", "--port", "0", "--toolsets", "files", "--workspace-root", str(ws)]
    no_token = subprocess.run(check=False, args=base, env=worker_env(), capture_output=True, timeout=60)
    assert no_token.returncode == 1 and b"needs a bearer token" in no_token.stderr
    public = subprocess.run(
        check=False,
        args=[*base, "--host", "0.0.0.0", "--http-no-auth"],
        env=worker_env(),
        capture_output=True,
    )
    assert public.returncode == 1 and b"without a token" in public.stderr
    empty = subprocess.run(
        check=False, args=base, env=worker_env(ABSTRACT_WORKER_TOKEN="  "), capture_output=True, timeout=60
    )
    assert empty.returncode == 1


def test_no_auth_is_allowed_on_loopback(tmp_path: Path, ws: Path) -> None:
    worker = start_http_worker(
        tmp_path, ["--toolsets", "files", "--workspace-root", str(ws), "--http-no-auth"], worker_env()
    )
    try:
        status, body, _ = raw(worker, "POST", json.dumps(INIT).encode(), MCP_HEADERS)
        assert status == 200 and b"abstractruntime-mcp-worker" in body
        # origin and host checks still apply without a token
        assert (
            raw(worker, "POST", json.dumps(INIT).encode(), {**MCP_HEADERS, "Origin": "https://x.example"})[0]
            == 403
        )
    finally:
        stop(worker)
    assert "auth: none" in worker.logs()
