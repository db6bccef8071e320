"""Helpers of the MCP worker tests: worker environment and launcher, a fake SMTP server."""

from __future__ import annotations

import os
import re
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@dataclass
class FakeIMAP:
    """A tiny IMAP4rev1 server on 127.0.0.1 over ``mailbox`` (``{uid: raw message}``, folder INBOX).

    ``commands`` records every command verb received (``LOGIN``, ``EXAMINE``, ``UID FETCH``...); ``logins``
    the ``(user, password)`` pairs.
    """

    mailbox: dict[int, bytes]
    port: int = 0
    commands: list[str] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


class IMAPHandler(socketserver.StreamRequestHandler):
    def _send(self, text: str | bytes) -> None:
        self.wfile.write((text.encode() if isinstance(text, str) else text) + b"\r\n")

    def handle(self) -> None:
        fake: FakeIMAP = self.server.fake  # type: ignore[attr-defined]
        self._send("* OK [CAPABILITY IMAP4rev1] fake ready")
        while line := self.rfile.readline().decode().rstrip("\r\n"):
            tag, _, rest = line.partition(" ")
            parts = rest.split(" ")
            verb = parts[0].upper()
            if verb == "UID":
                verb = f"UID {parts[1].upper()}"
            fake.commands.append(verb)
            if verb == "CAPABILITY":
                self._send("* CAPABILITY IMAP4rev1")
            elif verb == "LOGIN":
                fake.logins.append((parts[1].strip('"'), parts[2].strip('"')))
                if parts[2].strip('"') == "wrong":
                    self._send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials")
                    continue
            elif verb in ("EXAMINE", "SELECT"):
                if parts[1].strip('"') != "INBOX":
                    self._send(f"{tag} NO no such folder")
                    continue
                self._send(f"* {len(fake.mailbox)} EXISTS")
                self._send("* FLAGS (\\Seen)")
            elif verb == "UID SEARCH":
                self._send("* SEARCH " + " ".join(str(uid) for uid in sorted(fake.mailbox)))
            elif verb == "UID FETCH":
                uid = int(parts[2])
                raw = fake.mailbox.get(uid)
                if raw is not None:
                    body = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" if "HEADER" in parts[3] else raw
                    section = "BODY[HEADER]" if "HEADER" in parts[3] else "BODY[]"
                    self._send(
                        f"* 1 FETCH (UID {uid} {section} {{{len(body)}}}".encode() + b"\r\n" + body + b")"
                    )
            elif verb == "LOGOUT":
                self._send("* BYE")
                self._send(f"{tag} OK LOGOUT completed")
                return
            self._send(f"{tag} OK {verb} completed")


@contextmanager
def serving(handler: type[socketserver.BaseRequestHandler], fake: FakeSMTP | FakeIMAP) -> Iterator[None]:
    """Serve ``handler`` on a free 127.0.0.1 port (set as ``fake.port``) in a thread while in the block."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.fake = fake  # type: ignore[attr-defined]
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
