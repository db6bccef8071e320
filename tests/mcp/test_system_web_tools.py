"""The worker's ``system`` (execute_command) and ``web`` (fetch_url) toolsets."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from abstractruntime.integrations.abstractcore._system_web_tools import FetchRefused, SystemTools, WebTools
from abstractruntime.integrations.abstractcore.default_tools import _policy
from abstractruntime.integrations.abstractcore.tool_executor import MappingToolExecutor, ToolApprovalPolicy
from abstractruntime.visualflow_compiler.nodes.workspace import WorkspaceError


def system(ws: Path) -> SystemTools:
    return SystemTools(_policy(str(ws), None, None, None))


def test_execute_command_runs_in_the_workspace(ws: Path) -> None:
    (ws / "sub").mkdir()
    result = system(ws).execute_command("pwd && cat ../notes.txt", working_directory="sub")
    assert result["ok"] is True and result["returncode"] == 0
    assert result["stdout"].splitlines() == [str((ws / "sub").resolve()), "hello"]


def test_execute_command_failure_timeout_and_directory(ws: Path) -> None:
    failed = system(ws).execute_command("echo oops >&2; exit 3")
    assert failed["ok"] is False and failed["returncode"] == 3 and failed["stderr"].strip() == "oops"
    slow = system(ws).execute_command("sleep 30 & sleep 30", timeout_s=1)
    assert slow["ok"] is False and slow["timed_out"] is True
    with pytest.raises(WorkspaceError):
        system(ws).execute_command("ls", working_directory="..")
    with pytest.raises(ValueError, match="non-empty"):
        system(ws).execute_command("  ")


def test_execute_command_does_not_pass_secrets(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABSTRACT_WORKER_TOKEN", "tok")
    monkeypatch.setenv("ABSTRACT_EMAIL_PASSWORD", "pw")
    monkeypatch.setenv("MY_SAFE_VALUE", "visible")
    out = system(ws).execute_command("env")["stdout"]
    assert "MY_SAFE_VALUE=visible" in out
    assert "ABSTRACT_WORKER_TOKEN" not in out and "ABSTRACT_EMAIL_PASSWORD" not in out


def test_execute_command_needs_approval_fetch_url_does_not() -> None:
    policy = ToolApprovalPolicy()
    assert policy.call_requires_approval({"name": "execute_command"})
    assert not policy.call_requires_approval({"name": "fetch_url"})


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/page?x=1")
            self.end_headers()
            return
        if self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        status = 404 if self.path == "/missing" else 200
        body = f"path={self.path} host={self.headers['Host']}".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_fetch_url_refuses_private_addresses(site: str) -> None:
    web = WebTools()
    for url in (
        f"{site}/page",
        "http://127.0.0.1:9/",
        "http://[::1]/",
        "http://169.254.169.254/latest/",
        "http://10.1.2.3/",
    ):
        with pytest.raises(FetchRefused, match="non-public"):
            web.fetch_url(url)
    for url in ("file:///etc/passwd", "ftp://example.org/x", "gopher://x/"):
        with pytest.raises(FetchRefused, match="only http and https"):
            web.fetch_url(url)


def test_fetch_url_reads_text_and_follows_redirects(site: str) -> None:
    web = WebTools(allow_private=True)
    page = web.fetch_url(f"{site}/redirect")
    assert page["ok"] is True and page["url"] == f"{site}/page?x=1"
    assert page["text"].startswith("path=/page?x=1 host=localhost:")  # Host is the name, not the address
    truncated = web.fetch_url(f"{site}/page", max_bytes=5)
    assert truncated["text"] == "path=" and truncated["truncated"] is True
    missing = MappingToolExecutor({"fetch_url": web.fetch_url}).execute(
        tool_calls=[{"id": "1", "name": "fetch_url", "arguments": {"url": f"{site}/missing"}}]
    )["results"][0]
    assert missing["success"] is False and "404" in missing["error"]


def test_fetch_url_checks_every_redirect_hop(site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    web = WebTools(allow_private=True)
    checked: list[str] = []
    original = web._address

    def strict(host: str, port: int) -> str:
        checked.append(host)
        if host != "localhost":
            raise FetchRefused(f"{host!r} resolves to a non-public address; not fetched")
        return original(host, port)

    monkeypatch.setattr(web, "_address", strict)
    with pytest.raises(FetchRefused, match=r"169\.254\.169\.254"):
        web.fetch_url(f"{site}/to-metadata")
    assert checked == ["localhost", "169.254.169.254"]
