"""The ``abstractruntime`` command with one host effect handler, for the recovery and soak tests.

Usage: ``python cli_host.py <abstractruntime arguments>``.  Runs the real CLI entry point after giving
every runtime it builds an LLM_CALL handler with an external side effect: it appends
``<run_id> <node_id> <op> <pid>`` to ``$SIDE_LOG`` (``os.write`` + ``fsync``) and returns
``{"op": op}``.  A random time up to ``$HOST_SLEEP_S`` seconds (default 0) is slept before and after
the write, plus ``$HOST_MIN_SLEEP_S`` seconds before it, so a SIGKILL or SIGINT can land inside the
effect.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # recovery_flows, when run from elsewhere

import abstractruntime.cli.app as cli_app
from abstractruntime import Effect, EffectType, RunState
from abstractruntime.cli.main import main
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.core.runtime import Runtime


def side_effect(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    """The host LLM_CALL handler: one durable line per execution in ``$SIDE_LOG``."""
    op = str(effect.payload.get("op"))
    pause = float(os.environ.get("HOST_SLEEP_S", "0") or 0)
    time.sleep(float(os.environ.get("HOST_MIN_SLEEP_S", "0") or 0) + random.uniform(0, pause))
    fd = os.open(os.environ["SIDE_LOG"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{run.run_id} {run.current_node} {op} {os.getpid()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    time.sleep(random.uniform(0, pause))
    return EffectOutcome.completed({"op": op})


def host_runtime(**kwargs: Any) -> Runtime:
    handlers = dict(kwargs.pop("effect_handlers", None) or {})
    handlers[EffectType.LLM_CALL] = side_effect
    return Runtime(effect_handlers=handlers, **kwargs)


cli_app.Runtime = host_runtime  # type: ignore[misc, assignment]

if __name__ == "__main__":
    sys.exit(main())
