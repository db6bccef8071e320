"""``core.logs.LazyLogger``: the kernel's loggers load :mod:`logging` late but log like the real ones."""

from __future__ import annotations

import logging

import pytest

from abstractruntime.core.logs import LazyLogger


def test_messages_reach_the_named_logger_with_the_callers_location(caplog: pytest.LogCaptureFixture) -> None:
    log = LazyLogger("abstractruntime.test_logs")
    with caplog.at_level(logging.DEBUG, logger="abstractruntime.test_logs"):
        log.debug("d %s", 1)
        log.info("i %s", 2)
        log.warning("w %s", 3)
        log.error("e %s", 4)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("x %s", 5)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "d 1"),
        ("INFO", "i 2"),
        ("WARNING", "w 3"),
        ("ERROR", "e 4"),
        ("ERROR", "x 5"),
    ]
    assert {r.name for r in caplog.records} == {"abstractruntime.test_logs"}
    assert {r.filename for r in caplog.records} == {"test_logs.py"}  # the caller, not core/logs.py
    assert caplog.records[-1].exc_info is not None
    assert log.logger is logging.getLogger("abstractruntime.test_logs")
