"""The command line's contract with its user, through the real entry point (one process per command).

Never a traceback: damaged stores, hostile JSON and a missing extra end in one ``Error: ...`` line and a
documented exit code (docs/cli.md); damaged state is reported, never rewritten.  Read-only commands create
nothing.  Failed runs exit 4, interrupted prompts exit 5 with the resume command, and finished runs cannot
be paused, cancelled or unpaused (exit 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "examples" / "flows"
ASK = str(FLOWS / "ask_and_answer.json")
LOOP = str(FLOWS / "loop_strings.json")
TIMEOUT = 60

FAILING_FLOW = {
    "id": "failing",
    "entryNode": "start",
    "nodes": [
        {
            "id": "start",
            "type": "on_flow_start",
            "data": {"outputs": [{"id": "exec-out", "type": "execution"}]},
        },
        # A catalog node has no capability in this runtime: a node error (success: False).
        {"id": "img", "type": "model_catalog", "data": {"inputs": [{"id": "exec-in", "type": "execution"}]}},
    ],
    "edges": [
        {
            "id": "e1",
            "source": "start",
            "sourceHandle": "exec-out",
            "target": "img",
            "targetHandle": "exec-in",
        }
    ],
}

PY_FLOWS = """
from abstractruntime import StepPlan, WorkflowSpec

def boom(run, ctx):
    raise RuntimeError("kaboom")

def soft(run, ctx):
    return StepPlan(node_id="soft", complete_output={"success": False, "error": "did not work"})

raising = WorkflowSpec(workflow_id="raising", entry_node="boom", nodes={"boom": boom})
soft_fail = WorkflowSpec(workflow_id="soft_fail", entry_node="soft", nodes={"soft": soft})
"""

BUGGY_CLI = """
import abstractruntime.cli.run as cli_run
from abstractruntime import StepPlan, WorkflowSpec

def _bug(*args, **kwargs):
    raise LookupError("simulated bug")

cli_run.report_outcome = _bug  # stands in for a bug in the CLI itself

def done(run, ctx):
    return StepPlan(node_id="done", complete_output={"ok": True})

flow = WorkflowSpec(workflow_id="buggy", entry_node="done", nodes={"done": done})
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ABSTRACTRUNTIME_STORE", "ABSTRACTRUNTIME_DEBUG")}
    env.update(extra)
    return env


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "abstractruntime", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
        check=False,
        env=env or _env(),
        cwd=cwd,
    )


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr


