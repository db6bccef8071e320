"""Every example flow with LLM/tool/agent nodes runs through ``abstractruntime run`` against a real HTTP server.

One :class:`OpenAIStubServer` per module answers like a small, obedient model: ``echo: <last user message>``;
for a ``response_format`` with a JSON schema, :func:`abstractruntime.testing.schema_example` of it as JSON
text (what ``ScriptedLLM`` answers in-process); when a system/user message says to output a ``<promise>``
text EXACTLY (the ralph-loop flows), that text.  It never asks for tools, so each agent ends after one
iteration; ``test_tool_loop_flow`` uses a second stub that always asks for ``search_files``.

Each flow runs in subprocesses exactly as an operator would: ``python -m abstractruntime --store
sqlite:///<tmp>/runs.db run FLOW.json --llm-base-url URL --llm-model stub-model --approve-tools all --detach
--json``, then ``resume RUN --answer ...`` at user waits, ``resume RUN --approve`` at other waits, and
``scheduler serve --once`` once a timer is due, until the run ends.  The base URL carries a per-flow path
prefix (``<stub>/flow/<name>``) so the shared stub can tell which flow each chat request came from.  The
flows are driven three at a time by one module fixture (the 2-core machine spends most of the time starting
Python); each parametrized test then checks its flow.

Before the CLI had an LLM client, tool handlers and the built-in agent, these flows failed: those with an
``agent`` node with ``workflow 'visual_react_agent_<flow>_<node>' is not registered``, those with
``tool_calls``/``call_tool`` nodes with ``No effect handler registered for tool_calls``, and those with
``llm_call`` nodes for want of an LLM (:func:`failed_before` gives the reason per flow).  The four KG flows
(:data:`KG_FLOWS`) stopped at ``No effect handler registered for memory_kg_*`` until the CLI registered its
SQLite KG store.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.cli.flow_info import flow_input_names, unknown_input_keys
from abstractruntime.testing import schema_example
from abstractruntime.testing.openai_stub import OpenAIStubServer, RecordedRequest, chat_completion

EXAMPLES_DIR = Path("/work/shared/flows/abstractflow-examples")
LLM_NODE_TYPES = frozenset({"llm_call", "agent", "tool_calls", "call_tool"})
# One answer ends every chat loop in the examples: first word "stop" (basic-followup), contains "/q"
# (basic-react-test-chat); a question with choices gets its first choice.
USER_ANSWER = "stop /q"
# Inputs every flow gets (unused ones are harmless); workspace_root is added per flow.
INPUTS = {"prompt": "hello", "query": "q", "task": "t", "request": "r", "max_search": 1}

# Per-flow inputs (merged over INPUTS) that put the LLM node on the executed path.
FLOW_INPUTS: dict[str, dict[str, Any]] = {
    "b991bd18.json": {"follow_up": True},  # clarify-query: the `if follow_up` false branch skips the LLM
    "e2b570be.json": {"enriched_request": "plan a day"},  # scheduler: the agent's task
}

# Flows that complete without any chat request, with the reason (checked: still no request).
NO_LLM_CALL: dict[str, str] = {
    "328617a1.json": "the agent node is not on any exec path (start -> end directly)",
    "53d568fc.json": "the while condition `get_var max_iterations > 0` stays false (even with "
    "-i max_iterations=1), so the llm_call in the loop body never runs",
    "tg-agent-main.json": "the agent runs under an on_event listener (telegram message) that nothing emits",
}

# Flows that do not complete through the CLI, with the reason (checked: each must still not complete).  They
# are bounded: one resume at most and _STUCK_TIMEOUT_S per command (the endless loops are killed by it).
NOT_COMPLETING: dict[str, str] = {
    # cannot finish by construction (same as tests/visualflow/test_vf_llm_flows.py NOT_COMPLETING)
    "ddc466f4.json": "while loop never ends: the `if index >= 5 -> continue = false` nodes are not on any "
    "exec path",
    "67eb9673.json": "the `if` after ask_user has no condition input, so its false branch recurses into the "
    "flow itself forever (it asks again after every answer)",
    "b16c5a46.json": "chat loop never exits: the `contains '/q'` result is not wired to the `if` condition",
    "d6f30991.json": "while loop over `tasks` never ends: the array is only ever appended to, never emptied",
}
# Flows that stopped with "No effect handler registered for memory_kg_*" before the CLI registered its
# SQLite KG store (docs/memory.md); they complete now.
KG_FLOWS = (
    "ac-kg-memory-agent.json",
    "ltm-ai-kg-memory-source-pins-debug.json",
    "ltm-ai-kg-ingest-span.json",
    "ltm-ai-chat.json",
)
# The reasons that are the run's actual error text (the others are loops stopped by a timeout or a bound).
_ERROR_REASONS = ("No effect handler registered for",)

# Driven by test_tool_loop_flow instead (its while loop only counts searches the LLM asked for).
TOOL_LOOP_FLOW = "4c8e6f48.json"

_PROMISE = re.compile(r"EXACT(?:LY)?\b[^:]*:\s*(.*?<promise>.*?</promise>)", re.S)
_COMMAND_TIMEOUT_S = 60.0
_STUCK_TIMEOUT_S = 4.0  # per command, for the NOT_COMPLETING flows (some loop forever in one process)
_MAX_ROUNDS = 12
_WORKERS = 3


def _nodes(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text(encoding="utf-8")).get("nodes", []))


def _llm_flows() -> list[str]:
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(
        p.name for p in EXAMPLES_DIR.glob("*.json") if any(n.get("type") in LLM_NODE_TYPES for n in _nodes(p))
    )


LLM_FLOWS = _llm_flows()


def failed_before(name: str) -> str:
    """Why ``abstractruntime run`` could not finish this flow before the LLM/tool/agent support."""
    types = {n.get("type") for n in _nodes(EXAMPLES_DIR / name)}
    if "agent" in types:
        return "workflow 'visual_react_agent_<flow>_<node>' is not registered"
    if types & {"tool_calls", "call_tool"}:
        return "No effect handler registered for tool_calls"
    return "no LLM is configured"


def small_model(request: RecordedRequest) -> str:
    """The module stub's answer to one chat request (see the module docstring)."""
    body = request.json if isinstance(request.json, dict) else {}
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
        return json.dumps(schema_example(schema or {"type": "object"}), sort_keys=True)
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    for message in messages:
        promise = _PROMISE.search(str(message.get("content") or ""))
        if promise:
            return promise.group(1)
    users = [m for m in messages if m.get("role") == "user"]
    return f"echo: {users[-1].get('content') if users else ''}"


