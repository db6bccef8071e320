"""Helpers of the MCP worker tests: worker environment and launcher, a fake SMTP server."""

from __future__ import annotations

import os
import re
import socketserver
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

COMMS_FLAGS = (
    "ABSTRACT_ENABLE_COMMS_TOOLS",
    "ABSTRACT_ENABLE_EMAIL_TOOLS",
    "ABSTRACT_ENABLE_WHATSAPP_TOOLS",
    "ABSTRACT_ENABLE_TELEGRAM_TOOLS",
)
WORKER = [sys.executable, "-m", "abstractruntime.integrations.abstractcore.mcp_worker"]
TOKEN = "t0k3n-for-tests-" + "x" * 16


def worker_env(**extra: str) -> dict[str, str]:
    """The current environment without comms flags or worker token, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if k not in COMMS_FLAGS and not k.startswith("ABSTRACT_EMAIL_")
    }
    env.pop("ABSTRACT_WORKER_TOKEN", None)
    env.update(extra)
    return env


@dataclass
class FakeSMTP:
    """A tiny SMTP server on 127.0.0.1 (no auth, no TLS) that keeps every message it receives."""

    port: int = 0
    messages: list[dict[str, object]] = field(default_factory=list)


class SMTPHandler(socketserver.StreamRequestHandler):
    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        fake: FakeSMTP = self.server.fake  # type: ignore[attr-defined]
        self._reply("220 fake.smtp ESMTP ready")
        sender, rcpts = "", []
        while True:
            line = self.rfile.readline().decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-fake.smtp\r\n250 8BITMIME\r\n")
            elif verb == "MAIL":
                sender, rcpts = re.search(r"<(.*?)>", line).group(1), []  # type: ignore[union-attr]
                self._reply("250 OK")
            elif verb == "RCPT":
                rcpts.append(re.search(r"<(.*?)>", line).group(1))  # type: ignore[union-attr]
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 end with .")
                data = bytearray()
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                fake.messages.append({"from": sender, "to": list(rcpts), "data": bytes(data)})
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("250 OK")


@dataclass
class HttpWorker:
    """A worker serving HTTP in a subprocess; ``url`` is its ``/mcp`` endpoint."""

    process: subprocess.Popen[bytes]
    port: int
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def logs(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


def start_http_worker(tmp_path: Path, args: list[str], env: dict[str, str]) -> HttpWorker:
    """Start ``WORKER --transport http --port 0 <args>`` and wait for its "serving" line (30 s at most)."""
    stderr_path = tmp_path / f"worker-{len(list(tmp_path.glob('worker-*')))}.log"
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [*WORKER, "--transport", "http", "--port", "0", *args], env=env, stderr=err
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"on http://127\.0\.0\.1:(\d+)/mcp", stderr_path.read_text(errors="replace"))
        if found and "startup complete" in stderr_path.read_text(errors="replace"):
            return HttpWorker(process, int(found.group(1)), stderr_path)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise AssertionError(f"worker did not start:\n{stderr_path.read_text(errors='replace')}")


def stop(worker: HttpWorker) -> None:
    """Terminate the worker and wait for it."""
    worker.process.terminate()
    try:
        worker.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()
