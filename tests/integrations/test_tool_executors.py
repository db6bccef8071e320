"""Tool executors (SPEC §11.3): MappingToolExecutor, PassthroughToolExecutor, approval policy/executor."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from abstractruntime.integrations import abstractcore as ac
from abstractruntime.integrations.abstractcore.tool_executor import (
    ApprovalToolExecutor,
    MappingToolExecutor,
    PassthroughToolExecutor,
    ToolApprovalPolicy,
    ToolExecutor,
)


def _call(name: str, call_id: str = "c1", **arguments: Any) -> dict[str, Any]:
    return {"name": name, "call_id": call_id, "arguments": arguments}


def read_file(file_path: str, start_line: int = 1) -> str:
    return f"{file_path}@{start_line}"


def test_lazy_package_names() -> None:
    assert ac.MappingToolExecutor is MappingToolExecutor
    assert {"ApprovalToolExecutor", "ToolApprovalPolicy", "ToolExecutor"} <= set(ac.__all__)
    assert isinstance(MappingToolExecutor({}), ToolExecutor)


def test_mapping_runs_in_order_with_standard_shape() -> None:
    executor = MappingToolExecutor({"add": lambda a, b: a + b, "echo": lambda text: text})
    out = executor.execute(tool_calls=[_call("add", "c1", a=1, b=2), _call("echo", "c2", text="hi")])
    assert out == {
        "mode": "executed",
        "results": [
            {
                "call_id": "c1",
                "runtime_call_id": None,
                "name": "add",
                "success": True,
                "output": 3,
                "error": None,
            },
            {
                "call_id": "c2",
                "runtime_call_id": None,
                "name": "echo",
                "success": True,
                "output": "hi",
                "error": None,
            },
        ],
    }


def test_argument_canonicalization() -> None:
    executor = MappingToolExecutor.from_tools([read_file])
    calls = [
        _call("read_file", "a", filePath="x.txt"),  # case and separators
        _call("read_file", "b", path="y.txt", start=3),  # synonyms
        _call("read_file", "c", filename="z.txt", bogus=1),  # unknown kwargs dropped
        {"name": "read_file", "call_id": "d", "arguments": {"arguments": {"file-path": "w.txt"}}},  # nested
        {"name": "read_file", "call_id": "e", "arguments": '{"file_path": "j.txt"}'},  # JSON string
        _call("read_file", "f", file_path="exact.txt", path="synonym.txt"),  # exact name wins
    ]
    outputs = [r["output"] for r in executor.execute(tool_calls=calls)["results"]]
    assert outputs == ["x.txt@1", "y.txt@3", "z.txt@1", "w.txt@1", "j.txt@1", "exact.txt@1"]


def test_failures_unknown_tool_and_failure_shaped_outputs() -> None:
    def boom() -> None:
        raise RuntimeError("disk on fire")

    executor = MappingToolExecutor(
        {
            "boom": boom,
            "bad_dict": lambda: {"success": False, "error": "nope"},
            "bad_ok": lambda: {"ok": False},
            "bad_str": lambda: "Error: missing file",
            "emoji": lambda: "⏰ timed out upstream",
            "fine": lambda: {"success": True},
        }
    )
    names = ["boom", "bad_dict", "bad_ok", "bad_str", "emoji", "fine", "ghost"]
    results = executor.execute(tool_calls=[_call(n, n) for n in names])["results"]
    by_name = {r["name"]: r for r in results}
    assert by_name["boom"]["error"] == "RuntimeError: disk on fire"
    assert by_name["bad_dict"]["error"] == "nope"
    assert by_name["bad_dict"]["output"] == {"success": False, "error": "nope"}
    assert by_name["bad_ok"]["error"] == "Tool reported failure"
    assert by_name["bad_str"]["error"] == "Error: missing file"
    assert by_name["emoji"]["success"] is False
    assert by_name["fine"]["success"] is True
    assert by_name["ghost"]["error"] == "Tool 'ghost' not found"
    assert [r["success"] for r in results] == [False, False, False, False, False, True, False]


def test_from_tools_names_and_duplicates() -> None:
    def tool() -> str:
        return "plain"

    def other() -> str:
        return "defined"

    other._tool_definition = type("D", (), {"name": "custom_name"})()  # type: ignore[attr-defined]
    executor = MappingToolExecutor.from_tools([tool, other])
    assert executor.tool_names == ["custom_name", "tool"]
    with pytest.raises(ValueError, match="duplicate"):
        MappingToolExecutor.from_tools([tool, tool])


def test_timeout_in_daemon_thread() -> None:
    release = threading.Event()

    def slow() -> str:
        release.wait(5)
        return "late"

    executor = MappingToolExecutor({"slow": slow, "fast": lambda: "ok"}, timeout_s=0.05)
    began = time.monotonic()
    results = executor.execute(tool_calls=[_call("slow", "s"), _call("fast", "f")])["results"]
    release.set()
    assert time.monotonic() - began < 2
    assert results[0]["success"] is False and "timed out" in results[0]["error"]
    assert results[1]["output"] == "ok"
    executor.set_timeout_s(0)  # no limit
    assert executor.execute(tool_calls=[_call("slow", "s")])["results"][0]["output"] == "late"


def test_passthrough_returns_calls() -> None:
    out = PassthroughToolExecutor().execute(tool_calls=[_call("x")])
    assert out == {"mode": "passthrough", "tool_calls": [_call("x")]}
    assert PassthroughToolExecutor(mode="delegated").execute(tool_calls=[])["mode"] == "delegated"


def test_approval_policy_defaults() -> None:
    policy = ToolApprovalPolicy()
    assert not policy.requires_approval([{"name": "read_file"}, {"name": "list_files"}])
    assert policy.requires_approval([{"name": "read_file"}, {"name": "write_file"}])
    assert policy.requires_approval([{"name": "unknown_tool"}])
    assert policy.requires_approval([{"arguments": {}}])
    custom = ToolApprovalPolicy(auto_approve_tools=["add", "rm"], require_approval_tools=["rm"])
    assert not custom.requires_approval([{"name": "add"}])
    assert custom.requires_approval([{"name": "rm"}])
    described = policy.describe()
    assert "write_file" in described["require_approval_tools"]
    assert "read_file" in described["auto_approve_tools"]


def test_approval_executor_defers_or_delegates() -> None:
    ran: list[str] = []
    delegate = MappingToolExecutor(
        {"read_file": lambda path: ran.append(path) or "data", "write_file": lambda: "w"}
    )
    executor = ApprovalToolExecutor(delegate=delegate, wait_key_factory=lambda: "tool_approval:fixed")
    probe = executor.execute(tool_calls=[])
    assert probe["mode"] == "approval_required" and probe["wait_reason"] == "user"
    safe = executor.execute(tool_calls=[_call("read_file", path="a")])
    assert safe["mode"] == "executed" and ran == ["a"]
    risky = executor.execute(tool_calls=[_call("write_file")])
    assert risky["mode"] == "approval_required"
    assert risky["wait_key"] == "tool_approval:fixed"
    assert risky["tool_calls"] == [_call("write_file")]
    assert risky["details"]["kind"] == "tool_approval" and "policy" in risky["details"]
    assert executor.execute_approved(tool_calls=[_call("write_file")])["results"][0]["output"] == "w"
    default_key = ApprovalToolExecutor(delegate=delegate).execute(tool_calls=[])["wait_key"]
    assert default_key.startswith("tool_approval:") and len(default_key) > len("tool_approval:")
