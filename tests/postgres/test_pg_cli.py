"""The CLI on a postgresql:// store: ``start``/``resume``/``emit`` enqueue, ``worker`` applies them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from abstractruntime.storage.urls import open_stores

FLOW = """
from abstractruntime.core.models import Effect, EffectType, StepPlan
from abstractruntime.core.spec import WorkflowSpec


def ask(run, ctx):
    return StepPlan(node_id="ask", effect=Effect(EffectType.ASK_USER, {"prompt": "Ship?"}, "reply"), next_node="hear")


def hear(run, ctx):
    return StepPlan(node_id="hear", effect=Effect(EffectType.WAIT_EVENT, {"name": "go"}, "evt"), next_node="done")


def done(run, ctx):
    return StepPlan(node_id="done", complete_output={"reply": run.vars["reply"], "evt": run.vars["evt"]["payload"]})


flow = WorkflowSpec(workflow_id="cli_pg", entry_node="ask", nodes={"ask": ask, "hear": hear, "done": done})
"""


def _cli(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "abstractruntime", "--store", url, *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def _wait_status(stores: object, run_id: str, status: str) -> None:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        state = stores.run_store.load(run_id)  # type: ignore[attr-defined]
        if state is not None and state.status.value == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached {status}")


@contextmanager
def _worker(url: str, *args: str, cwd: Path) -> Iterator[Any]:
    """A ``worker`` subprocess and the stores, for the block; the worker must then stop cleanly."""
    command = [sys.executable, "-m", "abstractruntime", "--store", url, "worker", "--poll", "0.2", *args]
    worker = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stores = open_stores(url)
    try:
        yield stores
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
        stores.close()
    assert worker.returncode == 0, err
    assert "Worker stopped" in err


def test_start_resume_emit_go_through_the_inbox_to_a_worker(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "flowmod.py").write_text(FLOW)
    with _worker(pg_url, "--concurrency", "2", cwd=tmp_path) as stores:
        started = _cli(pg_url, "start", "flowmod.py:flow", "--session", "s1", cwd=tmp_path)
        assert started.returncode == 0, started.stderr
        run_id = started.stdout.split("run_id=")[1].split()[0]
        _wait_status(stores, run_id, "waiting")
        resumed = _cli(pg_url, "resume", run_id, "--answer", "yes", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        state = stores.run_store.load(run_id)
        end = time.monotonic() + 30
        while state is not None and (state.waiting is None or state.waiting.reason.value != "event"):
            assert time.monotonic() < end, state
            time.sleep(0.1)
            state = stores.run_store.load(run_id)
        emitted = _cli(pg_url, "emit", "go", "--session", "s1", "--payload-json", '{"n": 7}', cwd=tmp_path)
        assert emitted.returncode == 0, emitted.stderr
        assert run_id in emitted.stdout
        _wait_status(stores, run_id, "completed")
        final = stores.run_store.load(run_id)
        assert final is not None and final.output == {"reply": {"text": "yes"}, "evt": {"n": 7}}


LLM_FLOW = """
from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec


def ask(run, ctx):
    return StepPlan(node_id="ask", effect=Effect(EffectType.LLM_CALL, {"prompt": "hi"}, "llm"), next_node="done")


def done(run, ctx):
    return StepPlan(node_id="done", complete_output={"content": run.vars["llm"]["content"]})


flow = WorkflowSpec(workflow_id="cli_pg_llm", entry_node="ask", nodes={"ask": ask, "done": done})
"""


def test_a_worker_drives_each_run_with_the_options_it_was_started_with(pg_url: str, tmp_path: Path) -> None:
    """``start --fake-llm`` reaches the worker (which has no LLM of its own) through the run's recorded
    options; options a worker cannot honour refuse the start instead of leaving a run nobody can drive."""
    (tmp_path / "llmflow.py").write_text(LLM_FLOW)
    with _worker(pg_url, cwd=tmp_path) as stores:
        started = _cli(pg_url, "start", "llmflow.py:flow", "--fake-llm", cwd=tmp_path)
        assert started.returncode == 0, started.stderr
        run_id = started.stdout.split("run_id=")[1].split()[0]
        _wait_status(stores, run_id, "completed")
        final = stores.run_store.load(run_id)
        assert final is not None and final.output == {"content": "echo: hi"}
        bad = '{"_runtime": {"cli_approve_tools": "everything"}}'
        refused = _cli(pg_url, "start", "llmflow.py:flow", "--fake-llm", "--vars-json", bad, cwd=tmp_path)
        assert refused.returncode != 0 and "everything" in refused.stderr, refused.stderr
        assert [r.run_id for r in stores.run_store.list_runs(limit=10)] == [run_id]
