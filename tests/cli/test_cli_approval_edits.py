"""``resume --approve-call/--edit``, the per-call approval prompt, and choice waits (``--answer`` checked
against the choices, the numbered prompt) — through the real entry point (subprocess) and, for the
terminal prompts, click's CliRunner feeding stdin with ``--interactive``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from abstractruntime.cli.main import cli
from abstractruntime.testing.cli import run_cli

from .test_cli_tools import FLOW

ASK_FLOW = Path("/work/shared/flows/abstractflow-examples/acagent_ask_demo.json")
EDITED = json.dumps({"file_path": "edited.txt", "content": "changed"})


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "tool_flow.py").write_text(FLOW)
    (tmp_path / "in.txt").write_text("input text")
    return tmp_path


def cli_in(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--store", f"sqlite:///{workspace / 'runs.db'}", *args, cwd=workspace)


def start(workspace: Path, target: str = "tool_flow.py:flow") -> dict[str, object]:
    started = cli_in(workspace, "run", target, "--detach", "--json")
    assert started.returncode == 5, started.stdout + started.stderr
    return json.loads(started.stdout)


def test_edit_and_approve_one_call_and_the_ledger_shows_the_edit(workspace: Path) -> None:
    run_id = str(start(workspace)["run_id"])
    done = cli_in(workspace, "resume", run_id, "--approve-call", "r1", "--edit", f"w1={EDITED}", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["output"] == {"results": [["read_file", True], ["write_file", True]]}
    assert (workspace / "edited.txt").read_text() == "changed"
    assert not (workspace / "out.txt").exists()  # the original arguments never ran

    ledger = json.loads(cli_in(workspace, "ledger", "show", run_id, "--json").stdout)
    (completed,) = [
        r for r in ledger if r["status"] == "completed" and (r["effect"] or {}).get("type") == "tool_calls"
    ]
    edit = completed["result"]["results"][1]["metadata"]["argument_edit"]
    assert edit["original_arguments"]["content"] == "written"
    assert edit["edited_arguments"] == json.loads(EDITED)
    assert edit["arguments_run"] == json.loads(EDITED) and edit["refused"] is None


def test_edit_outside_the_workspace_fails_that_call_only(workspace: Path) -> None:
    run_id = str(start(workspace)["run_id"])
    escape = json.dumps({"file_path": "../escaped.txt", "content": "x"})
    done = cli_in(workspace, "resume", run_id, "--approve", "--edit", f"w1={escape}", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["output"] == {"results": [["read_file", True], ["write_file", False]]}
    assert not (workspace.parent / "escaped.txt").exists() and not (workspace / "out.txt").exists()


def test_bad_approval_options_exit_2_and_leave_the_run_waiting(workspace: Path) -> None:
    run_id = str(start(workspace)["run_id"])
    cases = [
        (["--edit", "w1={not json"], "--edit w1 is not valid JSON"),
        (["--edit", "w1=[1, 2]"], "must be a JSON object"),
        (["--edit", "w1"], "--edit expects CALL_ID=JSON_OBJECT"),
        (["--edit", "nope={}"], "no waiting tool call 'nope'; the calls are: r1, w1"),
        (["--approve-call", "x9"], "the calls are: r1, w1"),
        (["--deny", "--edit", "w1={}"], "--deny refuses every call"),
        (["--edit", "w1={}", "--edit", "w1={}"], "--edit w1 is given twice"),
        (["--answer", "yes", "--approve-call", "r1"], "give exactly one of"),
    ]
    for extra, message in cases:
        refused = cli_in(workspace, "resume", run_id, *extra)
        assert refused.returncode == 2, (extra, refused.stdout, refused.stderr)
        assert message in refused.stderr, (extra, refused.stderr)
    # a malformed edit sent as a raw payload is refused by the runtime itself (exit 2, nothing claimed)
    raw = json.dumps({"approved": ["r1"], "arguments": {"w1": {"file_path": "x"}}})
    refused = cli_in(workspace, "resume", run_id, "--payload-json", raw)
    assert refused.returncode == 2 and "not approved by this payload" in refused.stderr
    shown = json.loads(cli_in(workspace, "runs", "show", run_id, "--json").stdout)
    assert shown["status"] == "waiting" and not (workspace / "out.txt").exists()
    done = cli_in(workspace, "resume", run_id, "--deny", "--json")
    assert json.loads(done.stdout)["output"] == {"results": [["read_file", False], ["write_file", False]]}


@pytest.fixture
def ask_flow(tmp_path: Path) -> Path:
    if not ASK_FLOW.exists():
        pytest.skip("shared AbstractFlow examples are not available")
    target = tmp_path / "ask.json"
    shutil.copy(ASK_FLOW, target)
    return target


def test_event_wait_answer_must_be_one_of_its_choices(ask_flow: Path) -> None:
    workspace = ask_flow.parent
    outcome = start(workspace, str(ask_flow))
    waiting = outcome["waiting"]
    assert isinstance(waiting, dict) and waiting["reason"] == "event" and waiting["allow_free_text"] is False
    assert "--answer" in str(outcome["resume_command"])
    run_id = str(outcome["run_id"])
    refused = cli_in(workspace, "resume", run_id, "--answer", "Purple")
    assert refused.returncode == 2
    assert "not one of the choices of this wait: Red, Green, Blue" in refused.stderr
    done = cli_in(workspace, "resume", run_id, "--answer", "Green", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["output"]["response"] == "You answered: Green"


def invoke(workspace: Path, *args: str, input: str) -> Result:
    return CliRunner().invoke(
        cli, ["--store", f"sqlite:///{workspace / 'runs.db'}", *args], input=input, catch_exceptions=False
    )


@pytest.fixture
def in_workspace(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("ABSTRACTRUNTIME_STORE", raising=False)
    monkeypatch.setenv("ABSTRACTRUNTIME_CONFIG", str(workspace / "no-config.toml"))
    return workspace


def test_prompt_approves_denies_and_edits_call_by_call(in_workspace: Path) -> None:
    typed = "a\ne\n[1]\n{broken\n" + json.dumps({"file_path": "typed.txt", "content": "typed"}) + "\n"
    result = invoke(in_workspace, "run", "tool_flow.py:flow", "--interactive", "-q", input=typed)
    assert result.exit_code == 0, result.output
    assert "approve, deny or edit?" in result.output and "[w1] write_file" in result.output
    assert "must be a JSON object" in result.output and "Not valid JSON" in result.output
    assert '"results"' in result.output and '"write_file",\n      true' in result.output
    assert (in_workspace / "typed.txt").read_text() == "typed" and not (in_workspace / "out.txt").exists()

    result = invoke(in_workspace, "run", "tool_flow.py:flow", "--interactive", "-q", input="a\nd\n")
    assert result.exit_code == 0, result.output
    assert '"write_file",\n      false' in result.output and not (in_workspace / "out.txt").exists()


def test_prompt_offers_the_choices_of_an_event_wait(ask_flow: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ask_flow.parent)
    monkeypatch.setenv("ABSTRACTRUNTIME_CONFIG", str(ask_flow.parent / "no-config.toml"))
    result = invoke(ask_flow.parent, "run", str(ask_flow), "--interactive", "-q", input="Purple\n9\n3\n")
    assert result.exit_code == 0, result.output
    assert "What is your favorite color?" in result.output and "2) Green" in result.output
    assert result.output.count("Please pick one of the numbers above.") == 2
    assert "You answered: Blue" in result.output
