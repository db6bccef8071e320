"""Fixtures of the MCP worker tests: a workspace and a fake SMTP server."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from worker_helpers import FakeSMTP, SMTPHandler


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with ``notes.txt`` (``hello``)."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("hello\n", encoding="utf-8")
    return root


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    """A running :class:`FakeSMTP` (stopped afterwards)."""
    fake = FakeSMTP()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.daemon_threads = True
    server.fake = fake  # type: ignore[attr-defined]
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()
