"""The ``abstractruntime`` command line, driven through click's CliRunner on a temporary SQLite store."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from abstractruntime.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "examples" / "flows" / "ask_and_answer.json"
PY_TARGET = f"{ROOT / 'examples' / 'cli_workflow.py'}:flow"
RESUME_RE = re.compile(r"abstractruntime --store (\S+) resume ([0-9a-f-]{36}) --answer 'YOUR ANSWER'")


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def invoke(store: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("ABSTRACTRUNTIME_STORE", raising=False)
    for name in ("ABSTRACTRUNTIME_LLM_BASE_URL", "ABSTRACTRUNTIME_LLM_MODEL", "ABSTRACTRUNTIME_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ABSTRACTRUNTIME_CONFIG", str(tmp_path / "no-config.toml"))

    def _invoke(*args: str, input: str | None = None):
        # a fresh runner per call: nothing is shared between invocations but the store
        return CliRunner().invoke(cli, ["--store", store, *args], input=input, catch_exceptions=False)

    return _invoke


def _start_waiting(invoke, target: str, *extra: str) -> str:
    result = invoke("run", target, "--detach", *extra)
    assert result.exit_code == 5, result.output
    match = RESUME_RE.search(result.output)
    assert match, result.output
    return match.group(2)


def test_visualflow_detach_then_resume_in_a_new_invocation(invoke, store: str) -> None:
    result = invoke("run", str(FLOW), "--input", "request=hi", "--detach")
    assert result.exit_code == 5, result.output
    assert "What is your name?" in result.output
    match = RESUME_RE.search(result.output)
    assert match, result.output
    assert match.group(1) == store
    run_id = match.group(2)

    result = invoke("resume", run_id, "--answer", "Bob")
    assert result.exit_code == 0, result.output
    assert "You answered: Bob" in result.output
    assert "completed" in result.output

    listed = invoke("runs", "list", "--json")
    assert listed.exit_code == 0
    runs = json.loads(listed.output)
    assert [r["run_id"] for r in runs] == [run_id]
    assert runs[0]["status"] == "completed"
    assert runs[0]["vars"]["_runtime"]["cli_target"] == str(FLOW)
    assert json.loads(invoke("runs", "list", "--json", "--status", "waiting").output) == []

    shown = invoke("runs", "show", run_id)
    assert shown.exit_code == 0 and run_id in shown.output and "You answered: Bob" in shown.output
    shown_json = json.loads(invoke("--json", "runs", "show", run_id).output)
    assert shown_json["output"] == {"response": "You answered: Bob", "success": True}

    ledger = invoke("ledger", "show", run_id)
    assert ledger.exit_code == 0
    assert "ask" in ledger.output and "waits (user)" in ledger.output and "answer_user" in ledger.output
    records = json.loads(invoke("ledger", "show", run_id, "--json").output)
    assert all(r["record_hash"] for r in records)  # hash chain on by default

    verified = invoke("ledger", "verify", run_id)
    assert verified.exit_code == 0 and verified.output.startswith("ok:")
    report = json.loads(invoke("ledger", "verify", run_id, "--json").output)
    assert report["ok"] is True and report["count"] == len(records)


def test_interactive_prompt_answers_the_question(invoke) -> None:
    result = invoke("run", str(FLOW), "--interactive", input="Ada\n")
    assert result.exit_code == 0, result.output
    assert "You answered: Ada" in result.output


def test_python_file_target_and_choice_menu(invoke) -> None:
    run_id = _start_waiting(invoke, PY_TARGET, "-i", "item=laptop")
    result = invoke("resume", run_id, "--answer", "yes")
    assert result.exit_code == 0, result.output
    assert '"shipped": true' in result.output

    result = invoke("run", PY_TARGET, "--interactive", "-q", input="2\n")
    assert result.exit_code == 0, result.output
    assert "1) yes" in result.output and '"answer": "no"' in result.output


def test_python_module_target(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "examples")
    monkeypatch.delitem(sys.modules, "cli_workflow", raising=False)
    run_id = _start_waiting(invoke, "cli_workflow:flow")
    result = invoke("resume", run_id, "--answer", "yes")
    assert result.exit_code == 0, result.output


def test_not_found_is_exit_3(invoke) -> None:
    for args in (
        ["runs", "show", "nope"],
        ["ledger", "show", "nope"],
        ["ledger", "verify", "nope"],
        ["resume", "nope", "--answer", "x"],
        ["export", "nope"],
        ["cancel", "nope"],
    ):
        result = invoke(*args)
        assert result.exit_code == 3, (args, result.output)
        assert "run not found: nope" in result.output


def test_usage_errors_are_exit_2(invoke, tmp_path: Path) -> None:
    assert invoke("run", str(tmp_path / "missing.json")).exit_code == 2
    assert invoke("run", "no_such_module_xyz:flow").exit_code == 2
    assert invoke("runs", "list", "--status", "bogus").exit_code == 2
    run_id = _start_waiting(invoke, str(FLOW))
    assert invoke("resume", run_id).exit_code == 2  # neither --answer nor --payload-json


def test_flow_validate(invoke, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"id": "broken", "nodes": [{"id": "a", "type": "nope"}], "edges": []}))
    result = invoke("flow", "validate", str(broken))
    assert result.exit_code == 4
    assert "unknown_node_type" in result.output and "node_id=a" in result.output
    data = json.loads(invoke("flow", "validate", "--json", str(broken)).output)
    assert data["ok"] is False and data["files"][str(broken)][0]["node_id"] == "a"

    not_json = tmp_path / "garbage.json"
    not_json.write_text("{nope")
    assert invoke("flow", "validate", str(not_json)).exit_code == 4

    ok = invoke("flow", "validate", str(FLOW))
    assert ok.exit_code == 0 and "valid" in ok.output


def test_info(invoke, store: str) -> None:
    result = invoke("info", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["store"] == store and data["store_source"] == "--store"
    assert data["default_store"].startswith("sqlite:///") and data["runs"]["completed"] == 0
    text = invoke("info")
    assert store in text.output and "default store" in text.output


def test_store_from_environment(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABSTRACTRUNTIME_STORE", store)
    result = CliRunner().invoke(cli, ["info", "--json"])
    data = json.loads(result.output)
    assert data["store"] == store and data["store_source"] == "$ABSTRACTRUNTIME_STORE"


def test_cancel_pause_unpause(invoke) -> None:
    run_id = _start_waiting(invoke, str(FLOW))
    paused = invoke("pause", run_id)
    assert paused.exit_code == 0
    # a user wait is not paused by the kernel (SPEC §4.7); cancel works on it
    cancelled = invoke("cancel", run_id, "--reason", "no longer needed")
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    assert json.loads(invoke("runs", "show", run_id, "--json").output)["status"] == "cancelled"
    assert invoke("unpause", run_id).exit_code == 2  # a finished run: nothing to unpause
    assert invoke("resume", run_id, "--answer", "x").exit_code == 2  # not waiting any more


def test_export(invoke, tmp_path: Path) -> None:
    run_id = _start_waiting(invoke, str(FLOW))
    out = tmp_path / "history.json"
    result = invoke("export", run_id, "-o", str(out))
    assert result.exit_code == 0
    bundle = json.loads(out.read_text())
    assert bundle["root_run_id"] == run_id


def test_bundle_pack_inspect_unpack_and_run(invoke, tmp_path: Path) -> None:
    packed = tmp_path / "ask.flow"
    assert invoke("bundle", "pack", str(FLOW), "-o", str(packed)).exit_code == 0
    inspected = json.loads(invoke("bundle", "inspect", str(packed), "--json").output)
    assert inspected["bundle_id"] == "ask_and_answer"
    assert invoke("bundle", "unpack", str(packed), str(tmp_path / "out")).exit_code == 0
    assert (tmp_path / "out" / "manifest.json").is_file()

    run_id = _start_waiting(invoke, f"{packed}:ask_and_answer")
    result = invoke("resume", run_id, "--answer", "Zed")
    assert result.exit_code == 0 and "You answered: Zed" in result.output


TIMER_FLOW = """
from datetime import datetime, timedelta, timezone
from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec

