"""The real ``abstractruntime`` console script, run in subprocesses (one process per command)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from abstractruntime.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "examples" / "flows"
TIMEOUT = 60


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ABSTRACTRUNTIME_STORE"}
    env.update(extra)
    return env


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "abstractruntime", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
        check=False,
        env=env or _env(),
        cwd=ROOT,
    )


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


def _json(proc: subprocess.CompletedProcess[str]) -> object:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_detach_then_resume_in_another_process(store: str) -> None:
    started = _run("--store", store, "run", str(FLOWS / "ask_and_answer.json"), "--detach", "--json")
    assert started.returncode == 5, started.stdout + started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    # the first process has ended; a second one resumes the run from the store alone
    resumed = _run("--store", store, "resume", run_id, "--answer", "Bob")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "You answered: Bob" in resumed.stdout
    state = _json(_run("--store", store, "runs", "show", run_id, "--json"))
    assert isinstance(state, dict) and state["status"] == "completed"
    shown = _run("--store", store, "runs", "show", run_id)
    assert shown.returncode == 0 and "completed" in shown.stdout
    verified = _run("--store", store, "ledger", "verify", run_id)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("ok:")


def test_console_script_on_path(store: str) -> None:
    exe = shutil.which("abstractruntime") or shutil.which(
        "abstractruntime", path=str(Path(sys.executable).parent)
    )
    if exe is None:
        pytest.skip("the abstractruntime console script is not installed")
    proc = subprocess.run(
        [exe, "--store", store, "run", str(FLOWS / "loop_strings.json")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
        check=False,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Counted: one two three" in proc.stdout


def test_readme_main_job_with_the_default_store(tmp_path: Path) -> None:
    """No --store, no TTY, a fresh HOME: the default per-user data directory is created."""
    home = tmp_path / "home"
    env = _env(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"))
    proc = _run("run", "examples/flows/subflow_parent.json", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Hello, world" in proc.stdout
    info = _json(_run("info", "--json", env=env))
    assert isinstance(info, dict)
    assert str(home) in json.dumps(info)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("loop_strings.json", {"response": "Counted: one two three", "success": True}),
        ("subflow_parent.json", {"greeting": "Hello, world", "success": True}),
    ],
)
def test_example_flows_complete_without_input(store: str, name: str, expected: dict[str, object]) -> None:
    data = _json(_run("--store", store, "run", str(FLOWS / name), "--json", "-q"))
    assert isinstance(data, dict) and data["status"] == "completed" and data["output"] == expected


def test_event_flow_and_emit(store: str) -> None:
    waiting = _run("--store", store, "run", str(FLOWS / "event_wait.json"), "--detach", "--json")
    assert waiting.returncode == 5, waiting.stdout + waiting.stderr
    run_id = json.loads(waiting.stdout)["run_id"]
    emitted = _json(_run("--store", store, "run", str(FLOWS / "event_emit.json"), "--json", "-q"))
    assert isinstance(emitted, dict) and emitted["output"]["delivered"] == 1
    state = _json(_run("--store", store, "runs", "show", run_id, "--json"))
    assert isinstance(state, dict) and state["status"] == "completed"
    assert state["output"]["event"] == {"by": "event_emit"}
    # the same wait, resumed by the `emit` command instead
    waiting = _run("--store", store, "run", str(FLOWS / "event_wait.json"), "--detach", "--json")
    run_id = json.loads(waiting.stdout)["run_id"]
    sent = _run("--store", store, "emit", "approved", "--scope", "global", "--payload-json", '{"ok": true}')
    assert sent.returncode == 0, sent.stdout + sent.stderr
    state = _json(_run("--store", store, "runs", "show", run_id, "--json"))
    assert isinstance(state, dict) and state["status"] == "completed"


def test_scheduler_serve_wakes_a_timer_and_stops_on_sigterm(store: str) -> None:
    started = _run("--store", store, "run", str(FLOWS / "timer.json"), "--detach", "--json")
    assert started.returncode == 5, started.stdout + started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "abstractruntime",
            "--store",
            store,
            "scheduler",
            "serve",
            "--poll-interval",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 15
        status = None
        while time.monotonic() < deadline:
            state = _json(_run("--store", store, "runs", "show", run_id, "--json"))
            assert isinstance(state, dict)
            status = state["status"]
            if status == "completed":
                break
            assert server.poll() is None, server.communicate()
            time.sleep(0.2)
        assert status == "completed"
        server.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        out, err = server.communicate(timeout=5)
        assert time.monotonic() - sent < 1.0, err
        assert server.returncode == 0, out + err
        assert "Traceback" not in err
        assert "Scheduler stopped" in err
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    verified = _run("--store", store, "ledger", "verify", run_id, "--json")
    report = _json(verified)
    assert isinstance(report, dict) and report.get("ok") is True, report


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    text = proc.stdout + proc.stderr
    assert proc.returncode == code, text
    assert "Traceback" not in text
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


def test_wrong_input_is_one_line_and_a_code(store: str, tmp_path: Path) -> None:
    assert "run not found" in _one_line_error(_run("--store", store, "runs", "show", "nope"), 3)
    assert "run not found" in _one_line_error(_run("--store", store, "resume", "nope", "--answer", "x"), 3)
    line = _one_line_error(_run("--store", store, "emit", "x", "--payload-json", "{bad"), 2)
    assert "--payload-json" in line
    line = _one_line_error(_run("--store", store, "resume", "nope", "--payload-json", "{bad"), 2)
    assert "--payload-json" in line
    not_a_flow = tmp_path / "data.json"
    not_a_flow.write_text('{"hello": "world"}')
    assert "not a VisualFlow" in _one_line_error(_run("--store", store, "run", str(not_a_flow)), 2)
    _one_line_error(_run("--store", store, "run", str(ROOT / "README.md")), 2)
    assert "cannot open store" in _one_line_error(_run("--store", "postgres://x", "runs", "list"), 2)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    bad_sqlite = f"sqlite:///{blocker / 'sub' / 'runs.db'}"
    assert "cannot open store" in _one_line_error(_run("--store", bad_sqlite, "runs", "list"), 2)
    directory = f"sqlite:///{tmp_path}"
    assert "cannot open store" in _one_line_error(_run("--store", directory, "runs", "list"), 2)


def _command_paths(group: click.Group, prefix: str = "") -> list[list[str]]:
    paths: list[list[str]] = []
    for name, command in group.commands.items():
        path = [*prefix.split(), name]
        paths.append(path)
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, " ".join(path)))
    return paths


def test_every_command_has_help() -> None:
    paths = _command_paths(cli)
    assert len(paths) > 10
    for path in paths:
        result = CliRunner().invoke(cli, [*path, "--help"], prog_name="abstractruntime")
        assert result.exit_code == 0, (path, result.output)
        lines = result.output.splitlines()
        assert lines[0].startswith("Usage: abstractruntime " + " ".join(path)), (path, result.output)
        description = [line for line in lines[1:] if line.strip() and not line.startswith("Options")]
        assert description and description[0].strip(), (path, result.output)
    assert _run("scheduler", "serve", "--help").returncode == 0  # and through the real entry point