@dataclass
class FlowResult:
    name: str
    status: str | None = None
    exit_code: int | None = None
    output: Any = None
    error: str | None = None
    commands: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABSTRACTRUNTIME_")}
    env["ABSTRACTRUNTIME_CONFIG"] = str(tmp / "no-config.toml")
    return env


def _cli(tmp: Path, *args: str, timeout: float) -> tuple[int, dict[str, Any] | None, str]:
    """One ``python -m abstractruntime`` process: (exit code, JSON stdout or None, stderr); -1 on timeout."""
    command = [sys.executable, "-m", "abstractruntime", "--store", f"sqlite:///{tmp / 'runs.db'}", *args]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
            env=_env(tmp),
            cwd=tmp,
        )
    except subprocess.TimeoutExpired:
        return -1, None, f"timed out after {timeout}s"
    try:
        data = json.loads(done.stdout) if done.stdout.strip() else None
    except ValueError:
        data = None
    return done.returncode, data if isinstance(data, dict) else None, done.stderr


def drive_flow(name: str, tmp: Path, base_url: str) -> FlowResult:
    """Run ``name`` through the CLI and answer its waits until it ends (or a bound is hit)."""
    began = time.monotonic()
    stuck = name in NOT_COMPLETING
    timeout = _STUCK_TIMEOUT_S if stuck else _COMMAND_TIMEOUT_S
    rounds = 1 if stuck else _MAX_ROUNDS
    workspace = tmp / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    values = {**INPUTS, **FLOW_INPUTS.get(name, {}), "workspace_root": str(workspace)}
    declared = flow_input_names(EXAMPLES_DIR / name)  # `run` refuses --input keys a flow does not declare
    values = {k: v for k, v in values.items() if not unknown_input_keys([k], declared)}
    inputs = [
        arg for k, v in values.items() for arg in ("-i", f"{k}={json.dumps(v) if isinstance(v, bool) else v}")
    ]
    result = FlowResult(name)
    args = ["run", str(EXAMPLES_DIR / name), "--llm-base-url", base_url, "--llm-model", "stub-model"]
    args += ["--approve-tools", "all", "--detach", "--json", "-q", *inputs]
    code, data, stderr = _cli(tmp, *args, timeout=timeout)
    result.commands.append("run")
    for _ in range(rounds):
        if data is None or data.get("status") != "waiting":
            break
        wait = data.get("waiting") or {}
        root = str(data["run_id"])
        if wait.get("reason") == "until":
            due = datetime.fromisoformat(str(wait["until"]))
            time.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()) + 0.05)
            _cli(tmp, "scheduler", "serve", "--once", timeout=timeout)
            code, data, stderr = _cli(tmp, "runs", "show", root, "--json", timeout=timeout)
            result.commands.append("scheduler serve --once")
            continue
        if wait.get("reason") == "user":
            answer = str((wait.get("choices") or [USER_ANSWER])[0])
            extra = ["--answer", answer]
        else:  # a tool-approval wait (none expected with --approve-tools all)
            extra = ["--approve"]
        code, data, stderr = _cli(
            tmp, "resume", str(wait["run_id"]), *extra, "--detach", "--json", "-q", timeout=timeout
        )
        result.commands.append(f"resume {extra[0]}")
    result.exit_code = code
    if data is not None:
        result.status = data.get("status")
        result.output = data.get("output")
        result.error = data.get("error") or (stderr[-500:] if result.status != "completed" else None)
    else:
        result.error = stderr[-500:]
    result.seconds = round(time.monotonic() - began, 2)
    return result


