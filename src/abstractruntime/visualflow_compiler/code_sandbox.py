"""Run code-node requests in a long-lived child process under OS limits (the parent side).

Design: one worker process per (memory limit, unsafe) pair, at most two per host process, each used by one
call at a time under a lock.  The worker (``code_worker``) is ``python -I -S`` (no site-packages, no
``PYTHON*`` variables), started in a new session (``setsid``, so a kill reaches any grandchild) with ``cwd``
``/``, a minimal environment (``PATH`` only), no inherited fds but its pipes, stderr to ``/dev/null``; it
sets its own ``RLIMIT_AS``/``CORE``/``FSIZE``/``NOFILE``/``NPROC`` and a per-call ``RLIMIT_CPU``.

Per call the parent sends one JSON line and waits for one JSON line with ``poll`` until the wall-clock
deadline.  On a timeout, an oversized reply, a dead worker or any exception while talking to it, the parent
kills the process group (``SIGKILL``), reaps it, raises a typed error and starts the next worker at once (it
imports while the host goes on); start-up time is not charged to a call.  Restricted and unsafe code never
share a worker, so trusted code cannot change the worker that runs untrusted code.  A forked host forgets
its parent's workers; ``atexit`` kills them.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .code_errors import CodeNodeError, CodeNodeLimitError
from .code_limits import CodeLimits
from .code_worker import BOOTSTRAP, EXIT_MEMORY

__all__ = ["STARTUP_TIMEOUT_S", "call_worker", "shutdown_workers"]

STARTUP_TIMEOUT_S = 30.0
"""Seconds a new worker may take to import and report ready (a hang is treated as a crash)."""

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
_READ_CHUNK = 1 << 16
_DEATH_CHECK_S = 0.1
"""While waiting for a reply, seconds between checks that the worker is still alive."""


class _Dead(Exception):
    """The worker stopped answering: timed out, died, or sent an oversized reply."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "wall", "output", "exit" or "startup"


class _Worker:
    """One child process and its two pipes (parent ends: ``write_fd`` -> child stdin, ``read_fd`` <- stdout)."""

    def __init__(self, memory_bytes: int) -> None:
        config = json.dumps({"memory_bytes": memory_bytes})
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", BOOTSTRAP, _PACKAGE_DIR, config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
            cwd="/",
            env={"PATH": os.defpath},
            bufsize=0,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.write_fd = self.proc.stdin.fileno()
        self.read_fd = self.proc.stdout.fileno()
        os.set_blocking(self.write_fd, False)
        self.owner_pid = os.getpid()
        self.ready = False

    def _read_line(self, deadline: float, max_bytes: int, reason: str) -> bytes:
        buffer = bytearray()
        poller = select.poll()
        poller.register(self.read_fd, select.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Dead(reason)
            if not poller.poll(min(remaining, _DEATH_CHECK_S) * 1000):
                if self.proc.poll() is not None:
                    raise _Dead("exit")  # dead, but a process it forked still holds the pipe open
                continue
            chunk = os.read(self.read_fd, _READ_CHUNK)
            if not chunk:
                raise _Dead("exit")
            buffer += chunk
            if chunk.endswith(b"\n"):
                return bytes(buffer)
            if len(buffer) > max_bytes:
                raise _Dead("output")

    def _write(self, data: bytes, deadline: float) -> None:
        poller = select.poll()
        poller.register(self.write_fd, select.POLLOUT)
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise _Dead("wall")
            try:
                view = view[os.write(self.write_fd, view) :]
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise _Dead("exit") from None

    def request(self, data: bytes, limits: CodeLimits) -> bytes:
        """Send one request line, return the reply line; raises _Dead (the worker must then be killed)."""
        if not self.ready:
            self._read_line(time.monotonic() + STARTUP_TIMEOUT_S, 1024, "startup")
            self.ready = True
        deadline = time.monotonic() + limits.wall_seconds
        self._write(data, deadline)
        return self._read_line(deadline, limits.output_bytes + 4096, "wall")

    def kill(self, grace_s: float = 0.0) -> int | None:
        """Give the worker ``grace_s`` seconds to exit by itself (a worker whose pipe closed is usually
        dying of its own limit: its real status tells which), then SIGKILL its process group, reap it and
        close the pipes.  Returns its exit status (negative: the signal)."""
        if self.owner_pid != os.getpid():
            return None  # a forked copy: the process belongs to the parent
        if grace_s > 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace_s)
        # Always: the worker may be gone while processes it started live on in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        status = self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        return status


_LOCK = threading.Lock()
_WORKERS: dict[tuple[int, bool], _Worker] = {}


def _worker_for(key: tuple[int, bool]) -> _Worker:
    worker = _WORKERS.get(key)
    if worker is None or worker.owner_pid != os.getpid() or worker.proc.poll() is not None:
        if worker is not None:
            worker.kill()
        for other_key in [k for k in _WORKERS if k[1] == key[1] and k != key]:
            _WORKERS.pop(other_key).kill()  # the memory limit changed: one worker per mode
        worker = _WORKERS[key] = _Worker(key[0])
    return worker


