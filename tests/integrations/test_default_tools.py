"""Default workspace tools and comms gating (SPEC §11.9, §11.4)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunStatus, Runtime, StepPlan, WorkflowSpec
from abstractruntime.integrations.abstractcore import default_tools as dt
from abstractruntime.integrations.abstractcore.tool_executor import MappingToolExecutor
from abstractruntime.integrations.abstractcore.tool_handler import make_tool_calls_handler
from abstractruntime.storage.in_memory import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.visualflow_compiler.nodes.workspace import WorkspaceError


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("import os\nprint('hello')\n")
    (root / "notes.txt").write_text("one\ntwo\nthree\n")
    (root / "secret").mkdir()
    (root / "secret" / "key.txt").write_text("hello secret\n")
    (tmp_path / "outside.txt").write_text("hello outside\n")
    return root


def tools_for(root: Path, **kwargs: Any) -> dict[str, Any]:
    return dt.build_default_tool_map(workspace_root=str(root), **kwargs)


def test_file_tools_inside_the_workspace(ws: Path) -> None:
    tools = tools_for(ws, ignored_paths=["secret"])
    assert sorted(tools) == ["list_files", "read_file", "search_files", "write_file"]
    assert tools["list_files"]() == "notes.txt\nsrc/"
    assert tools["list_files"](directory="src", pattern="*.py") == "src/main.py"
    assert tools["read_file"]("notes.txt", start_line=2, end_line=3) == "two\nthree\n"
    assert tools["read_file"](str(ws.resolve() / "notes.txt")).startswith("one")  # absolute under root
    assert tools["write_file"]("out/new.txt", "data") == {"ok": True, "file_path": "out/new.txt", "bytes": 4}
    assert (ws / "out" / "new.txt").read_text() == "data"
    assert tools["search_files"]("hello") == "src/main.py:2: print('hello')"  # secret/ is ignored
    assert tools["search_files"]("(unclosed") == "No matches for '(unclosed'"


def test_file_tools_refuse_escapes(ws: Path, tmp_path: Path) -> None:
    tools = tools_for(ws)
    os.symlink(tmp_path / "outside.txt", ws / "link.txt")
    for path in ("../outside.txt", str(tmp_path / "outside.txt"), "link.txt"):
        with pytest.raises(WorkspaceError):
            tools["read_file"](path)
    with pytest.raises(WorkspaceError):
        tools["write_file"]("../escape.txt", "x")
    assert "hello outside" not in tools["search_files"]("hello")
    read_only = tools_for(ws, access_mode="read_only")
    with pytest.raises(WorkspaceError, match="read-only"):
        read_only["write_file"]("x.txt", "x")


def test_default_tools_through_the_handler(ws: Path) -> None:
    executor = MappingToolExecutor(tools_for(ws))
    runtime = Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        effect_handlers={EffectType.TOOL_CALLS: make_tool_calls_handler(tools=executor)},
    )
    calls = [
        {"name": "read_file", "call_id": "a", "arguments": {"path": "notes.txt", "start": 1, "end": 1}},
        {"name": "read_file", "call_id": "b", "arguments": {"file_path": "../outside.txt"}},
        {"name": "list_files", "call_id": "c", "arguments": {}},
    ]
    effect = Effect(type=EffectType.TOOL_CALLS, payload={"tool_calls": calls}, result_key="r")
    flow = WorkflowSpec(
        workflow_id="t",
        entry_node="t",
        nodes={"t": lambda run, ctx: StepPlan(node_id="t", effect=effect, next_node=None)},
    )
    run_id = runtime.start(workflow=flow, vars={"workspace_root": str(ws)})
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.status == RunStatus.COMPLETED
    results = state.output["result"]["results"]
    assert results[0]["output"] == "one\n"
    assert results[1]["success"] is False and "Workspace policy refused" in results[1]["error"]
    assert "notes.txt" in results[2]["output"]


def test_comms_flags(monkeypatch: pytest.MonkeyPatch, ws: Path) -> None:
    for name in (
        "ABSTRACT_ENABLE_COMMS_TOOLS",
        "ABSTRACT_ENABLE_EMAIL_TOOLS",
        "ABSTRACT_ENABLE_WHATSAPP_TOOLS",
        "ABSTRACT_ENABLE_TELEGRAM_TOOLS",
    ):
        monkeypatch.delenv(name, raising=False)
    assert not dt.comms_tools_enabled()
    monkeypatch.setenv("ABSTRACT_ENABLE_TELEGRAM_TOOLS", "Yes")
    assert dt.telegram_tools_enabled() and dt.comms_tools_enabled() and not dt.email_tools_enabled()
    monkeypatch.setenv("ABSTRACT_ENABLE_COMMS_TOOLS", "on")
    assert dt.email_tools_enabled() and dt.whatsapp_tools_enabled()
    monkeypatch.setenv("ABSTRACT_ENABLE_COMMS_TOOLS", "0")
    assert not dt.email_tools_enabled()
    # the comms toolset appears only with a flag (its senders are tested in tests/mcp/test_comms.py)
    monkeypatch.delenv("ABSTRACT_ENABLE_TELEGRAM_TOOLS")
    assert list(dt.get_default_toolsets(workspace_root=str(ws))) == ["files"]
    monkeypatch.setenv("ABSTRACT_ENABLE_COMMS_TOOLS", "1")
    toolsets = dt.get_default_toolsets(workspace_root=str(ws))
    assert list(toolsets) == ["files", "comms"]
    assert "send_email" in {t.__name__ for t in toolsets["comms"]["tools"]}
