"""A manually driven clock for tests (ARCHITECTURE principle 5)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from ..core.clock import parse_iso

__all__ = ["FakeClock"]


class FakeClock:
    """A clock that only moves when told to.

    Args:
        start: the initial time, a datetime (naive = UTC) or an ISO-8601 string; default
            2026-01-01T00:00:00+00:00.

    ``sleep(seconds)`` advances the clock instead of blocking and records the duration in
    :attr:`sleeps`, so retry backoffs can be asserted.
    """

    def __init__(self, start: datetime | str | None = None) -> None:
        if start is None:
            start = datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._now = parse_iso(start) if isinstance(start, str) else _utc(start)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        """The current fake time (tz-aware UTC)."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` (a negative value counts as 0) and record it in :attr:`sleeps`."""
        with self._lock:
            self.sleeps.append(seconds)
            self._now += timedelta(seconds=max(seconds, 0.0))

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move forward by ``seconds`` plus any ``timedelta`` keywords (``minutes=5``); returns the new time.

        Raises:
            ValueError: the move would go backwards.
        """
        step = timedelta(seconds=seconds, **delta)
        if step < timedelta(0):
            raise ValueError("FakeClock cannot move backwards; use set() to jump to an earlier time")
        with self._lock:
            self._now += step
            return self._now

    def set(self, moment: datetime | str) -> None:
        """Jump to ``moment`` (a datetime or an ISO-8601 string)."""
        with self._lock:
            self._now = parse_iso(moment) if isinstance(moment, str) else _utc(moment)

    def iso(self) -> str:
        """The current fake time as an ISO-8601 string."""
        return self.now().isoformat()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