def wait(run, ctx):
    until = (datetime.now(timezone.utc) + timedelta(seconds=0.3)).isoformat()
    return StepPlan(node_id="wait", effect=Effect(type=EffectType.WAIT_UNTIL, payload={"until": until}),
                    next_node="done")

def done(run, ctx):
    return StepPlan(node_id="done", complete_output={"woke": True})

flow = WorkflowSpec(workflow_id="timer", entry_node="wait", nodes={"wait": wait, "done": done})
"""


def test_timer_detach_then_scheduler_serve(invoke, tmp_path: Path) -> None:
    module = tmp_path / "timer_flow.py"
    module.write_text(TIMER_FLOW)
    result = invoke("run", f"{module}:flow", "--detach")
    assert result.exit_code == 5, result.output
    assert "scheduler serve" in result.output
    run_id = json.loads(invoke("runs", "list", "--json").output)[0]["run_id"]
    time.sleep(0.4)
    served = invoke("scheduler", "serve", "--once")
    assert served.exit_code == 0, served.output
    state = json.loads(invoke("runs", "show", run_id, "--json").output)
    assert state["status"] == "completed" and state["output"] == {"woke": True}


def test_llm_flow_needs_fake_llm(invoke, tmp_path: Path) -> None:
    module = tmp_path / "llm_flow.py"
    module.write_text(
        "from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec\n"
        "def ask(run, ctx):\n"
        "    return StepPlan(node_id='ask', effect=Effect(type=EffectType.LLM_CALL,\n"
        "                    payload={'prompt': 'hi'}, result_key='llm'), next_node='done')\n"
        "def done(run, ctx):\n"
        "    return StepPlan(node_id='done', complete_output={'content': run.vars['llm']['content']})\n"
        "flow = WorkflowSpec(workflow_id='llm', entry_node='ask', nodes={'ask': ask, 'done': done})\n"
    )
    failed = invoke("run", f"{module}:flow")
    assert failed.exit_code == 4, failed.output
    assert "no LLM is configured" in failed.output and "--fake-llm" in failed.output
    assert "--llm-base-url" in failed.output
    ok = invoke("run", f"{module}:flow", "--fake-llm")
    assert ok.exit_code == 0, ok.output
    assert "echo: hi" in ok.output


def _command_paths(group: click.Group, prefix: str = "") -> list[str]:
    paths = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        paths.append(path)
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, path + " "))
    return paths


def test_every_command_is_documented() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    missing = [path for path in _command_paths(cli) if f"abstractruntime {path}" not in doc]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


def test_python_dash_m_without_click_names_the_extra() -> None:
    code = (
        "import sys, runpy\n"
        "sys.modules['click'] = None\n"
        "sys.argv = ['abstractruntime', '--help']\n"
        "runpy.run_module('abstractruntime', run_name='__main__')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 1
    assert "AbstractRuntime[cli]" in proc.stderr


def test_python_dash_m_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "abstractruntime", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and "runs" in proc.stdout


EVENT_FLOW = """
from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec

