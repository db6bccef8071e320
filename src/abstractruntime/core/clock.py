"""Time for the runtime: an injectable clock and ISO-8601 helpers.

Every "now" the kernel uses comes from a :class:`Clock`, so tests can move time with
:class:`abstractruntime.testing.FakeClock` instead of sleeping.  Timestamps are timezone-aware UTC
datetimes, serialised as ISO-8601 (``2026-05-21T10:00:00.123456+00:00``) and compared as datetimes,
never as strings (see ``docs/compatibility.md``).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "SYSTEM_CLOCK", "parse_iso", "to_iso", "utc_now_iso"]


@runtime_checkable
class Clock(Protocol):
    """A source of the current time and a way to wait.

    ``now()`` returns a timezone-aware UTC datetime; ``sleep(seconds)`` blocks (or, in a fake clock,
    advances time) for ``seconds`` seconds.
    """

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real wall clock (UTC) and ``time.sleep``."""

    def now(self) -> datetime:
        """Return the current time as a tz-aware UTC datetime."""
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds`` seconds (no-op for values <= 0)."""
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


def to_iso(moment: datetime) -> str:
    """Serialise ``moment`` as ISO-8601 in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()


def utc_now_iso() -> str:
    """The current system time as a UTC ISO-8601 string (the format of every stored timestamp)."""
    return SYSTEM_CLOCK.now().isoformat()


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 timestamp into a tz-aware UTC datetime.

    Accepts a trailing ``Z`` and naive values (taken as UTC), on every supported Python.

    Raises:
        ValueError: ``value`` is not a string or not an ISO-8601 timestamp.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
