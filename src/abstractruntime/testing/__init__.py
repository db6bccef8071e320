"""Test helpers shipped with AbstractRuntime.

* :class:`FakeClock` — a clock you move by hand: pass it as ``Runtime(clock=...)`` and jump past a
  ``WAIT_UNTIL`` deadline or through retry backoffs without sleeping.
* :class:`ScriptedLLM`, :class:`ScriptedTools`, :func:`scripted_handlers` — deterministic LLM_CALL and
  TOOL_CALLS effect handlers that record their calls (see :mod:`.doubles`).
"""

from .clock import FakeClock
from .doubles import ScriptedLLM, ScriptedTools, schema_example, scripted_handlers

__all__ = ["FakeClock", "ScriptedLLM", "ScriptedTools", "schema_example", "scripted_handlers"]