def _limit_error(reason: str, status: int | None, limits: CodeLimits, node_id: str | None) -> CodeNodeError:
    """The typed error for a worker that had to be killed or died on its own."""
    if reason == "wall":
        message = f"code node exceeded the wall-clock limit ({limits.wall_seconds:g} s) and was killed"
        return CodeNodeLimitError(message, limit="wall", limit_value=limits.wall_seconds, node_id=node_id)
    if reason == "output":
        message = f"code node result is larger than the output limit ({limits.output_mb:g} MiB)"
        return CodeNodeLimitError(message, limit="output", limit_value=limits.output_mb, node_id=node_id)
    if status in (-signal.SIGXCPU, -signal.SIGPROF):
        message = f"code node exceeded the CPU limit ({limits.cpu_seconds:g} s) and was stopped"
        return CodeNodeLimitError(message, limit="cpu", limit_value=limits.cpu_seconds, node_id=node_id)
    if status in (EXIT_MEMORY, -signal.SIGKILL):
        message = f"code node exhausted the memory limit ({limits.memory_mb} MiB) and was stopped"
        return CodeNodeLimitError(message, limit="memory", limit_value=limits.memory_mb, node_id=node_id)
    what = f"signal {-status}" if status is not None and status < 0 else f"exit status {status}"
    if reason == "startup":
        return CodeNodeError(f"code worker failed to start ({what})", node_id=node_id)
    return CodeNodeError(f"code worker died unexpectedly ({what})", node_id=node_id)


def _reply_error(reply: dict[str, Any], limits: CodeLimits, node_id: str | None) -> CodeNodeError:
    message = str(reply.get("message") or "code node failed")
    limit = reply.get("limit")
    if isinstance(limit, str):
        value: float | None = {"memory": float(limits.memory_mb), "output": limits.output_mb}.get(limit)
        if limit == "steps":
            value = float(limits.max_steps)
        return CodeNodeLimitError(message, limit=limit, limit_value=value, node_id=node_id)
    kind = reply.get("kind")
    known = ("syntax", "forbidden", "budget", "missing_function", "runtime", "result")
    return CodeNodeError(message, kind=kind if kind in known else "runtime", node_id=node_id)


def call_worker(request: dict[str, Any], limits: CodeLimits, *, unsafe: bool, node_id: str | None) -> Any:
    """Run ``request`` (see ``code_worker``) in a worker under ``limits`` and return the result.

    Raises:
        CodeNodeLimitError: a limit was hit (``limit`` = ``cpu``, ``memory``, ``wall``, ``output``, ``steps``
            or ``time``); the worker was killed or recycled when it had to be.
        CodeNodeError: the code failed, or its inputs or result are not JSON-safe.
    """
    request = {**request, "cpu_seconds": limits.cpu_seconds, "max_output_bytes": limits.output_bytes}
    try:
        data = json.dumps(request, separators=(",", ":")).encode("utf-8") + b"\n"
    except (TypeError, ValueError) as exc:
        raise CodeNodeError(f"code node inputs are not JSON-safe: {exc}", node_id=node_id) from None
    key = (limits.memory_bytes, unsafe)
    with _LOCK:
        worker = _worker_for(key)
        try:
            line = worker.request(data, limits)
        except _Dead as dead:
            status = worker.kill(grace_s=1.0 if dead.reason == "exit" else 0.0)
            _WORKERS[key] = _Worker(key[0])  # warm up the next one now
            raise _limit_error(dead.reason, status, limits, node_id) from None
        except BaseException:
            worker.kill()
            del _WORKERS[key]
            raise
        try:
            reply = json.loads(line)
        except ValueError:
            reply = {"ok": False, "kind": "runtime", "message": "code worker sent an invalid reply"}
            reply["recycle"] = True
        if reply.get("recycle"):
            worker.kill(grace_s=1.0)
            _WORKERS[key] = _Worker(key[0])
    if reply.get("ok"):
        return reply.get("result")
    raise _reply_error(reply, limits, node_id)


def shutdown_workers() -> None:
    """Kill every worker of this process (registered with ``atexit``; safe to call at any time)."""
    with _LOCK:
        while _WORKERS:
            _WORKERS.popitem()[1].kill()


_INHERITED: list[_Worker] = []
"""Workers of the parent, seen by a forked child: kept referenced (never killed, never collected)."""


def _forget_after_fork() -> None:
    global _LOCK  # noqa: PLW0603 - the parent's lock may be held by a thread that does not exist here
    _LOCK = threading.Lock()
    _INHERITED.extend(_WORKERS.values())
    _WORKERS.clear()


atexit.register(shutdown_workers)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
