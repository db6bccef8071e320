"""The child process that runs code-node snippets under OS limits (started by ``code_sandbox``).

Start-up (``python -I -S -c BOOTSTRAP <package dir> <config json>``): the bootstrap registers bare package
stubs so that only this module and its ``code_*`` siblings are imported (no site-packages, no
``abstractruntime/__init__``), then :func:`main`:

1. keeps private copies of stdin/stdout for the protocol and points fds 0 and 1 at ``/dev/null`` (so
   ``print`` in unsafe code cannot corrupt the protocol);
2. sets fixed limits, soft = hard so the code cannot raise them: ``RLIMIT_AS`` (``memory_bytes``),
   ``RLIMIT_CORE`` 0, ``RLIMIT_FSIZE`` 0 (no file writes), ``RLIMIT_NOFILE`` 32, ``RLIMIT_NPROC`` 0 (no
   fork or thread; not enforced for root);
3. answers ``{"ready": true}`` and serves requests, one JSON line in, one JSON line out.

Per request it arms a CPU-time timer (``ITIMER_PROF``) of the call's ``cpu_seconds`` and sets the soft
``RLIMIT_CPU`` to the CPU seconds used so far plus ``cpu_seconds`` (rounded up): the kernel stops the
process with ``SIGPROF`` (or ``SIGXCPU``) when the call overruns.  A ``MemoryError`` that
escapes the code is answered with a ``memory`` limit reply and the worker exits (``recycle``) so that its
heap is returned to the system.  The parent enforces the wall clock and kills the process group.

Request: ``{"op": "run"|"eval", "cpu_seconds", "max_steps", "timeout_s", "max_output_bytes", ...}`` plus
``code``, ``function_name``, ``inputs``, ``unsafe`` (run) or ``expression``, ``variables`` (eval).
Reply: ``{"ok": true, "result": ...}`` or ``{"ok": false, "kind", "message", "limit"?, "recycle"?}``.
"""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import sys
from typing import Any, BinaryIO

from .code_eval import CodeFailure, evaluate_snippet, run_snippet

__all__ = ["BOOTSTRAP", "EXIT_MEMORY", "main"]

BOOTSTRAP = """
import sys, types
root = sys.argv[1]
for name, path in (("abstractruntime", root), ("abstractruntime.visualflow_compiler", root + "/visualflow_compiler")):
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module
from abstractruntime.visualflow_compiler.code_worker import main
main(sys.argv[2])
"""
"""Source given to ``python -I -S -c``; argv: the ``abstractruntime`` package directory, the config JSON."""

EXIT_MEMORY = 86
"""Exit status of a worker that ran out of memory even for its error reply."""

NOFILE_LIMIT = 32
"""Open files the worker may hold (``RLIMIT_NOFILE``)."""

_MEMORY_REPLY = (
    b'{"ok": false, "kind": "budget", "limit": "memory", "recycle": true, '
    b'"message": "code node ran out of memory (address-space limit)"}\n'
)


def _take_protocol_fds() -> tuple[int, int]:
    """Duplicate stdin/stdout for the protocol and point fds 0 and 1 at /dev/null."""
    read_fd, write_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return read_fd, write_fd


def _lower(which: int, value: int) -> None:
    """Set soft = hard = ``value`` for ``which``, never above the current hard limit."""
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _apply_fixed_limits(memory_bytes: int) -> None:
    _lower(resource.RLIMIT_AS, memory_bytes)
    _lower(resource.RLIMIT_CORE, 0)
    _lower(resource.RLIMIT_FSIZE, 0)
    _lower(resource.RLIMIT_NOFILE, NOFILE_LIMIT)
    if hasattr(resource, "RLIMIT_NPROC"):
        _lower(resource.RLIMIT_NPROC, 0)


