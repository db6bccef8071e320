"""Test helpers shipped with AbstractRuntime.

* :class:`FakeClock` — a clock you move by hand: pass it as ``Runtime(clock=...)`` and jump past a
  ``WAIT_UNTIL`` deadline or through retry backoffs without sleeping.
"""

from .clock import FakeClock

__all__ = ["FakeClock"]
