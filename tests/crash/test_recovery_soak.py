"""Soak: ``abstractruntime run`` and ``abstractruntime scheduler serve`` processes SIGKILLed at random.

Up to three processes are alive at a time: drivers starting a new run of ``recovery_flows.py`` (some
with a timer, some detached at it) and schedulers serving the store (which recover stranded runs each
cycle).  Each process is killed at a random instant of its life, from interpreter start-up to the
middle of an effect, until at least ``KILLS`` kills have landed.  Afterwards ``scheduler serve --once``
is run until every run completed, and then:

* every run completed with the results of all five host effects;
* every ledger verifies (``abstractruntime ledger verify``);
* no committed effect ran twice: per effect exactly one COMPLETED record and no STARTED record after
  it, and the side-effect log (written by the handler itself) shows no more executions than there are
  STARTED intent records (an effect killed between its intent and its commit runs again:
  at-least-once, and only then).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from abstractruntime import RunStatus
from abstractruntime.cli.main import cli
from abstractruntime.storage.urls import open_stores

HERE = Path(__file__).resolve().parent
HOST = HERE / "cli_host.py"
FLOWS = HERE / "recovery_flows.py"
OPS = ("e1", "e2", "e3", "e4", "e5")
KILLS = {"sqlite": 40, "file": 25}  # 65 in total
MIN_MID_WORK_KILLS = 8  # kills of a process that had executed effects: the test is not vacuous
MAX_ALIVE = 3
BLIND_KILL_AFTER_S = 8.0
TTL_S = 1.0
KILL_PHASE_LIMIT_S = 45.0
FINAL_ROUNDS = 30


@dataclass
class Alive:
    """A launched process and when to kill it: ``delay`` seconds after launch (``blind``), else ``delay``
    seconds after it is first seen executing an effect, so kills land mid-work however slow start-up is."""

    proc: subprocess.Popen[bytes]
    kind: str
    launched: float
    delay: float
    blind: bool
    at_work_since: float | None = None

    def due(self, now: float, at_work: set[int]) -> bool:
        if self.blind:
            return now >= self.launched + self.delay
        if self.at_work_since is None and self.proc.pid in at_work:
            self.at_work_since = now
        if self.at_work_since is not None:
            return now >= self.at_work_since + self.delay
        return now >= self.launched + BLIND_KILL_AFTER_S  # never got to work (nothing for it to do)


@dataclass
class Soak:
    kills: int = 0
    kills_by_kind: Counter[str] = field(default_factory=Counter)
    killed_pids: set[int] = field(default_factory=set)
    launches: int = 0
    exited: Counter[int] = field(default_factory=Counter)
    alive: list[Alive] = field(default_factory=list)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ABSTRACTRUNTIME_STORE"}
    env.update(
        SIDE_LOG=str(tmp_path / "side.log"),
        HOST_SLEEP_S="0.06",
        ABSTRACTRUNTIME_LEASE_TTL_S=str(TTL_S),
    )
    return env


def _launch(
    url: str, env: dict[str, str], rng: random.Random, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    roll = rng.random()
    if roll < 0.3:
        kind, args = "scheduler", ["scheduler", "serve", "--poll-interval", "0.1"]
    else:
        flow = rng.choice(["FLOW", "FLOW", "TIMER_FLOW"])
        kind, args = "run", ["run", f"{FLOWS}:{flow}", "-q"]
        if flow == "TIMER_FLOW" and rng.random() < 0.5:
            args.append("--detach")  # leave the timer to the schedulers
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, str(HOST), "--store", url, *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    return proc, kind


def _kill_phase(url: str, env: dict[str, str], rng: random.Random, log: Path, kills: int) -> Soak:
    soak = Soak()
    began = time.monotonic()
    while soak.kills < kills:
        assert time.monotonic() - began < KILL_PHASE_LIMIT_S, f"only {soak.kills} kills landed"
        while len(soak.alive) < MAX_ALIVE:
            proc, kind = _launch(url, env, rng, log)
            soak.launches += 1
            blind = rng.random() < 0.3  # some kills land anywhere, start-up included
            delay = rng.uniform(0.2, 1.6) if blind else rng.uniform(0.0, 0.6)
            soak.alive.append(Alive(proc, kind, time.monotonic(), delay, blind))
        time.sleep(0.01)
        now, at_work = time.monotonic(), _pids_at_work(log.parent)
        still: list[Alive] = []
        for entry in soak.alive:
            if entry.proc.poll() is not None:
                soak.exited[entry.proc.returncode] += 1
            elif entry.due(now, at_work):
                _kill(soak, entry.proc, entry.kind)
            else:
                still.append(entry)
        soak.alive = still
    for entry in soak.alive:
        _kill(soak, entry.proc, entry.kind)
    soak.alive = []
    return soak


def _kill(soak: Soak, proc: subprocess.Popen[bytes], kind: str) -> None:
    proc.send_signal(signal.SIGKILL)
    if proc.wait() == -signal.SIGKILL:
        soak.kills += 1
        soak.kills_by_kind[kind] += 1
        soak.killed_pids.add(proc.pid)
    else:
        soak.exited[proc.returncode] += 1


def _unfinished(url: str) -> list[str]:
    stores = open_stores(url)
    try:
        return [r.run_id for r in stores.run_store.list_runs(limit=10_000) if r.status != RunStatus.COMPLETED]  # type: ignore[attr-defined]
    finally:
        stores.close()


def _finish(url: str, env: dict[str, str], log: Path) -> int:
    """``scheduler serve --once`` until every run completed; returns how many rounds it took."""
    time.sleep(TTL_S + 0.1)  # the killed drivers' leases lapse
    for rounds in range(1, FINAL_ROUNDS + 1):
        with log.open("ab") as err:
            proc = subprocess.run(
                [sys.executable, str(HOST), "--store", url, "scheduler", "serve", "--once"],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
                timeout=120,
                check=False,
            )
        assert proc.returncode == 0, log.read_text()[-3000:]
        if not _unfinished(url):
            return rounds
        time.sleep(0.35)  # timers of the TIMER_FLOW runs come due
    raise AssertionError(f"runs still unfinished: {_unfinished(url)}\n{log.read_text()[-3000:]}")


def _pids_at_work(tmp_path: Path) -> set[int]:
    """The processes that executed at least one effect."""
    side = tmp_path / "side.log"
    if not side.exists():
        return set()
    return {int(parts[3]) for parts in map(str.split, side.read_text().splitlines()) if len(parts) > 3}


def _check(url: str, tmp_path: Path) -> tuple[int, int, int]:
    """The invariants of the module docstring; returns (runs, effect executions, re-executions)."""
    executions: Counter[tuple[str, str]] = Counter()
    for line in (tmp_path / "side.log").read_text().splitlines():
        run_id, node_id, op, _pid = line.split()
        assert node_id == op, line
        executions[(run_id, op)] += 1
    runner = CliRunner()
    stores = open_stores(url)
    try:
        runs = stores.run_store.list_runs(limit=10_000)  # type: ignore[attr-defined]
        assert runs
        reexecuted = 0
        for run in runs:
            assert run.status == RunStatus.COMPLETED, (run.run_id, run.status, run.error)
            assert run.output == {op: op for op in OPS}
            events: dict[str, list[str]] = {op: [] for op in OPS}
            for record in stores.ledger_store.list(run.run_id):
                effect = record["effect"] or {}
                if effect.get("type") == "llm_call":
                    events[effect["payload"]["op"]].append(record["status"])
            for op, statuses in events.items():
                assert statuses.count("completed") == 1, (run.run_id, op, statuses)
                assert statuses[-1] == "completed", (run.run_id, op, statuses)
                assert "failed" not in statuses, (run.run_id, op, statuses)
                ran = executions[(run.run_id, op)]
                assert 1 <= ran <= statuses.count("started"), (run.run_id, op, ran, statuses)
                reexecuted += ran - 1
            verified = runner.invoke(cli, ["--store", url, "ledger", "verify", run.run_id, "--json"])
            assert verified.exit_code == 0, verified.output
            assert json.loads(verified.output)["ok"] is True
        assert {run_id for run_id, _ in executions} <= {r.run_id for r in runs}
        return len(runs), sum(executions.values()), reexecuted
    finally:
        stores.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "file"])
def test_random_sigkills_of_drivers_and_schedulers_lose_nothing(backend: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}" if backend == "sqlite" else (tmp_path / "store").as_uri()
    env = _env(tmp_path)
    log = tmp_path / "processes.log"
    rng = random.Random(f"recovery-soak-{backend}")
    began = time.monotonic()
    soak = _kill_phase(url, env, rng, log, KILLS[backend])
    killed_at = time.monotonic() - began
    rounds = _finish(url, env, log)
    runs, executions, reexecuted = _check(url, tmp_path)
    mid_work = len(soak.killed_pids & _pids_at_work(tmp_path))
    elapsed = time.monotonic() - began
    print(
        f"\n[{backend}] launches={soak.launches} kills={soak.kills} ({dict(soak.kills_by_kind)}) "
        f"mid_work_kills={mid_work} exits={dict(soak.exited)} runs={runs} effect_executions={executions} "
        f"re_executions={reexecuted} final_rounds={rounds} kill_phase={killed_at:.1f}s elapsed={elapsed:.1f}s"
    )
    assert soak.kills >= KILLS[backend]
    assert mid_work >= MIN_MID_WORK_KILLS, f"only {mid_work} kills hit a process at work"
    assert soak.kills_by_kind["run"] > 0 and soak.kills_by_kind["scheduler"] > 0
    assert set(soak.exited) <= {0, 5}, f"a process exited with an unexpected code:\n{log.read_text()[-3000:]}"
