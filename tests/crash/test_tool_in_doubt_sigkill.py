"""A driver SIGKILLed inside a tool call: recovery never re-sends a non-idempotent call blindly.

The driver (``tool_host.py``) runs a batch ``lookup`` (idempotent) + ``charge`` (not) and is killed
while ``charge`` sleeps, after its side effect.  Recovery (``Runtime.recover_run``) finds the batch's
STARTED intent without an end: ``lookup`` runs again, ``charge`` is parked in an approval wait marked
``in_doubt`` (visible in ``runs show`` and ``ledger show``); it runs again only when approved, and once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from abstractruntime import RunStatus, WaitReason
from abstractruntime.cli.main import cli
from abstractruntime.storage.urls import open_stores

HERE = Path(__file__).resolve().parent


def _host() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tool_host", HERE / "tool_host.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tools_run(side_log: Path) -> Counter[str]:
    if not side_log.exists():
        return Counter()
    return Counter(line.split()[0] for line in side_log.read_text().splitlines() if line.strip())


def _kill_inside_charge(url: str, side_log: Path, run_id_file: Path) -> None:
    env = dict(os.environ, CHARGE_SLEEP_S="60")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "tool_host.py"), url, str(side_log), str(run_id_file)], env=env
    )
    try:
        deadline = time.monotonic() + 30
        while _tools_run(side_log)["charge"] == 0:
            assert proc.poll() is None, "the driver exited before the charge"
            assert time.monotonic() < deadline, "the driver never reached the charge"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("backend", ["file", "sqlite"])
def test_recovery_parks_the_in_doubt_call_and_runs_it_once_when_approved(
    tmp_path: Path, backend: str
) -> None:
    url = (tmp_path / "store").as_uri() if backend == "file" else f"sqlite:///{tmp_path / 'runs.db'}"
    side_log, run_id_file = tmp_path / "side.log", tmp_path / "run_id"
    _kill_inside_charge(url, side_log, run_id_file)
    run_id = run_id_file.read_text()
    assert _tools_run(side_log) == Counter({"lookup": 1, "charge": 1})

    host = _host()
    stores = open_stores(url)
    try:
        rt = host.runtime(stores, side_log)
        wf = host.workflow()
        time.sleep(1.2)  # the killed driver's 1 s lease lapses
        outcome = rt.recover_run(run_id, workflow=wf)
        assert outcome.action == "recovered", outcome
        state = rt.get_state(run_id)
        assert state.status == RunStatus.WAITING and state.waiting is not None
        assert state.waiting.reason == WaitReason.USER
        details = state.waiting.details or {}
        assert details["in_doubt"] is True
        assert [c["call_id"] for c in details["tool_calls"]] == ["c-charge"]
        assert _tools_run(side_log) == Counter({"lookup": 2, "charge": 1})  # charge not re-sent

        # a second recovery or tick changes nothing
        assert rt.recover_run(run_id, workflow=wf).action == "skipped"
        assert _tools_run(side_log)["charge"] == 1

        runner = CliRunner()
        shown = runner.invoke(cli, ["--store", url, "runs", "show", run_id])
        assert shown.exit_code == 0, shown.output
        assert "may already have run before a crash" in shown.output
        ledger = runner.invoke(cli, ["--store", url, "ledger", "show", run_id, "--json"])
        assert ledger.exit_code == 0, ledger.output
        records = [json.loads(line) for line in ledger.output.splitlines() if line.startswith("{")]
        if not records:
            records = json.loads(ledger.output)
        waiting = [r for r in records if r.get("status") == "waiting"]
        assert waiting and waiting[-1]["result"]["wait"]["details"]["in_doubt"] is True

        done = rt.resume(
            workflow=wf, run_id=run_id, wait_key=state.waiting.wait_key, payload={"approved": True}
        )
        assert done.status == RunStatus.COMPLETED
        assert _tools_run(side_log) == Counter({"lookup": 2, "charge": 2})  # approved: once more, once
        results = (done.output or {})["paid"]["results"]
        assert [(r["call_id"], r["success"]) for r in results] == [("c-lookup", True), ("c-charge", True)]
    finally:
        stores.close()