def _set_cpu_budget(cpu_seconds: float) -> None:
    """Arm the CPU budget of one call: a profiling timer (``ITIMER_PROF``, CPU time of the process, fine
    grained; its ``SIGPROF`` terminates the process) and, as a backstop, the soft ``RLIMIT_CPU`` = CPU
    seconds used so far + ``cpu_seconds`` rounded up (``SIGXCPU``; the kernel counts whole seconds).  The
    hard limit is left alone so later calls can move the soft one again."""
    signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + cpu_seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _json_problem(value: Any) -> str | None:
    """Where ``value`` is not JSON-safe (a path and a type), or None.  Tuples count as lists."""
    stack: list[tuple[str, Any]] = [("result", value)]
    while stack:
        path, item = stack.pop()
        if item is None or isinstance(item, (str, bool, int)):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return f"{path} is {item!r}"
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(item))
        elif isinstance(item, dict):
            for key, v in item.items():
                if not isinstance(key, str):
                    return f"{path} has a {type(key).__name__} key {key!r}"[:300]
                stack.append((f"{path}[{key!r}]"[:300], v))
        else:
            return f"{path} is a {type(item).__name__}"
    return None


def _failure(kind: str, message: str, limit: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"ok": False, "kind": kind, "message": message}
    if limit is not None:
        reply.update(limit=limit, recycle=True)
    return reply


def _execute(request: dict[str, Any]) -> dict[str, Any]:
    """Run one request and build its reply (before encoding)."""
    max_steps, timeout_s = int(request["max_steps"]), float(request["timeout_s"])
    try:
        if request.get("op") == "eval":
            result = evaluate_snippet(
                request["expression"], request["variables"], max_steps=max_steps, timeout_s=timeout_s
            )
        else:
            result = run_snippet(
                code=request["code"],
                function_name=request.get("function_name"),
                inputs=request["inputs"],
                unsafe=bool(request.get("unsafe")),
                max_steps=max_steps,
                timeout_s=timeout_s,
            )
    except CodeFailure as exc:
        return _failure(exc.kind, exc.message, exc.limit)
    problem = _json_problem(result)
    if problem is not None:
        return _failure("result", f"code node result is not JSON-safe: {problem}")
    return {"ok": True, "result": result}


def _encode(reply: dict[str, Any], max_bytes: int) -> tuple[bytes, bool]:
    """The reply line and whether the worker must exit after sending it."""
    data = json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(data) > max_bytes:
        mib = max_bytes / (1024 * 1024)
        reply = _failure(
            "budget", f"code node result is larger than the output limit ({mib:g} MiB)", "output"
        )
        data = json.dumps(reply).encode()
    return data + b"\n", bool(reply.get("recycle"))


def _handle(line: bytes) -> tuple[bytes, bool]:
    """One request line -> (one reply line, whether the worker must exit after sending it)."""
    try:
        request = json.loads(line)
        _set_cpu_budget(float(request["cpu_seconds"]))
        try:
            reply = _execute(request)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        return _encode(reply, int(request["max_output_bytes"]))
    except MemoryError as exc:
        return _memory_reply(exc)
    except BaseException as exc:  # noqa: BLE001 - unsafe code may raise SystemExit & co; report, keep serving
        message = f"code node failed: {type(exc).__name__}: {exc}"[:10_000]
        return json.dumps(_failure("runtime", message)).encode() + b"\n", False


def _memory_reply(exc: MemoryError) -> tuple[bytes, bool]:
    """A guard's refusal (it has a message) keeps the worker; a real allocation failure recycles it."""
    try:
        if exc.args and str(exc):
            reply = {
                **_failure("budget", f"code node stopped: {exc} (memory limit)", "memory"),
                "recycle": False,
            }
            return json.dumps(reply).encode() + b"\n", False
    except MemoryError:
        pass
    return _MEMORY_REPLY, True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _serve(reader: BinaryIO, write_fd: int) -> None:
    while True:
        line = reader.readline()
        if not line:
            return
        reply, recycle = _handle(line)
        del line
        try:
            _write_all(write_fd, reply)
        except MemoryError:
            os._exit(EXIT_MEMORY)
        if recycle:
            return


def main(config_json: str) -> None:
    """Worker entry point; ``config_json`` holds ``memory_bytes``.  Returns (exits) on EOF or recycle."""
    config = json.loads(config_json)
    read_fd, write_fd = _take_protocol_fds()
    sys.setrecursionlimit(1000)
    _apply_fixed_limits(int(config["memory_bytes"]))
    _write_all(write_fd, b'{"ready": true}\n')
    with os.fdopen(read_fd, "rb") as reader:
        _serve(reader, write_fd)
    os._exit(0)
