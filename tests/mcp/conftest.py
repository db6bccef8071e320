"""Fixtures of the MCP worker tests: a workspace, a fake SMTP server and a fake IMAP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from worker_helpers import FakeIMAP, FakeSMTP, IMAPHandler, SMTPHandler, serving

MAILBOX = {
    3: b"From: Alice <alice@example.org>\r\nTo: bot@example.org\r\nSubject: Lunch?\r\n"
    b"Date: Sat, 05 Dec 2026 12:00:00 +0000\r\n\r\nNoon at the usual place.\r\n",
    7: b"From: Bob <bob@example.org>\r\nTo: bot@example.org\r\nSubject: Invoice\r\n"
    b"Date: Sun, 06 Dec 2026 09:30:00 +0000\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease pay 10 EUR.\r\n"
    b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Please pay</p>\r\n--b1--\r\n",
}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with ``notes.txt`` (``hello``)."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("hello\n", encoding="utf-8")
    return root


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    """A running :class:`FakeSMTP`."""
    fake = FakeSMTP()
    with serving(SMTPHandler, fake):
        yield fake


@pytest.fixture
def imap() -> Iterator[FakeIMAP]:
    """A running :class:`FakeIMAP` over :data:`MAILBOX`."""
    fake = FakeIMAP(dict(MAILBOX))
    with serving(IMAPHandler, fake):
        yield fake