def _error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The one ``Error:`` line of a failed command (warnings may precede it)."""
    _no_traceback(proc)
    assert proc.returncode == code, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


def _waiting_run(store: str) -> str:
    started = _run("--store", store, "run", ASK, "--detach", "--json", "-q")
    assert started.returncode == 5, started.stdout + started.stderr
    return str(json.loads(started.stdout)["run_id"])


# -- damaged stores ------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["garbage", "not_a_run", "huge_int", "deep", "other_id"])
def test_corrupt_run_row_is_reported_and_left_alone(db: Path, damage: str) -> None:
    store = f"sqlite:///{db}"
    run_id = _waiting_run(store)
    _run("--store", store, "run", LOOP, "-q")
    conn = sqlite3.connect(db)
    good = conn.execute("SELECT run_json FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0]
    text = {
        "garbage": "{garbage",
        "not_a_run": "[]",
        "huge_int": good[:-1] + ', "x": ' + "1" * 5000 + "}",
        "deep": good[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}",
        "other_id": json.dumps({**json.loads(good), "run_id": 5}),
    }[damage]
    conn.execute("UPDATE runs SET run_json = ? WHERE run_id = ?", (text, run_id))
    conn.commit()
    conn.close()
    before = _digest(db)
    for args in (["runs", "show", run_id], ["resume", run_id, "--answer", "x"], ["cancel", run_id]):
        assert "corrupt stored state" in _error(_run("--store", store, *args), 6)
    listed = _run("--store", store, "runs", "list")
    _no_traceback(listed)
    assert listed.returncode == 0 and "loop_strings" in listed.stdout
    if damage != "other_id":
        assert f"warning: skipping unreadable run {run_id}" in listed.stderr
    assert _digest(db) == before


def test_corrupt_run_file_and_ledger_lines_on_a_file_store(tmp_path: Path) -> None:
    base = tmp_path / "store"
    store = f"file://{base}"
    run_id = _waiting_run(store)
    (base / f"run_{run_id}.json").write_text('{"run_id": "x", garbage')
    with (base / f"ledger_{run_id}.jsonl").open("a") as ledger:
        ledger.write('garbage line\n{"also": \n')
    before = {p.name: _digest(p) for p in base.iterdir() if p.is_file()}
    for args in (["runs", "show", run_id], ["ledger", "show", run_id], ["export", run_id, "-o", "-"]):
        assert "corrupt stored state" in _error(_run("--store", store, *args), 6)
    listed = _run("--store", store, "runs", "list")
    _no_traceback(listed)
    assert listed.returncode == 0 and "warning: skipping unreadable run file" in listed.stderr
    assert {p.name: _digest(p) for p in base.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_garbled_sqlite_pages_never_give_a_traceback(tmp_path: Path, seed: int) -> None:
    pristine = tmp_path / "pristine.db"
    store = f"sqlite:///{pristine}"
    for _ in range(4):
        _run("--store", store, "run", LOOP, "-q")
    run_id = _waiting_run(store)
    db = tmp_path / "garbled.db"
    shutil.copy(pristine, db)
    rnd = random.Random(seed)
    size = db.stat().st_size
    with db.open("r+b") as handle:  # random bytes over pages in the middle of the file
        handle.seek(rnd.randrange(4096, size // 2))
        handle.write(rnd.randbytes(size // 3))
    garbled = f"sqlite:///{db}"
    read_only = [["runs", "list"], ["runs", "show", run_id], ["ledger", "verify", run_id], ["info"]]
    before = _digest(db)
    for args in [*read_only, ["export", run_id, "-o", "-"]]:
        proc = _run("--store", garbled, *args)
        if proc.returncode != 0:
            _error(proc, proc.returncode)
        assert proc.returncode in (0, 3, 6), proc.stderr
    assert _digest(db) == before  # reported, never "fixed"
    for args in (
        ["resume", run_id, "--answer", "x"],
        ["run", LOOP, "-q"],
        ["emit", "a", "--scope", "global"],
    ):
        proc = _run("--store", garbled, *args)
        if proc.returncode != 0:
            _error(proc, proc.returncode)
        assert proc.returncode in (0, 3, 4, 6), proc.stderr


# -- hostile JSON input --------------------------------------------------------------------------
def test_deeply_nested_and_huge_integer_json_input(db: Path) -> None:
    store = f"sqlite:///{db}"
    run_id = _waiting_run(store)
    deep = "[" * 100_000
    huge = "1" * 5000
    for value, words in ((deep, "nested too deeply"), (huge, "digits"), (f"[{huge}]", "digits")):
        cases = [
            ["run", LOOP, "--input", f"x={value}"],
            ["run", LOOP, "--vars-json", '{"x": ' + value + "}"],
            ["resume", run_id, "--payload-json", value],
            ["emit", "e", "--scope", "global", "--payload-json", value],
        ]
        for args in cases:
            assert words in _error(_run("--store", store, *args), 2), args
    shown = json.loads(_run("--store", store, "runs", "show", run_id, "--json").stdout)
    assert shown["status"] == "waiting"


# -- the entry point -----------------------------------------------------------------------------
@pytest.mark.parametrize("module", ["click", "rich", "platformdirs"])
def test_missing_cli_extra_is_one_line(module: str) -> None:
    script = shutil.which("abstractruntime", path=str(Path(sys.executable).parent))
    launchers = ["runpy.run_module('abstractruntime', run_name='__main__')"]
    if script is not None:  # the installed console script imports abstractruntime.cli.main:main
        launchers.append(f"runpy.run_path({script!r}, run_name='__main__')")
    for launch in launchers:
        code = f"import runpy, sys\nsys.modules[{module!r}] = None\nsys.argv = ['abstractruntime', 'runs', 'list']\n{launch}\n"
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
        line = _error(proc, 1)
        assert "pip install 'abstractruntime[cli]'" in line.lower(), line


def test_an_unexpected_error_is_one_line_exit_70_and_debug_shows_the_traceback(
    tmp_path: Path, db: Path
) -> None:
    (tmp_path / "buggy.py").write_text(BUGGY_CLI)
    store = f"sqlite:///{db}"
    line = _error(_run("--store", store, "run", "buggy.py:flow", cwd=tmp_path), 70)
    assert "LookupError: simulated bug" in line and "--debug" in line
    for proc in (
        _run("--debug", "--store", store, "run", "buggy.py:flow", cwd=tmp_path),
        _run("--store", store, "run", "buggy.py:flow", cwd=tmp_path, env=_env(ABSTRACTRUNTIME_DEBUG="1")),
    ):
        assert proc.returncode == 70 and "Traceback" in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("Error: unexpected LookupError")


# -- run outcomes --------------------------------------------------------------------------------
def test_failed_nodes_and_success_false_exit_4(tmp_path: Path, db: Path) -> None:
    store = f"sqlite:///{db}"
    flow = tmp_path / "failing.json"
    flow.write_text(json.dumps(FAILING_FLOW))
    (tmp_path / "pyflows.py").write_text(PY_FLOWS)
    node_failed = _run("--store", store, "run", str(flow))
    _no_traceback(node_failed)
    assert node_failed.returncode == 4 and "success: false" in node_failed.stdout
    assert "model_catalog" in node_failed.stderr
    as_json = _run("--store", store, "run", str(flow), "--json", "-q")
    assert as_json.returncode == 4 and json.loads(as_json.stdout)["output"]["success"] is False
    soft = _run("--store", store, "run", "pyflows.py:soft_fail", cwd=tmp_path)
    assert soft.returncode == 4 and "did not work" in soft.stderr
    assert "kaboom" in _error(_run("--store", store, "run", "pyflows.py:raising", cwd=tmp_path), 4)


def test_ctrl_d_at_the_prompt_exits_5_with_the_resume_command(db: Path) -> None:
    store = f"sqlite:///{db}"
    proc = _run("--store", store, "run", ASK, "--interactive", "-q")  # stdin is /dev/null: EOF
    _no_traceback(proc)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "Aborted" not in proc.stderr and "resume" in proc.stdout and "--answer" in proc.stdout
    run_id = proc.stdout.split(" resume ", 1)[1].split()[0]
    state = json.loads(_run("--store", store, "runs", "show", run_id, "--json").stdout)
    assert state["status"] == "waiting"
    assert _run("--store", store, "resume", run_id, "--answer", "Ann").returncode == 0


def test_ctrl_c_at_the_prompt_exits_5_with_the_resume_command(db: Path) -> None:
    store = f"sqlite:///{db}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "abstractruntime", "--store", store, "run", ASK, "--interactive", "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(PYTHONUNBUFFERED="1"),
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + TIMEOUT
        while b"What is your name?" not in seen and time.monotonic() < deadline:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        time.sleep(0.3)  # let the process reach input()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = (seen + out).decode()
    assert proc.returncode == 5, text + err.decode()
    assert "Traceback" not in err.decode() and " resume " in text


# -- stores --------------------------------------------------------------------------------------
READ_ONLY = (
    ["runs", "list"],
    ["runs", "show", "r1"],
    ["ledger", "show", "r1"],
    ["ledger", "verify", "r1"],
    ["export", "r1", "-o", "-"],
)


def test_read_only_commands_never_create_a_store(tmp_path: Path) -> None:
    for store in (f"sqlite:///{tmp_path / 'sub' / 'runs.db'}", f"file://{tmp_path / 'files'}"):
        for args in READ_ONLY:
            assert "no store at" in _error(_run("--store", store, *args), 3), (store, args)
        info = _run("--store", store, "info", "--json")
        assert info.returncode == 0 and json.loads(info.stdout)["store_exists"] is False
        assert _run("--store", store, "emit", "e", "--scope", "global").returncode == 3
    assert _tree(tmp_path) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in [*READ_ONLY, ["info"]]:
        assert _run("--store", f"file://{empty}", *args).returncode in (0, 3)
    assert _tree(empty) == []  # no lock file, no commands.jsonl
    db = tmp_path / "db" / "runs.db"
    _run("--store", f"sqlite:///{db}", "run", LOOP, "-q")
    before = (_tree(db.parent), _digest(db))
    for args in [*READ_ONLY, ["info"]]:
        _run("--store", f"sqlite:///{db}", *args)
    assert (_tree(db.parent), _digest(db)) == before


def test_one_slash_sqlite_url_is_refused() -> None:
    name = f"abstractruntime-test-{uuid.uuid4().hex}.db"
    for args in (["runs", "list"], ["run", LOOP, "-q"]):
        assert "sqlite:///" in _error(_run("--store", f"sqlite:/{name}", *args), 2)
    assert not Path("/", name).exists()


def test_detach_on_a_memory_store_is_refused() -> None:
    line = _error(_run("--store", "memory://", "run", ASK, "--detach"), 2)
    assert "memory://" in line
    _error(_run("--store", "memory://", "resume", "r1", "--answer", "x", "--detach"), 2)
    waiting = _run("--store", "memory://", "run", ASK)  # not a TTY: it waits, and says it cannot resume
    assert (
        waiting.returncode == 5 and "cannot be resumed" in waiting.stdout and " resume " not in waiting.stdout
    )


# -- controlling runs ----------------------------------------------------------------------------
def test_paused_runs_show_as_paused(db: Path) -> None:
    store = f"sqlite:///{db}"
    started = _run("--store", store, "run", str(FLOWS / "event_wait.json"), "--detach", "--json", "-q")
    run_id = json.loads(started.stdout)["run_id"]
    assert _run("--store", store, "pause", run_id, "--reason", "maintenance").returncode == 0
    assert "waiting (paused)" in _run("--store", store, "runs", "list").stdout
    shown = _run("--store", store, "runs", "show", run_id).stdout
    assert "waiting (paused)" in shown and "maintenance" in shown
    assert _run("--store", store, "unpause", run_id).returncode == 0
    assert "(paused)" not in _run("--store", store, "runs", "list").stdout


def test_finished_runs_cannot_be_paused_cancelled_or_unpaused(db: Path) -> None:
    store = f"sqlite:///{db}"
    done = _run("--store", store, "run", LOOP, "--json", "-q")
    run_id = json.loads(done.stdout)["run_id"]
    for args in (
        ["pause", run_id],
        ["cancel", run_id],
        ["cancel", run_id, "--children"],
        ["unpause", run_id],
    ):
        assert "already completed" in _error(_run("--store", store, *args), 2), args


def test_emit_that_reaches_no_run_exits_3(db: Path) -> None:
    store = f"sqlite:///{db}"
    _run("--store", store, "run", LOOP, "-q")
    assert "reached no waiting run" in _error(
        _run("--store", store, "emit", "nobody", "--scope", "global"), 3
    )
    as_json = _run("--store", store, "emit", "nobody", "--scope", "global", "--json")
    assert as_json.returncode == 3 and json.loads(as_json.stdout) == []