def wait(run, ctx):
    return StepPlan(node_id="wait", next_node="done", effect=Effect(
        type=EffectType.WAIT_EVENT, payload={"name": "order.paid", "scope": "session"}, result_key="evt"))

def done(run, ctx):
    return StepPlan(node_id="done", complete_output={"amount": run.vars["evt"]["payload"]["amount"]})

flow = WorkflowSpec(workflow_id="evt", entry_node="wait", nodes={"wait": wait, "done": done})
"""


def test_emit_resumes_event_listeners(invoke, tmp_path: Path) -> None:
    module = tmp_path / "event_flow.py"
    module.write_text(EVENT_FLOW)
    started = invoke("run", f"{module}:flow", "--session", "s1")
    assert started.exit_code == 5 and "--payload-json" in started.output
    run_id = json.loads(invoke("runs", "list", "--json", "--wait-reason", "event").output)[0]["run_id"]
    emitted = invoke("emit", "order.paid", "--payload-json", '{"amount": 3}', "--session", "s1")
    assert emitted.exit_code == 0 and run_id in emitted.output
    assert json.loads(invoke("runs", "show", run_id, "--json").output)["output"] == {"amount": 3}


def test_importing_the_library_does_not_import_the_cli_dependencies() -> None:
    code = "import sys, abstractruntime, abstractruntime.scheduler; print(sorted({'click', 'rich', 'platformdirs'} & set(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr


def test_subflow_child_question_then_parent_resumes(invoke, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "ask_and_answer.json").write_text(FLOW.read_text())
    (flows / "parent.json").write_text((Path(__file__).parent / "subflow_parent.json").read_text())
    result = invoke("run", str(flows / "parent.json"), "--detach")
    assert result.exit_code == 5, result.output
    child_id = RESUME_RE.search(result.output).group(2)  # the question belongs to the child run
    child = json.loads(invoke("runs", "show", child_id, "--json").output)
    assert child["workflow_id"] == "ask_and_answer" and child["parent_run_id"]
    resumed = invoke("resume", child_id, "--answer", "Kim")
    assert resumed.exit_code == 0, resumed.output
    parent = json.loads(invoke("runs", "show", child["parent_run_id"], "--json").output)
    assert parent["status"] == "completed"
    assert parent["output"]["result"]["response"] == "You answered: Kim"
