"""``abstractruntime run FLOW.json --fake-llm`` on a flow with an agent node runs the built-in ReAct agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from abstractruntime.cli.main import cli

EXAMPLE = Path("/work/shared/flows/abstractflow-examples/db0a1e11.json")


def _agent_flow() -> dict[str, object]:
    """on_flow_start(prompt) -> agent(task) -> on_flow_end(response)."""
    exec_pin = {"id": "exec-in", "type": "execution"}
    out_pin = {"id": "exec-out", "type": "execution"}
    return {
        "id": "cli_agent",
        "nodes": [
            {"id": "start", "type": "on_flow_start", "data": {"outputs": [out_pin, {"id": "prompt"}]}},
            {
                "id": "agent",
                "type": "agent",
                "data": {
                    "inputs": [exec_pin, {"id": "task", "type": "string"}],
                    "outputs": [out_pin, {"id": "response", "type": "string"}],
                    "agentConfig": {"tools": ["list_files"], "max_iterations": 3},
                },
            },
            {"id": "end", "type": "on_flow_end", "data": {"inputs": [exec_pin, {"id": "response"}]}},
        ],
        "edges": [
            {"source": "start", "sourceHandle": "exec-out", "target": "agent", "targetHandle": "exec-in"},
            {"source": "start", "sourceHandle": "prompt", "target": "agent", "targetHandle": "task"},
            {"source": "agent", "sourceHandle": "exec-out", "target": "end", "targetHandle": "exec-in"},
            {"source": "agent", "sourceHandle": "response", "target": "end", "targetHandle": "response"},
        ],
    }


def _run(tmp_path: Path, flow: Path, *args: str) -> str:
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    result = CliRunner().invoke(
        cli, ["--store", store, "run", str(flow), "--fake-llm", "--detach", *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "not registered" not in result.output
    return result.output


def test_run_agent_flow_with_fake_llm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABSTRACTRUNTIME_STORE", raising=False)
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(_agent_flow()), encoding="utf-8")
    output = _run(tmp_path, path, "--input", "prompt=hello")
    assert "visual_react_agent_cli_agent_agent" in output
    assert '"response": "echo: hello"' in output


def test_run_example_agent_flow_with_fake_llm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not EXAMPLE.is_file():
        pytest.skip("example flows not available")
    monkeypatch.delenv("ABSTRACTRUNTIME_STORE", raising=False)
    output = _run(tmp_path, EXAMPLE, "--input", "prompt=hello")
    assert '"answer": "echo: hello"' in output
