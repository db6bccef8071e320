"""Attack replays: code from a flow cannot escape the host's CPU, memory and wall-clock limits.

Code nodes run in a worker process under OS limits (``code_sandbox``).  Each test runs hostile code with real
processes and small host limits (1 s CPU, 256 MiB, a few seconds of wall clock) and checks that it is stopped
quickly with a ``CodeLimitExceededError`` (or refused by the restricted language), that the host process
neither hangs nor grows, that the next call gets a fresh worker, and that nothing in a flow file can raise
the limits.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Runtime
from abstractruntime.core.models import RunStatus
from abstractruntime.errors import CodeLimitConfigError, CodeLimitExceededError
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.visualflow_compiler import compile_visualflow
from abstractruntime.visualflow_compiler.code_errors import CodeNodeError
from abstractruntime.visualflow_compiler.code_limits import CodeLimits, configure_code_limits
from abstractruntime.visualflow_compiler.code_runner import run_code_node

HOST_LIMITS = CodeLimits(cpu_seconds=1.0, memory_mb=256, wall_seconds=4.0)
"""Small host limits: every CPU attack must stop in about 1 s, far below the 4 s wall clock."""

ENDLESS_LOOP = "def transform(d):\n    while True:\n        pass\n"
TRACE_ESCAPE = (
    "def transform(d):\n"
    "    def dive(n):\n"
    "        return dive(n + 1)\n"
    "    try:\n"
    "        dive(0)\n"  # the RecursionError hits inside the trace hook: Python switches tracing off
    "    except Exception:\n"
    "        pass\n"
    "    n = 0\n"
    "    while True:\n"
    "        n += 1\n"
)
SLEEP = "import time\n\ndef transform(d):\n    time.sleep(60)\n"
DEAF_LOOP = (  # trusted code that ignores the CPU signals: only the parent's SIGKILL stops it
    "import signal\n\ndef transform(d):\n"
    "    signal.signal(signal.SIGPROF, signal.SIG_IGN)\n"
    "    signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
    "    while True:\n"
    "        pass\n"
)

ATTACKS: dict[str, str] = {
    "ljust_3gb": "return 'x'.ljust(3_000_000_000)",
    "center_3gb": "return 'x'.center(3_000_000_000)",
    "zfill_3gb": "return '1'.zfill(3_000_000_000)",
    "fstring_width": "x = 1\n    return f'{x:>3000000000}'",
    "format_width": "return '{:>3000000000}'.format(1)",
    "percent_width": "return '%3000000000d' % 1",
    "replace_blowup": "s = 'a' * 5_000_000\n    return s.replace('a', 'b' * 100)",
    "join_blowup": "return ('x' * 1000).join(['y'] * 5_000_000)",
    "doubling": "s = 'ab'\n    for _ in range(64):\n        s = s + s\n    return len(s)",
    "power_tower": "return 10**10**9",
    "repeated_squaring": "x = 10\n    for _ in range(40):\n        x = x * x\n    return 1",
    "huge_result": "return ['x' * 1000] * 20_000",
}


@pytest.fixture(autouse=True)
def host_limits() -> Iterator[CodeLimits]:
    configure_code_limits(HOST_LIMITS)
    yield HOST_LIMITS
    configure_code_limits(None)


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def _timed(code: str, **kwargs: Any) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        run_code_node(code=code, function_name=None, inputs={}, **kwargs)
    except CodeNodeError as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def _limit(error: BaseException | None) -> str:
    assert isinstance(error, CodeLimitExceededError), f"expected a limit error, got {error!r}"
    assert isinstance(error, CodeNodeError) and error.kind == "budget"
    return error.limit


def _code_flow(code: str, **node_data: Any) -> dict[str, Any]:
    exec_in, exec_out = {"id": "exec-in", "type": "execution"}, {"id": "exec-out", "type": "execution"}
    pin = {"id": "input", "type": "any"}
    return {
        "id": "hostile_code",
        "name": "hostile_code",
        "nodes": [
            {"id": "start", "type": "on_flow_start", "data": {"inputs": [], "outputs": [exec_out]}},
            {
                "id": "fn",
                "type": "code",
                "data": {"inputs": [exec_in, pin], "outputs": [exec_out, pin], "code": code, **node_data},
            },
        ],
        "edges": [{"source": "start", "sourceHandle": "exec-out", "target": "fn", "targetHandle": "exec-in"}],
    }


def _run_flow(doc: dict[str, Any], vars: dict[str, Any] | None = None) -> tuple[Any, float]:
    spec = compile_visualflow(doc)
    registry = WorkflowRegistry()
    registry.register(spec)
    runtime = Runtime(
        run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore(), workflow_registry=registry
    )
    run_id = runtime.start(workflow=spec, vars=vars or {})
    started = time.monotonic()
    state = runtime.tick(workflow=spec, run_id=run_id, max_steps=20)
    return state, time.monotonic() - started


def _assert_failed_on(state: Any, words: str) -> None:
    assert state.status == RunStatus.COMPLETED
    assert state.output["success"] is False and state.output["node"] == "fn"
    assert "CodeNodeLimitError" in state.output["error"] and words in state.output["error"]


# ------------------------------------------------------------------------------------- endless loops
def test_endless_loop_fails_the_run_within_the_cpu_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABSTRACTRUNTIME_ALLOW_UNSAFE_CODE", "1")  # no step budget: only the OS limit
    state, seconds = _run_flow(_code_flow(ENDLESS_LOOP))
    _assert_failed_on(state, "CPU limit (1 s)")
    assert seconds < 3.0


def test_restricted_endless_loop_fails_the_run_with_a_limit_error() -> None:
    state, seconds = _run_flow(_code_flow(ENDLESS_LOOP))
    assert state.output["success"] is False and "CodeNodeLimitError" in state.output["error"]
    assert seconds < 3.0


def test_recursion_error_in_the_trace_hook_cannot_switch_off_the_limits() -> None:
    error, seconds = _timed(TRACE_ESCAPE)
    assert _limit(error) == "cpu" and seconds < 3.0


@pytest.mark.parametrize("code", [SLEEP, DEAF_LOOP], ids=["sleep", "ignores_cpu_signals"])
def test_wall_clock_kills_code_that_does_not_use_cpu_or_ignores_its_signals(code: str) -> None:
    limits = CodeLimits(cpu_seconds=30, memory_mb=256, wall_seconds=1.5)
    error, seconds = _timed(code, allow_unsafe=True, limits=limits)
    assert _limit(error) == "wall" and 1.4 < seconds < 3.0


# ---------------------------------------------------------------------------------------- C-level bombs
@pytest.mark.parametrize("unsafe", [False, True], ids=["restricted", "unsafe"])
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_c_level_bombs_are_stopped_quickly(name: str, unsafe: bool) -> None:
    error, seconds = _timed("def transform(d):\n    " + ATTACKS[name] + "\n", allow_unsafe=unsafe)
    if isinstance(error, CodeNodeError) and error.kind == "forbidden":
        return  # refused by the restricted language before running
    assert _limit(error) in {"memory", "cpu", "output"}
    assert seconds < 3.0


def test_host_memory_does_not_grow() -> None:
    _timed("def transform(d):\n    return 1\n")
    before = _rss_kib()
    for name in ("ljust_3gb", "replace_blowup", "join_blowup", "doubling", "huge_result"):
        for unsafe in (False, True):
            _timed("def transform(d):\n    " + ATTACKS[name] + "\n", allow_unsafe=unsafe)
    grown_mib = (_rss_kib() - before) / 1024
    assert grown_mib < 20, f"host RSS grew by {grown_mib:.1f} MiB"


# ------------------------------------------------------------------------------------------- recovery
def test_after_a_kill_the_next_call_gets_a_fresh_worker() -> None:
    get_pid = "import os\n\ndef transform(d):\n    return os.getpid()\n"
    first = run_code_node(code=get_pid, function_name=None, inputs={}, allow_unsafe=True)
    error, _ = _timed(ENDLESS_LOOP, allow_unsafe=True)
    assert _limit(error) == "cpu"
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)
    second = run_code_node(code=get_pid, function_name=None, inputs={}, allow_unsafe=True)
    assert second != first
    assert (
        run_code_node(code="def transform(d):\n    return d['x'] + 1\n", function_name=None, inputs={"x": 1})
        == 2
    )


def test_processes_started_by_the_code_die_with_the_worker() -> None:
    spawn = (
        "import os, time\n\ndef transform(d):\n"
        "    try:\n        pid = os.fork()\n    except OSError:\n        return None\n"
        "    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    return pid\n"
    )
    grandchild = run_code_node(code=spawn, function_name=None, inputs={}, allow_unsafe=True)
    if grandchild is None:
        return  # RLIMIT_NPROC refused the fork (not root): nothing can outlive the worker
    error, _ = _timed(ENDLESS_LOOP, allow_unsafe=True)
    assert _limit(error) == "cpu"
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{grandchild}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return
        if state in ("Z", "X"):
            return  # killed, waiting for init to reap it
        time.sleep(0.05)
    raise AssertionError(f"process {grandchild} started by the code outlived the worker")


# -------------------------------------------------------------------------------- limits are the host's
LIMIT_LOOKING = {
    "cpu_seconds": 1000,
    "cpuSeconds": 1000,
    "memory_mb": 100_000,
    "memoryMb": 100_000,
    "wall_seconds": 1000,
    "wallSeconds": 1000,
    "timeout": 1000,
    "timeout_s": 1000,
    "max_steps": 10**12,
    "maxSteps": 10**12,
    "limits": {"cpu_seconds": 1000, "memory_mb": 100_000, "wall_seconds": 1000},
    "allow_unsafe": True,
    "allowUnsafe": True,
}


def test_a_flow_file_cannot_raise_its_limits() -> None:
    doc = _code_flow(TRACE_ESCAPE, **LIMIT_LOOKING)
    doc.update(LIMIT_LOOKING)
    vars = {"_limits": dict(LIMIT_LOOKING), "limits": dict(LIMIT_LOOKING), **LIMIT_LOOKING}
    state, seconds = _run_flow(doc, vars)
    _assert_failed_on(state, "CPU limit (1 s)")
    assert seconds < 3.0
    unsafe_probe = _code_flow("import os\n\ndef transform(d):\n    return os.getpid()\n", **LIMIT_LOOKING)
    refused, _ = _run_flow(unsafe_probe, vars)
    assert refused.output["success"] is False and "not allowed" in refused.output["error"]


# --------------------------------------------------------------------------------- host configuration
def test_environment_variables_set_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_code_limits(None)
    monkeypatch.setenv("ABSTRACTRUNTIME_CODE_CPU_SECONDS", "0.5")
    monkeypatch.setenv("ABSTRACTRUNTIME_CODE_MEMORY_MB", "128")
    monkeypatch.setenv("ABSTRACTRUNTIME_CODE_WALL_SECONDS", "3")
    assert CodeLimits.from_env() == CodeLimits(cpu_seconds=0.5, memory_mb=128, wall_seconds=3)
    error, seconds = _timed(ENDLESS_LOOP, allow_unsafe=True)
    assert _limit(error) == "cpu" and error.limit_value == 0.5 and seconds < 2.0  # type: ignore[union-attr]
    error, _ = _timed("def transform(d):\n    return len(bytearray(200 * 1024 * 1024))\n", allow_unsafe=True)
    assert _limit(error) == "memory"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("ABSTRACTRUNTIME_CODE_CPU_SECONDS", "abc"),
        ("ABSTRACTRUNTIME_CODE_CPU_SECONDS", "-1"),
        ("ABSTRACTRUNTIME_CODE_WALL_SECONDS", "inf"),
        ("ABSTRACTRUNTIME_CODE_MEMORY_MB", "1.5"),
        ("ABSTRACTRUNTIME_CODE_MEMORY_MB", "16"),
        ("ABSTRACTRUNTIME_CODE_OUTPUT_MB", "0"),
    ],
)
def test_invalid_environment_values_raise_a_typed_error(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    configure_code_limits(None)
    monkeypatch.setenv(var, value)
    with pytest.raises(CodeLimitConfigError) as info:
        run_code_node(code="def transform(d):\n    return 1\n", function_name=None, inputs={})
    assert isinstance(info.value, ValueError) and info.value.setting == var and var in str(info.value)
