"""Test helpers shipped with AbstractRuntime.

* :class:`FakeClock` — a clock you move by hand: pass it as ``Runtime(clock=...)`` and jump past a
  ``WAIT_UNTIL`` deadline or through retry backoffs without sleeping.
* :class:`ScriptedLLM`, :class:`ScriptedTools`, :func:`scripted_handlers` — deterministic LLM_CALL and
  TOOL_CALLS effect handlers that record their calls (see :mod:`.doubles`).
* :class:`OpenAIStubServer` — a loopback OpenAI-compatible chat and media server, scripted turn by turn, that
  records every request (see :mod:`.openai_stub`; standard library only); :func:`image_generation` and
  :func:`multipart_fields` script image answers and read multipart uploads.
* :func:`abstractruntime.testing.cli.run_cli` — the ``abstractruntime`` command in a subprocess, isolated from
  the caller's store/LLM environment and config file.
"""

from .clock import FakeClock
from .doubles import ScriptedLLM, ScriptedTools, schema_example, scripted_handlers
from .openai_stub import OpenAIStubServer, StubResponse, chat_completion, image_generation, multipart_fields

__all__ = [
    "FakeClock",
    "OpenAIStubServer",
    "ScriptedLLM",
    "ScriptedTools",
    "StubResponse",
    "chat_completion",
    "image_generation",
    "multipart_fields",
    "schema_example",
    "scripted_handlers",
]