@pytest.fixture(scope="module")
def stub() -> Any:
    with OpenAIStubServer(responder=small_model) as server:
        yield server


@pytest.fixture(scope="module")
def flow_results(stub: OpenAIStubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, FlowResult]:
    """Every flow of the parametrization, driven once, ``_WORKERS`` at a time."""
    names = [n for n in LLM_FLOWS if n != TOOL_LOOP_FLOW]
    root = tmp_path_factory.mktemp("llm-flows")

    def one(name: str) -> FlowResult:
        return drive_flow(name, root / Path(name).stem, f"{stub.base_url}/flow/{Path(name).stem}")

    with ThreadPoolExecutor(_WORKERS) as pool:
        return {r.name: r for r in pool.map(one, names)}


def _chat_requests(stub: OpenAIStubServer, name: str) -> list[RecordedRequest]:
    prefix = f"/flow/{Path(name).stem}/"
    return [r for r in stub.chat_requests if r.path.startswith(prefix)]


def test_flow_selection() -> None:
    if not LLM_FLOWS:
        pytest.skip("example flows not available")
    assert len(LLM_FLOWS) > 100
    assert set(NOT_COMPLETING) | set(NO_LLM_CALL) | set(FLOW_INPUTS) | set(KG_FLOWS) <= set(LLM_FLOWS)
    assert TOOL_LOOP_FLOW in LLM_FLOWS


@pytest.mark.parametrize("name", [n for n in LLM_FLOWS if n != TOOL_LOOP_FLOW])
def test_example_flow_runs_through_the_cli(
    name: str, flow_results: dict[str, FlowResult], stub: OpenAIStubServer
) -> None:
    result = flow_results[name]
    if name in NOT_COMPLETING:
        reason = NOT_COMPLETING[name]
        assert result.status != "completed", f"{name} now completes: drop it from NOT_COMPLETING ({reason})"
        if reason.startswith(_ERROR_REASONS):
            assert result.status == "failed" and reason in str(result.error), result
        return
    detail = f"{result} (before the CLI LLM support: {failed_before(name)})"
    assert result.status == "completed", detail
    assert result.exit_code == 0, detail
    assert isinstance(result.output, dict) and result.output.get("success") is True, detail
    if name in NO_LLM_CALL:
        assert not _chat_requests(stub, name), f"{name} now calls the LLM: drop it from NO_LLM_CALL"
    elif any(n.get("type") in ("llm_call", "agent") for n in _nodes(EXAMPLES_DIR / name)):
        assert _chat_requests(stub, name), f"{name}: no chat request reached the server"


def test_kg_memory_pin_reaches_the_llm(flow_results: dict[str, FlowResult], stub: OpenAIStubServer) -> None:
    """ltm-ai-kg-memory-source-pins-debug asserts five facts (session scope), then its llm_call's memory pin
    (``use_kg_memory``, query "noonien") queries the KG first: the chat request carries the
    ``## KG ACTIVE MEMORY`` system block with the matching facts only."""
    name = "ltm-ai-kg-memory-source-pins-debug.json"
    if name not in flow_results:
        pytest.skip("example flows not available")
    assert flow_results[name].status == "completed", flow_results[name]
    (request,) = _chat_requests(stub, name)
    blocks = [
        str(m.get("content"))
        for m in request.json["messages"]
        if m.get("role") == "system" and str(m.get("content")).startswith("## KG ACTIVE MEMORY")
    ]
    assert len(blocks) == 1, request.json["messages"]
    lines = blocks[0].splitlines()[1:]
    assert lines and all("noonien" in line for line in lines)
    assert "- ex:person-noonien-soong schema:name doctor noonien soong" in lines
    assert not any("human behavior" in line for line in lines)


def test_tool_loop_flow(tmp_path: Path) -> None:
    """test-search: the LLM asks for ``search_files`` each time; the CLI runs it in the workspace and the
    while loop ends after ``max_search`` (1) searches, two LLM calls in all."""
    if not LLM_FLOWS:
        pytest.skip("example flows not available")
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "notes.txt").write_text("q marks the spot\n", encoding="utf-8")
    ask = chat_completion("", tool_calls=[{"name": "search_files", "arguments": {"pattern": "q"}}])
    with OpenAIStubServer(responder=lambda request: ask) as server:
        result = drive_flow(TOOL_LOOP_FLOW, tmp_path, server.base_url)
        requests = server.chat_requests
    assert result.status == "completed" and result.exit_code == 0, result
    assert result.output == {
        "success": True,
        "result": {"message": "ALL SEARCH DONE !", "level": "message"},
    }
    assert len(requests) == 2
    assert [m["role"] for m in requests[0].json["messages"]] == ["system", "user"]
