"""Every snippet of docs/llm.md runs (the issue's "every snippet runs in the tests").

The Python blocks run in document order in one namespace, as a reader pasting them into one session would
(later blocks reuse ``runtime``, ``flow``, ``workspace`` of earlier ones), against the loopback OpenAI stub
(``localhost`` addresses of the page point at it) and in a temporary workspace. The ``abstractruntime``
command lines of the bash blocks run against the stub too, and the TOML block is used as the config file.
Blocks not run here are listed in ``RUN_ELSEWHERE`` with the test that runs them, or are not code (``text``
blocks, ``pip install`` lines).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from abstractruntime.testing import OpenAIStubServer
from abstractruntime.testing.cli import run_cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "llm.md"

# section heading -> the test that runs that section's Python block (it needs an optional extra)
RUN_ELSEWHERE = {
    "Local mode (in-process AbstractCore)": "tests/integrations/test_abstractcore_local.py",
}
_LOCALHOST = re.compile(r"https?://(?:localhost|127\.0\.0\.1):\d+")
_FLOW = {
    "id": "doc_llm",
    "name": "doc_llm",
    "entryNode": "start",
    "nodes": [
        {"id": "start", "type": "on_flow_start", "data": {"nodeType": "on_flow_start"}},
        {
            "id": "ask",
            "type": "llm_call",
            "data": {"nodeType": "llm_call", "pinDefaults": {"prompt": "Name one colour."}},
        },
        {"id": "end", "type": "on_flow_end", "data": {"nodeType": "on_flow_end"}},
    ],
    "edges": [
        {
            "id": "e1",
            "source": "start",
            "sourceHandle": "exec-out",
            "target": "ask",
            "targetHandle": "exec-in",
        },
        {"id": "e2", "source": "ask", "sourceHandle": "exec-out", "target": "end", "targetHandle": "exec-in"},
    ],
}


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int
    section: str


def blocks() -> list[Block]:
    found: list[Block] = []
    section = ""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```") and len(line) > 3:
            start = index + 1
            end = lines.index("```", start)
            found.append(Block(line[3:].strip(), "\n".join(lines[start:end]) + "\n", start + 1, section))
            index = end
        index += 1
    return found


def test_every_block_is_accounted_for() -> None:
    langs = {b.lang for b in blocks()}
    assert langs <= {"python", "bash", "toml", "text"}, langs
    for section, test in RUN_ELSEWHERE.items():
        assert any(b.section == section and b.lang == "python" for b in blocks())
        assert section in (DOC.parents[1] / test).read_text(encoding="utf-8")


def test_python_blocks_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABSTRACTRUNTIME_GROUNDING", "0")
    workspace = tmp_path / "demo-workspace"
    ran = 0
    namespace: dict[str, object] = {"__name__": "llm_doc"}
    with OpenAIStubServer() as stub:  # answers "echo: <the user turn>"
        for block in blocks():
            if block.lang != "python" or block.section in RUN_ELSEWHERE:
                continue
            code = _LOCALHOST.sub(stub.base_url, block.code).replace(
                '"/tmp/demo-workspace"', repr(str(workspace))
            )
            code = "\n" * (block.line - 1) + code  # tracebacks point at the page's own lines
            exec(compile(code, str(DOC), "exec"), namespace)
            ran += 1
    assert ran >= 9
    assert (workspace / "b.txt").read_text() == "v2"  # the argument-edit snippet wrote the edited file
    assert any(r.path.endswith("/chat/completions") and "image_url" in str(r.json) for r in stub.requests)


def _commands() -> list[list[str]]:
    commands: list[list[str]] = []
    for block in blocks():
        if block.lang != "bash":
            continue
        for raw in block.code.splitlines():
            line = raw.split("  #", 1)[0].strip()
            if line.startswith("abstractruntime "):
                commands.append(shlex.split(line)[1:])
    return commands


def _doc_arg(arg: str, base_url: str, flow: Path) -> str:
    """One argument of a documented command line, pointed at the stub and the test flow."""
    if arg == "flow.json":
        return str(flow)
    arg = _LOCALHOST.sub(base_url, arg).replace("https://my-abstractcore", base_url)
    return arg.replace("$TOKEN", "sk-doc")  # the shell would expand it


def test_command_lines_run_against_the_stub(tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(_FLOW), encoding="utf-8")
    commands = _commands()
    assert len(commands) >= 3
    with OpenAIStubServer() as stub:
        for number, written in enumerate(commands):
            args = [_doc_arg(a, stub.base_url, flow) for a in written]
            store = tmp_path / f"runs{number}.db"
            result = run_cli("--store", f"sqlite:///{store}", *args, cwd=tmp_path)
            assert result.returncode == 0, (args, result.stdout, result.stderr)
            assert "completed" in result.stdout.lower(), result.stdout
        keys = [r.headers.get("authorization") for r in stub.chat_requests]
    assert len(stub.chat_requests) == len(commands)
    assert "Bearer sk-doc" in keys  # the --llm-api-key "$TOKEN" line


def test_the_config_file_block_configures_the_command(tmp_path: Path) -> None:
    (toml,) = [b for b in blocks() if b.lang == "toml"]
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(_FLOW), encoding="utf-8")
    with OpenAIStubServer() as stub:
        config = tmp_path / "config.toml"
        config.write_text(_LOCALHOST.sub(stub.base_url, toml.code), encoding="utf-8")
        result = run_cli(
            "--store",
            f"sqlite:///{tmp_path / 'runs.db'}",
            "run",
            str(flow),
            env={"ABSTRACTRUNTIME_CONFIG": str(config)},
        )
        assert result.returncode == 0, result.stderr
        (request,) = stub.chat_requests
    assert request.json["model"] == "qwen2.5:7b"
    assert request.headers["authorization"] == "Bearer ..."
