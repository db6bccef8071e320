"""``retry`` and ``fork`` in subprocesses on SQLite and files stores: a retry after fixing the flow file,
forks that complete while the origin stays untouched, and ledgers that verify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.testing.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
ASK = ROOT / "examples" / "flows" / "ask_and_answer.json"
KINDS = ["sqlite", "files"]
BROKEN = "def transform(_input):\n    raise ValueError('broken')\n"
FIXED = "def transform(_input):\n    return {'result': 'HELLO ' + str(_input.get('name')).upper()}\n"


def _store(kind: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}" if kind == "sqlite" else (tmp_path / "store").as_uri()


def fragile_flow(code: str) -> dict[str, Any]:
    """start -> ask_user -> code(name) -> end: the code node fails while ``code`` raises."""
    exec_in = {"id": "exec-in", "type": "execution"}
    exec_out = {"id": "exec-out", "type": "execution"}
    return {
        "id": "fragile",
        "name": "Fragile flow",
        "entryNode": "start",
        "nodes": [
            {"id": "start", "type": "on_flow_start", "data": {"outputs": [exec_out]}},
            {
                "id": "ask",
                "type": "ask_user",
                "data": {
                    "inputs": [exec_in, {"id": "prompt", "type": "string"}],
                    "outputs": [exec_out, {"id": "response", "type": "string"}],
                    "pinDefaults": {"prompt": "Name?"},
                },
            },
            {
                "id": "shout",
                "type": "code",
                "data": {
                    "inputs": [exec_in, {"id": "name", "type": "string"}],
                    "outputs": [exec_out, {"id": "result", "type": "string"}],
                    "code": code,
                    "functionName": "transform",
                },
            },
            {
                "id": "end",
                "type": "on_flow_end",
                "data": {"inputs": [exec_in, {"id": "response", "type": "string"}]},
            },
        ],
        "edges": [
            {"source": "start", "sourceHandle": "exec-out", "target": "ask", "targetHandle": "exec-in"},
            {"source": "ask", "sourceHandle": "exec-out", "target": "shout", "targetHandle": "exec-in"},
            {"source": "shout", "sourceHandle": "exec-out", "target": "end", "targetHandle": "exec-in"},
            {"source": "ask", "sourceHandle": "response", "target": "shout", "targetHandle": "name"},
            {"source": "shout", "sourceHandle": "result", "target": "end", "targetHandle": "response"},
        ],
    }


def _cli(store: str, tmp_path: Path, *args: str) -> Any:
    return run_cli("--store", store, *args, cwd=tmp_path)


def _ledger(store: str, tmp_path: Path, run_id: str) -> list[dict[str, Any]]:
    shown = _cli(store, tmp_path, "ledger", "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    return data["records"] if isinstance(data, dict) else data


def _verify(store: str, tmp_path: Path, run_id: str) -> None:
    verified = _cli(store, tmp_path, "ledger", "verify", run_id)
    assert verified.returncode == 0 and verified.stdout.startswith("ok:"), verified.stdout + verified.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_retry_after_fixing_the_flow_file(kind: str, tmp_path: Path) -> None:
    store = _store(kind, tmp_path)
    flow = tmp_path / "fragile.json"
    flow.write_text(json.dumps(fragile_flow(BROKEN)), encoding="utf-8")
    started = _cli(store, tmp_path, "run", str(flow), "--detach", "--json")
    run_id = json.loads(started.stdout)["run_id"]
    failed = _cli(store, tmp_path, "resume", run_id[:8], "--answer", "bob", "--json")
    assert failed.returncode == 4 and "broken" in failed.stdout
    still_broken = _cli(store, tmp_path, "retry", run_id[:8], "--json")
    assert still_broken.returncode == 4
    flow.write_text(json.dumps(fragile_flow(FIXED)), encoding="utf-8")
    retried = _cli(store, tmp_path, "retry", run_id[:8], "--json")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert json.loads(retried.stdout)["output"]["response"] == "HELLO BOB"
    records = _ledger(store, tmp_path, run_id)
    kinds = [(r.get("effect") or {}).get("type") for r in records]
    assert kinds.count("resume") == 1 and kinds.count("ask_user") == 2  # asked once (started, waiting)
    retries = [r["effect"]["payload"] for r in records if (r.get("effect") or {}).get("type") == "retry"]
    assert [p["retry"] for p in retries] == [1, 2] and retries[0]["from_node"] == "shout"
    _verify(store, tmp_path, run_id)
    again = _cli(store, tmp_path, "retry", run_id)
    assert again.returncode == 2 and "nothing to retry" in again.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_fork_completes_and_the_origin_stays_untouched(kind: str, tmp_path: Path) -> None:
    store = _store(kind, tmp_path)
    started = _cli(store, tmp_path, "run", str(ASK), "-i", "request=x", "--detach", "--json")
    run_id = json.loads(started.stdout)["run_id"]
    assert _cli(store, tmp_path, "resume", run_id, "--answer", "Bob").returncode == 0
    origin_before = _ledger(store, tmp_path, run_id)
    resume_seq = next(
        i for i, r in enumerate(origin_before) if (r.get("effect") or {}).get("type") == "resume"
    )
    replayed = _cli(store, tmp_path, "fork", run_id[:8], "--at", str(resume_seq), "--json")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    out = json.loads(replayed.stdout)
    assert out["output"]["response"] == "You answered: Bob" and out["run_id"] != run_id
    asked = _cli(store, tmp_path, "fork", run_id, "--at", str(resume_seq - 1), "--detach", "--json")
    assert asked.returncode == 5, asked.stdout + asked.stderr
    second = json.loads(asked.stdout)["run_id"]
    assert _cli(store, tmp_path, "resume", second, "--answer", "Eve").returncode == 0
    assert _ledger(store, tmp_path, run_id) == origin_before
    shown = json.loads(_cli(store, tmp_path, "runs", "show", second, "--json").stdout)
    assert shown["output"]["response"] == "You answered: Eve"
    assert shown["vars"]["_runtime"]["forked_from"]["run_id"] == run_id
    for rid in (run_id, out["run_id"], second):
        _verify(store, tmp_path, rid)
    listed = json.loads(_cli(store, tmp_path, "runs", "list", "--json").stdout)
    assert {r["run_id"]: (r["forked_from"] or {}).get("run_id") for r in listed}[second] == run_id


@pytest.mark.parametrize("kind", KINDS)
def test_fork_refuses_a_record_that_does_not_exist(kind: str, tmp_path: Path) -> None:
    store = _store(kind, tmp_path)
    started = _cli(store, tmp_path, "run", str(ASK), "-i", "request=x", "--detach", "--json")
    run_id = json.loads(started.stdout)["run_id"]
    refused = _cli(store, tmp_path, "fork", run_id, "--at", "99")
    assert refused.returncode == 2 and "is not a record" in refused.stderr
    rerun = _cli(store, tmp_path, "fork", run_id, "--at", "1", "--rerun-effects", "--detach")
    assert rerun.returncode == 5
