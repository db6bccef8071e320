"""Crash recovery through the real command line, in subprocesses.

``cli_host.py`` is the ``abstractruntime`` command plus a host LLM_CALL handler that leaves one durable
line per execution in a side-effect log.  Drivers are killed (SIGKILL) or interrupted (SIGINT) inside
the workflow of ``recovery_flows.py``; ``runs recover`` and ``scheduler serve --once`` then finish the
runs, without ever taking over a run whose driver is alive, and without running a committed effect
twice.  Lease TTLs are short (``ABSTRACTRUNTIME_LEASE_TTL_S``, 2 s, renewed every 2/3 s) so the tests
wait a few seconds, with a margin of several heartbeats for a loaded machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from abstractruntime import RunStatus
from abstractruntime.core.clock import SYSTEM_CLOCK
from abstractruntime.storage.urls import open_stores

HERE = Path(__file__).resolve().parent
HOST = HERE / "cli_host.py"
FLOWS = HERE / "recovery_flows.py"
OPS = ("e1", "e2", "e3", "e4", "e5")
ROOT_FLOWS = HERE.parents[1] / "examples" / "flows"
TTL_S = 2.0
TIMEOUT = 60


def _env(tmp_path: Path, *, sleep_s: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ABSTRACTRUNTIME_STORE"}
    env.update(
        SIDE_LOG=str(tmp_path / "side.log"),
        HOST_SLEEP_S=str(sleep_s),
        ABSTRACTRUNTIME_LEASE_TTL_S=str(TTL_S),
    )
    return env


def _cli(url: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HOST), "--store", url, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
        check=False,
        env=env,
    )


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _reap() -> Iterator[None]:
    """Kill and reap the drivers a test started, even when it fails half-way."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _start(url: str, env: dict[str, str], flow: str = "FLOW") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HOST), "--store", url, "run", f"{FLOWS}:{flow}", "-q", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    _STARTED.append(proc)
    return proc


def _side(tmp_path: Path) -> Counter[tuple[str, str]]:
    path = tmp_path / "side.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter((line.split()[0], line.split()[2]) for line in lines)


