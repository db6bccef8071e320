"""docs/mcp.md: its desktop configurations parse and are accepted by the worker; its Python client runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from worker_helpers import TOKEN, start_http_worker, stop, worker_env

from abstractruntime.integrations.abstractcore.mcp_worker import build_parser

pytest.importorskip("mcp", reason="the mcp-worker extra is not installed")
DOC = Path(__file__).resolve().parents[2] / "docs" / "mcp.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_desktop_configs_are_valid_json_for_the_worker() -> None:
    configs = [json.loads(block) for block in blocks("json")]
    servers = {name: spec for config in configs for name, spec in config["mcpServers"].items()}
    assert set(servers) == {"abstractruntime", "abstractruntime-remote"}
    local = servers["abstractruntime"]
    assert local["command"].endswith("abstractruntime-mcp-worker")
    args = build_parser().parse_args(local["args"])
    assert args.transport == "stdio" and args.toolsets == ["files"]
    remote = servers["abstractruntime-remote"]["args"]
    assert "http://127.0.0.1:8765/mcp" in remote and any(a.startswith("Authorization:Bearer") for a in remote)


def test_python_client_snippet_runs_against_a_worker(tmp_path: Path, ws: Path) -> None:
    [snippet] = blocks("python")
    (ws / "README.md").write_text("# Demo\n", encoding="utf-8")
    worker = start_http_worker(
        tmp_path,
        ["--toolsets", "files", "--workspace-root", str(ws)],
        worker_env(ABSTRACT_WORKER_TOKEN=TOKEN),
    )
    try:
        code = snippet.replace("http://127.0.0.1:8765/mcp", worker.url)
        done = subprocess.run(
            [sys.executable, "-c", code],
            check=False,
            env={**os.environ, "ABSTRACT_WORKER_TOKEN": TOKEN},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        stop(worker)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [
        "['list_files', 'read_file', 'search_files', 'write_file']",
        "# Demo",
    ]
