"""tool_parameters -> call_tool (success/error outputs and exec branches), get_context, exec add_message."""

from __future__ import annotations

from typing import Any

from vf_builders import EXEC, OUT, edge, end, flow, node, pin, start
from vf_node_support import run_flow

from abstractruntime.core.models import EffectType, RunStatus
from abstractruntime.testing import ScriptedTools

OUTPUTS = ["result", "success", "error"]
# on_flow_end always reports success: True, so call_tool's own success pin ends in "ok".
END_PIN = {"result": "result", "success": "ok", "error": "error"}


def call_flow(
    params: dict[str, Any], *, branches: bool = False, allowed: list[str] | None = None
) -> dict[str, Any]:
    """``start -> call_tool(tool_parameters(...)) -> end``; with ``branches`` the call_tool node has
    ``success``/``error`` exec outputs leading to ``ok_end``/``err_end``."""
    tp = node("tp", "tool_parameters", [pin(k) for k in params], [pin("tool_call")], pinDefaults=params)
    exec_outs = [pin("success", "execution"), pin("error", "execution")] if branches else [OUT]
    call = node(
        "call",
        "call_tool",
        [EXEC, pin("tool_call"), pin("allowed_tools")],
        [*exec_outs, *(pin(o) for o in OUTPUTS)],
        pinDefaults={"allowed_tools": allowed} if allowed is not None else {},
    )
    edges = [edge("s", "exec-out", "call"), edge("tp", "tool_call", "call", "tool_call")]
    ends = [end(n, *END_PIN.values()) for n in (("ok_end", "err_end") if branches else ("e",))]
    for end_node in ends:
        edges += [edge("call", o, end_node["id"], END_PIN[o]) for o in OUTPUTS]
    if branches:
        edges += [edge("call", "success", "ok_end"), edge("call", "error", "err_end")]
    else:
        edges.append(edge("call", "exec-out", "e"))
    return flow("call", [start("s"), tp, call, *ends], edges)


def _tools() -> ScriptedTools:
    def divide(a: float, b: float) -> float:
        return a / b

    return ScriptedTools({"divide": divide})


def test_tool_parameters_builds_one_call_and_call_tool_maps_success() -> None:
    tools = _tools()
    state = run_flow(call_flow({"tool_name": "divide", "a": 6, "b": 3}), {EffectType.TOOL_CALLS: tools})
    assert tools.calls[0]["name"] == "divide" and tools.calls[0]["arguments"] == {"a": 6, "b": 3}
    assert state.output == {"result": 2.0, "ok": True, "error": None, "success": True}


def test_tool_parameters_merges_an_arguments_object() -> None:
    tools = _tools()
    run_flow(call_flow({"name": "divide", "arguments": {"a": 1}, "b": 4}), {EffectType.TOOL_CALLS: tools})
    assert tools.calls[0]["arguments"] == {"a": 1, "b": 4}


def test_call_tool_maps_a_failure_to_the_error_output() -> None:
    state = run_flow(call_flow({"tool_name": "divide", "a": 1, "b": 0}), {EffectType.TOOL_CALLS: _tools()})
    assert state.output == {
        "result": None,
        "ok": False,
        "error": "ZeroDivisionError: division by zero",
        "success": True,
    }


def test_call_tool_respects_allowed_tools() -> None:
    tools = _tools()
    state = run_flow(
        call_flow({"tool_name": "divide", "a": 1, "b": 1}, allowed=["other"]), {EffectType.TOOL_CALLS: tools}
    )
    assert state.output == {"result": None, "ok": False, "error": "tool not allowed", "success": True}


def test_call_tool_exec_branches_follow_the_outcome() -> None:
    ok = run_flow(
        call_flow({"tool_name": "divide", "a": 9, "b": 3}, branches=True), {EffectType.TOOL_CALLS: _tools()}
    )
    assert ok.status == RunStatus.COMPLETED and ok.output == {
        "result": 3.0,
        "ok": True,
        "error": None,
        "success": True,
    }
    assert ok.vars["_temp"]["prev_exec_handle"] == "success"
    bad = run_flow(
        call_flow({"tool_name": "divide", "a": 9, "b": 0}, branches=True), {EffectType.TOOL_CALLS: _tools()}
    )
    assert bad.output is not None and bad.output["ok"] is False and "division" in bad.output["error"]
    assert bad.vars["_temp"]["prev_exec_handle"] == "error"


def test_call_tool_without_a_name_errors_without_running_a_tool() -> None:
    tools = _tools()
    state = run_flow(call_flow({"a": 1}, branches=True), {EffectType.TOOL_CALLS: tools})
    assert tools.calls == []
    assert state.output == {
        "result": None,
        "ok": False,
        "error": "call_tool: the tool_call has no name",
        "success": True,
    }
    assert state.vars["_temp"]["prev_exec_handle"] == "error"


def test_get_context_and_exec_add_message() -> None:
    """add_message (exec) appends to the run's context.messages; get_context reads the updated context."""
    add = node(
        "add",
        "add_message",
        [EXEC, pin("role"), pin("content")],
        [OUT, pin("message"), pin("messages"), pin("context"), pin("task")],
        pinDefaults={"role": "assistant", "content": "noted"},
    )
    ctx = node("ctx", "get_context", [], [pin("context"), pin("task"), pin("messages")])
    doc = flow(
        "ctx",
        [start("s"), add, ctx, end("e", "message", "count", "task", "context")],
        [
            edge("s", "exec-out", "add"),
            edge("add", "exec-out", "e"),
            edge("add", "message", "e", "message"),
            edge("ctx", "messages", "e", "count"),
            edge("ctx", "task", "e", "task"),
            edge("ctx", "context", "e", "context"),
        ],
    )
    earlier = {"role": "user", "content": "hi"}
    state = run_flow(doc, {}, {"context": {"task": "chat", "messages": [earlier]}})
    assert state.status == RunStatus.COMPLETED, state.error
    out = state.output
    assert out is not None
    message = out["message"]
    assert message["role"] == "assistant" and message["content"] == "noted"
    assert message["metadata"]["kind"] == "flow_message" and message["metadata"]["message_id"].startswith(
        "msg_"
    )
    assert isinstance(message["timestamp"], str)
    assert state.vars["context"]["messages"] == [earlier, message]
    assert out["count"] == [earlier, message] and out["task"] == "chat"
    assert out["context"] == {"task": "chat", "messages": [earlier, message]}