def _wait_for_effects(tmp_path: Path, n: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while sum(_side(tmp_path).values()) < n:
        assert time.monotonic() < deadline, "the driver never reached its effects"
        time.sleep(0.01)


def _only_run(url: str) -> str:
    stores = open_stores(url)
    try:
        (run,) = stores.run_store.list_runs()  # type: ignore[attr-defined]
        return run.run_id
    finally:
        stores.close()


def _sleep_until_lapsed(url: str, run_id: str) -> None:
    """Sleep until the run's lease expired (read from the store), plus a little."""
    stores = open_stores(url)
    try:
        lease = stores.lease_store.get_lease(run_id)
    finally:
        stores.close()
    assert lease is not None and lease.expires_at is not None
    remaining = (datetime.fromisoformat(lease.expires_at) - SYSTEM_CLOCK.now()).total_seconds()
    time.sleep(max(remaining, 0.0) + 0.1)


def _check_completed(url: str, env: dict[str, str], run_id: str, tmp_path: Path) -> Counter[str]:
    """The run completed with every result, its ledger verifies, and no committed effect ran twice."""
    shown = _cli(url, env, "runs", "show", run_id, "--json")
    state = json.loads(shown.stdout)
    assert state["status"] == "completed", state
    assert state["output"] == {op: op for op in OPS}
    verified = _cli(url, env, "ledger", "verify", run_id)
    assert verified.returncode == 0 and verified.stdout.startswith("ok:"), verified.stdout + verified.stderr
    stores = open_stores(url)
    try:
        ledger = stores.ledger_store.list(run_id)
    finally:
        stores.close()
    events: dict[str, list[str]] = {}
    for record in ledger:
        if (record["effect"] or {}).get("type") == "llm_call":
            events.setdefault(record["effect"]["payload"]["op"], []).append(record["status"])
    ran = Counter({op: n for (rid, op), n in _side(tmp_path).items() if rid == run_id})
    for op in OPS:
        assert events[op].count("completed") == 1, (op, events[op])
        assert events[op][-1] == "completed", (op, events[op])  # nothing started after the completion
        assert 1 <= ran[op] <= events[op].count("started"), (op, ran[op], events[op])
    return ran


@pytest.fixture(params=["sqlite", "file"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}" if request.param == "sqlite" else (tmp_path / "store").as_uri()


@pytest.mark.parametrize("recover_with", ["runs recover", "scheduler serve --once"])
def test_a_sigkilled_run_is_recovered(url: str, recover_with: str, tmp_path: Path) -> None:
    env = _env(tmp_path, sleep_s=0.4)
    driver = _start(url, env)
    _wait_for_effects(tmp_path, 2)
    driver.send_signal(signal.SIGKILL)
    driver.communicate(timeout=TIMEOUT)
    assert driver.returncode == -signal.SIGKILL
    run_id = _only_run(url)
    env["HOST_SLEEP_S"] = "0"
    early = _cli(url, env, "runs", "recover", run_id)  # the dead driver's lease has not lapsed yet
    assert early.returncode == 2 and "leased by" in early.stdout, early.stdout + early.stderr
    _sleep_until_lapsed(url, run_id)
    if recover_with == "runs recover":
        done = _cli(url, env, "runs", "recover", run_id)
        assert done.returncode == 0 and done.stdout.startswith(f"recovered {run_id}"), (
            done.stdout + done.stderr
        )
    else:
        done = _cli(url, env, "scheduler", "serve", "--once")
        assert done.returncode == 0 and "advanced 1 run(s)" in done.stdout, done.stdout + done.stderr
    _check_completed(url, env, run_id, tmp_path)


def test_ctrl_c_releases_the_lease_so_recovery_starts_at_once(url: str, tmp_path: Path) -> None:
    env = _env(tmp_path, sleep_s=0.4)
    env["ABSTRACTRUNTIME_LEASE_TTL_S"] = "600"  # recovery could only start after a release
    driver = _start(url, env)
    _wait_for_effects(tmp_path, 2)
    driver.send_signal(signal.SIGINT)
    _out, err = driver.communicate(timeout=TIMEOUT)
    assert driver.returncode != 0, err
    run_id = _only_run(url)
    stores = open_stores(url)
    try:
        state = stores.run_store.load(run_id)
        lease = stores.lease_store.get_lease(run_id)
    finally:
        stores.close()
    assert state is not None and state.status == RunStatus.RUNNING
    assert lease is not None and lease.owner is None  # released, kept for recovery
    env["HOST_SLEEP_S"] = "0"
    done = _cli(url, env, "runs", "recover")
    assert done.returncode == 0 and f"recovered {run_id}: now completed" in done.stdout, (
        done.stdout + done.stderr
    )
    _check_completed(url, env, run_id, tmp_path)


def test_a_live_drivers_run_is_never_taken_over(url: str, tmp_path: Path) -> None:
    env = _env(tmp_path, sleep_s=0)
    env["HOST_MIN_SLEEP_S"] = "1.2"  # 6 s of effects, 3 TTLs: only the heartbeat keeps the lease live
    driver = _start(url, env)
    _wait_for_effects(tmp_path, 1)
    run_id = _only_run(url)
    time.sleep(TTL_S * 1.5)
    other = dict(env, HOST_MIN_SLEEP_S="0")
    explicit = _cli(url, other, "runs", "recover", run_id)
    assert explicit.returncode == 2 and "leased by" in explicit.stdout, explicit.stdout + explicit.stderr
    swept = _cli(url, other, "runs", "recover")
    assert swept.returncode == 0 and "0 recovered" in swept.stderr, swept.stdout + swept.stderr
    served = _cli(url, other, "scheduler", "serve", "--once")
    assert served.returncode == 0 and "advanced" not in served.stdout, served.stdout + served.stderr
    out, err = driver.communicate(timeout=TIMEOUT)
    assert driver.returncode == 0, err
    assert json.loads(out)["status"] == "completed"
    ran = _check_completed(url, env, run_id, tmp_path)
    assert ran == Counter(dict.fromkeys(OPS, 1))  # one driver, each effect exactly once
    assert {line.split()[3] for line in (tmp_path / "side.log").read_text().splitlines()} == {str(driver.pid)}


def test_resume_delivered_while_another_driver_holds_the_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    env = _env(tmp_path, sleep_s=0)
    ask = ROOT_FLOWS / "ask_and_answer.json"
    started = _cli(url, env, "run", str(ask), "--detach", "--json")
    assert started.returncode == 5, started.stdout + started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    stores = open_stores(url)
    try:
        held = stores.lease_store.acquire_lease(
            run_id, owner="other-driver", ttl_s=600, now=SYSTEM_CLOCK.now()
        )
        assert held is not None
    finally:
        stores.close()
    resumed = _cli(url, env, "resume", run_id, "--answer", "Bob")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Payload delivered; run" in resumed.stderr and "being advanced elsewhere" in resumed.stderr
    shown = json.loads(_cli(url, env, "runs", "show", run_id, "--json").stdout)
    assert shown["status"] == "running"  # the answer is in; the other driver has the next steps
    again = _cli(url, env, "resume", run_id, "--answer", "Eve")  # the wait is gone: nothing delivered
    assert again.returncode == 2, again.stdout + again.stderr
    stores = open_stores(url)
    try:
        assert stores.lease_store.release_lease(run_id, owner="other-driver")
    finally:
        stores.close()
    done = _cli(url, env, "runs", "recover", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = json.loads(_cli(url, env, "runs", "show", run_id, "--json").stdout)
    assert shown["status"] == "completed" and "Bob" in json.dumps(shown["output"])


def test_a_node_value_that_cannot_be_stored_fails_the_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    env = _env(tmp_path, sleep_s=0)
    proc = subprocess.run(
        [sys.executable, str(HOST), "--store", url, "run", f"{FLOWS}:UNSTORABLE_FLOW", "--json"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env=env,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "failed"  # not left RUNNING forever
    assert out["error"].startswith("NotJsonSafeError: the step at node 'done' cannot be stored: ")
    assert "'run.vars.seen'" in out["error"]
    stores = open_stores(url)
    try:
        ledger = stores.ledger_store.list(out["run_id"])
    finally:
        stores.close()
    assert [r["status"] for r in ledger[-2:]] == ["failed", "completed"]  # the failure, the status event
    assert _side(tmp_path) == Counter({(out["run_id"], "e1"): 1})
