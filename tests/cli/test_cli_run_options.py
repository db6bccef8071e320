"""Runs keep the options they were started with whichever command drives them on.

``run --fake-llm --approve-tools all`` in one directory; ``scheduler serve`` (a timer) or ``emit`` (an
event) from another directory continues the run: its LLM calls still get the fake LLM, its tool calls
still run unasked, in the directory ``run`` was started in.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from abstractruntime.testing.cli import run_cli

FLOW = """
from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec

CALLS = [
    {"name": "read_file", "arguments": {"file_path": "in.txt"}, "call_id": "r1"},
    {"name": "write_file", "arguments": {"file_path": "out.txt", "content": "written"}, "call_id": "w1"},
]


def pause(run, ctx):
    if run.vars.get("until"):
        effect = Effect(EffectType.WAIT_UNTIL, {"until": run.vars["until"]})
    else:
        effect = Effect(EffectType.WAIT_EVENT, {"name": "go", "scope": "run"}, "evt")
    return StepPlan(node_id="pause", effect=effect, next_node="tools")


def tools(run, ctx):
    return StepPlan(node_id="tools", effect=Effect(EffectType.TOOL_CALLS, {"tool_calls": CALLS}, "tools"),
                    next_node="ask")


def ask(run, ctx):
    return StepPlan(node_id="ask", effect=Effect(EffectType.LLM_CALL, {"prompt": "hi"}, "llm"), next_node="done")


def done(run, ctx):
    results = run.vars["tools"]["results"]
    return StepPlan(node_id="done", complete_output={
        "llm": run.vars["llm"]["content"],
        "tools": [[r["name"], r["success"]] for r in results],
    })


flow = WorkflowSpec(workflow_id="options_flow", entry_node="pause",
                    nodes={"pause": pause, "tools": tools, "ask": ask, "done": done})
"""


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, str]:
    """(the directory ``run`` starts in, another one to drive from, the store URL)."""
    started_in, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    started_in.mkdir()
    elsewhere.mkdir()
    (started_in / "options_flow.py").write_text(FLOW)
    (started_in / "in.txt").write_text("input text")
    return started_in, elsewhere, f"sqlite:///{tmp_path / 'runs.db'}"


def _start(store: str, cwd: Path, run_vars: dict[str, str]) -> str:
    started = run_cli(
        "--store", store, "run", "options_flow.py:flow", "--fake-llm", "--approve-tools", "all",
        "--vars-json", json.dumps(run_vars), "--detach", "--json", cwd=cwd,
    )  # fmt: skip
    assert started.returncode == 5, started.stdout + started.stderr
    return str(json.loads(started.stdout)["run_id"])


def _check_completed(store: str, run_id: str, started_in: Path, elsewhere: Path) -> None:
    shown = run_cli("--store", store, "runs", "show", run_id, "--json", cwd=elsewhere)
    state = json.loads(shown.stdout)
    assert state["status"] == "completed", state.get("error")
    assert state["output"] == {"llm": "echo: hi", "tools": [["read_file", True], ["write_file", True]]}
    assert (started_in / "out.txt").read_text() == "written"
    assert not (elsewhere / "out.txt").exists()


def test_scheduler_serve_wakes_a_timer_with_the_runs_own_options(dirs: tuple[Path, Path, str]) -> None:
    started_in, elsewhere, store = dirs
    due = datetime.now(timezone.utc) + timedelta(seconds=1.5)
    run_id = _start(store, started_in, {"until": due.isoformat()})
    time.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()) + 0.1)
    served = run_cli("--store", store, "scheduler", "serve", "--once", cwd=elsewhere)
    assert served.returncode == 0, served.stderr
    _check_completed(store, run_id, started_in, elsewhere)


def test_emit_resumes_a_listener_with_the_runs_own_options(dirs: tuple[Path, Path, str]) -> None:
    started_in, elsewhere, store = dirs
    run_id = _start(store, started_in, {})
    emitted = run_cli("--store", store, "emit", "go", "--scope", "run", "--run", run_id, cwd=elsewhere)
    assert emitted.returncode == 0, emitted.stdout + emitted.stderr
    _check_completed(store, run_id, started_in, elsewhere)
