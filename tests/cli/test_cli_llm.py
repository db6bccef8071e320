"""``abstractruntime run/resume`` against a real OpenAI-compatible HTTP server (the loopback stub).

The options reach the server (model, bearer token), a run remembers the base URL and model but never the key,
and a later process resumes it against the same server with a key of its own.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from abstractruntime.testing.cli import run_cli
from abstractruntime.testing.openai_stub import OpenAIStubServer

ROOT = Path(__file__).resolve().parents[2]

FLOW = """
from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec


def first(run, ctx):
    return StepPlan(node_id="first", effect=Effect(EffectType.LLM_CALL, {"prompt": "hello"}, "a"), next_node="ask")


def ask(run, ctx):
    return StepPlan(node_id="ask", effect=Effect(EffectType.ASK_USER, {"prompt": "go on?"}, "reply"), next_node="second")


def second(run, ctx):
    payload = {"prompt": "and " + run.vars["reply"]["text"]}
    return StepPlan(node_id="second", effect=Effect(EffectType.LLM_CALL, payload, "b"), next_node="done")


def done(run, ctx):
    return StepPlan(node_id="done", complete_output={"a": run.vars["a"]["content"], "b": run.vars["b"]["content"]})


flow = WorkflowSpec(workflow_id="llm_twice", entry_node="first",
                    nodes={"first": first, "ask": ask, "second": second, "done": done})
"""


def _cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env=env)


def test_run_and_resume_against_an_openai_compatible_server(tmp_path: Path) -> None:
    (tmp_path / "llm_flow.py").write_text(FLOW)
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    with OpenAIStubServer(["first answer", "second answer"]) as server:
        started = _cli(
            "--store", store, "run", "llm_flow.py:flow", "--detach", "--json",
            "--llm-base-url", server.base_url, "--llm-model", "tiny-model", "--llm-api-key", "sekret-one",
            cwd=tmp_path,
        )  # fmt: skip
        assert started.returncode == 5, started.stdout + started.stderr
        run_id = json.loads(started.stdout)["run_id"]
        first = server.chat_requests[0]
        assert first.json["model"] == "tiny-model"
        assert first.headers["authorization"] == "Bearer sekret-one"
        assert any(
            m.get("content") == "hello" or "hello" in str(m.get("content")) for m in first.json["messages"]
        )

        shown = _cli("--store", store, "runs", "show", run_id, "--json", cwd=tmp_path)
        assert "sekret" not in shown.stdout
        assert b"sekret" not in (tmp_path / "runs.db").read_bytes()

        resumed = _cli(
            "--store", store, "resume", run_id, "--answer", "more", "--json",
            cwd=tmp_path, ABSTRACTRUNTIME_LLM_API_KEY="sekret-two",
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert json.loads(resumed.stdout)["output"] == {"a": "first answer", "b": "second answer"}
        second = server.chat_requests[1]
        assert second.json["model"] == "tiny-model"  # remembered by the run
        assert second.headers["authorization"] == "Bearer sekret-two"


def test_config_file_and_env_configure_the_llm(tmp_path: Path) -> None:
    (tmp_path / "llm_flow.py").write_text(FLOW)
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    with OpenAIStubServer(["from config"]) as server:
        config = tmp_path / "config.toml"
        config.write_text(f'[llm]\nbase_url = "{server.base_url}"\nmodel = "config-model"\napi_key = "k1"\n')
        started = _cli(
            "--store", store, "run", "llm_flow.py:flow", "--detach", "--json", cwd=tmp_path,
            ABSTRACTRUNTIME_CONFIG=str(config), ABSTRACTRUNTIME_LLM_MODEL="env-model",
        )  # fmt: skip
        assert started.returncode == 5, started.stdout + started.stderr
        request = server.chat_requests[0]
        assert request.json["model"] == "env-model"  # the environment wins over the file
        assert request.headers["authorization"] == "Bearer k1"


def test_a_base_url_without_a_model_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "llm_flow.py").write_text(FLOW)
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    result = _cli(
        "--store", store, "run", "llm_flow.py:flow", "--llm-base-url", "http://127.0.0.1:9", cwd=tmp_path
    )  # fmt: skip
    assert result.returncode == 2 and "no model" in result.stderr, result.stdout + result.stderr
