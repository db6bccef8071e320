"""``--approve-tools`` and ``resume --approve/--deny``: tool calls of a CLI run, through the real entry point."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from abstractruntime.testing.cli import run_cli

FLOW = """
from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec

CALLS = [
    {"name": "read_file", "arguments": {"file_path": "in.txt"}, "call_id": "r1"},
    {"name": "write_file", "arguments": {"file_path": "out.txt", "content": "written"}, "call_id": "w1"},
]


def act(run, ctx):
    return StepPlan(node_id="act", effect=Effect(EffectType.TOOL_CALLS, {"tool_calls": CALLS}, "tools"),
                    next_node="done")


def done(run, ctx):
    results = run.vars["tools"]["results"]
    return StepPlan(node_id="done", complete_output={"results": [[r["name"], r["success"]] for r in results]})


flow = WorkflowSpec(workflow_id="tool_flow", entry_node="act", nodes={"act": act, "done": done})
"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "tool_flow.py").write_text(FLOW)
    (tmp_path / "in.txt").write_text("input text")
    return tmp_path


def _store(workspace: Path) -> str:
    return f"sqlite:///{workspace / 'runs.db'}"


def test_ask_parks_the_run_until_approved(workspace: Path) -> None:
    started = _cli(
        "--store", _store(workspace), "run", "tool_flow.py:flow", "--detach", "--json", cwd=workspace
    )
    assert started.returncode == 5, started.stdout + started.stderr
    outcome = json.loads(started.stdout)
    assert not (workspace / "out.txt").exists()
    waiting = outcome["waiting"]
    assert waiting["details"]["mode"] == "approval_required"
    assert [c["name"] for c in waiting["details"]["tool_calls"]] == ["read_file", "write_file"]

    approved = _cli(
        "--store", _store(workspace), "resume", outcome["run_id"], "--approve", "--json", cwd=workspace
    )
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert json.loads(approved.stdout)["output"] == {"results": [["read_file", True], ["write_file", True]]}
    assert (workspace / "out.txt").read_text() == "written"


def test_deny_refuses_every_call(workspace: Path) -> None:
    started = _cli(
        "--store", _store(workspace), "run", "tool_flow.py:flow", "--detach", "--json", cwd=workspace
    )
    run_id = json.loads(started.stdout)["run_id"]
    denied = _cli("--store", _store(workspace), "resume", run_id, "--deny", "--json", cwd=workspace)
    assert denied.returncode == 0, denied.stdout + denied.stderr
    assert json.loads(denied.stdout)["output"] == {"results": [["read_file", False], ["write_file", False]]}
    assert not (workspace / "out.txt").exists()


def test_safe_only_runs_read_only_tools_and_refuses_the_rest(workspace: Path) -> None:
    result = _cli(
        "--store", _store(workspace), "run", "tool_flow.py:flow", "--approve-tools", "safe-only", "--json",
        cwd=workspace,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["output"] == {"results": [["read_file", True], ["write_file", False]]}
    assert not (workspace / "out.txt").exists()


def test_all_runs_every_call_inside_the_workspace(workspace: Path) -> None:
    result = _cli(
        "--store", _store(workspace), "run", "tool_flow.py:flow", "--approve-tools", "all", "--json", cwd=workspace
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (workspace / "out.txt").read_text() == "written"
