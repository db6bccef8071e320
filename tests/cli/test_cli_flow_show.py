"""``flow show`` and ``run`` refusing undeclared ``--input`` keys, in subprocesses (SQLite and files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abstractruntime.testing.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "examples" / "flows"
THIRD_PARTY = Path("/work/shared/flows/abstractflow-examples")


def _store(kind: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}" if kind == "sqlite" else (tmp_path / "store").as_uri()


def test_flow_show_lists_the_exact_input_keys(tmp_path: Path) -> None:
    shown = run_cli("flow", "show", str(FLOWS / "ask_and_answer.json"), "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["id"] == "ask_and_answer"
    assert info["entry"] == {"node_id": "start", "type": "on_flow_start"}
    assert info["inputs"] == [{"name": "request", "type": "string"}]
    assert info["outputs"] == [{"name": "response", "type": "string"}]
    assert info["node_count"] == 5 and info["node_types"]["ask_user"] == 1
    assert info["needs"] == ["user"]
    text = run_cli("flow", "show", str(FLOWS / "ask_and_answer.json"), cwd=tmp_path)
    assert text.returncode == 0 and "request: string" in text.stdout and "Needs: user" in text.stdout


def test_flow_show_names_subflows_and_defaults(tmp_path: Path) -> None:
    flow = {
        "id": "parent",
        "name": "Parent flow",
        "nodes": [
            {
                "id": "s",
                "type": "on_flow_start",
                "data": {
                    "outputs": [{"id": "exec-out", "type": "execution"}, {"id": "n", "type": "number"}],
                    "pinDefaults": {"n": 3},
                },
            },
            {"id": "c", "type": "subflow", "data": {"subflowId": "child"}},
            {"id": "l", "type": "llm_call", "data": {}},
        ],
        "edges": [{"source": "s", "sourceHandle": "exec-out", "target": "c", "targetHandle": "exec-in"}],
    }
    path = tmp_path / "parent.json"
    path.write_text(json.dumps(flow), encoding="utf-8")
    info = json.loads(run_cli("flow", "show", str(path), "--json", cwd=tmp_path).stdout)
    assert info["name"] == "Parent flow"
    assert info["inputs"] == [{"name": "n", "type": "number", "default": 3}]
    assert info["subflows"] == ["child"] and "llm" in info["needs"]


@pytest.mark.skipif(not THIRD_PARTY.is_dir(), reason="the shared third-party flows are not present")
def test_flow_show_reads_third_party_flows(tmp_path: Path) -> None:
    for path in sorted(THIRD_PARTY.glob("*.json"))[:5]:
        shown = run_cli("flow", "show", str(path), "--json", cwd=tmp_path)
        assert shown.returncode == 0, (path, shown.stderr)
        assert json.loads(shown.stdout)["entry"]["type"] == "on_flow_start"


def test_flow_show_refuses_a_file_that_is_no_flow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    shown = run_cli("flow", "show", str(bad), cwd=tmp_path)
    assert shown.returncode == 2 and "Error:" in shown.stderr


@pytest.mark.parametrize("kind", ["sqlite", "files"])
def test_run_refuses_unknown_input_keys_with_the_valid_ones(kind: str, tmp_path: Path) -> None:
    store = _store(kind, tmp_path)
    flow = str(FLOWS / "ask_and_answer.json")
    refused = run_cli("--store", store, "run", flow, "--input", "reqest=hi", "--detach", cwd=tmp_path)
    assert refused.returncode == 2
    assert "unknown --input key(s) reqest" in refused.stderr and "valid keys: request" in refused.stderr
    accepted = run_cli(
        "--store",
        store,
        "run",
        flow,
        "--input",
        "request=hi",
        "--input",
        "workspace_root=.",
        "--detach",
        cwd=tmp_path,
    )
    assert accepted.returncode == 5, accepted.stderr


def test_resume_help_documents_the_payload_of_each_wait_reason(tmp_path: Path) -> None:
    shown = run_cli("resume", "--help", cwd=tmp_path)
    assert shown.returncode == 0
    for line in ('user         --answer TEXT  ->  {"text": TEXT}', '{"response": TEXT}', "--approve", "job"):
        assert line in shown.stdout
    assert shown.stdout.rstrip().splitlines()[-1].strip().startswith("abstractruntime resume ")
