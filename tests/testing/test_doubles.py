"""ScriptedLLM, ScriptedTools and scripted_handlers (abstractruntime.testing)."""

from __future__ import annotations

import json
from typing import Any

from abstractruntime import Runtime, testing
from abstractruntime.core.models import Effect, EffectType, RunState, RunStatus, StepPlan
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.core.spec import RunContext, WorkflowSpec
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.testing import ScriptedLLM, ScriptedTools, schema_example, scripted_handlers

_LLM_KEYS = {"content", "data", "tool_calls", "usage", "model", "finish_reason", "metadata"}


def _effect(effect_type: EffectType, payload: dict[str, Any]) -> Effect:
    return Effect(type=effect_type, payload=payload)


def _llm_result(llm: ScriptedLLM, payload: dict[str, Any]) -> dict[str, Any]:
    outcome = llm(None, _effect(EffectType.LLM_CALL, payload), None)
    assert isinstance(outcome, EffectOutcome) and outcome.status == "completed"
    assert outcome.result is not None
    return outcome.result


def test_exports() -> None:
    for name in ("ScriptedLLM", "ScriptedTools", "scripted_handlers", "FakeClock"):
        assert name in testing.__all__ and hasattr(testing, name)


def test_scripted_responses_in_order_then_default() -> None:
    llm = ScriptedLLM(["one", {"content": "two", "data": {"x": 1}, "finish_reason": "length"}])
    first = _llm_result(llm, {"prompt": "a"})
    second = _llm_result(llm, {"prompt": "b", "model": "m1"})
    third = _llm_result(llm, {"prompt": "c"})
    assert first["content"] == "one" and first["data"] is None and first["tool_calls"] == []
    assert second["content"] == "two" and second["data"] == {"x": 1} and second["finish_reason"] == "length"
    assert second["model"] == "m1" and first["model"] == "scripted-llm"
    assert third["content"] == "echo: c"
    assert [c["prompt"] for c in llm.calls] == ["a", "b", "c"]
    assert llm.remaining == 0
    for result in (first, second, third):
        assert set(result) >= _LLM_KEYS
        usage = result["usage"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        json.dumps(result)


def test_responder_and_none_fallback() -> None:
    llm = ScriptedLLM(responder=lambda p: "yes" if "?" in p["prompt"] else None)
    assert _llm_result(llm, {"prompt": "ok?"})["content"] == "yes"
    assert _llm_result(llm, {"prompt": "hi"})["content"] == "echo: hi"


def test_default_json_for_response_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "n": {"type": "integer", "minimum": 2},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"enum": ["a", "b"]},
            "maybe": {"type": ["null", "boolean"]},
        },
    }
    result = _llm_result(ScriptedLLM(), {"prompt": "p", "response_schema": schema})
    expected = {"name": "example", "n": 2, "tags": ["example"], "kind": "a", "maybe": True}
    assert result["data"] == expected
    assert json.loads(result["content"]) == expected


def test_scripted_json_content_is_parsed_when_schema_requested() -> None:
    llm = ScriptedLLM(['{"ok": true}'])
    assert _llm_result(llm, {"prompt": "p", "response_schema": {"type": "object"}})["data"] == {"ok": True}


def test_tool_calls_in_scripted_response() -> None:
    call = {"call_id": "c1", "name": "ls", "arguments": {}}
    result = _llm_result(ScriptedLLM([{"content": "", "tool_calls": [call]}]), {"prompt": "p"})
    assert result["tool_calls"] == [call] and result["finish_reason"] == "tool_calls"


def test_schema_example_edge_cases() -> None:
    assert schema_example(None) == {}
    assert schema_example({"const": 3}) == 3
    assert schema_example({"anyOf": [{"type": "number"}, {"type": "string"}]}) == 0
    assert schema_example({"allOf": [{"properties": {"a": {"type": "null"}}}]}) == {"a": None}
    assert schema_example({"type": "array", "minItems": 2, "items": {"type": "boolean"}}) == [True, True]


def test_scripted_tools_shapes() -> None:
    def boom() -> None:
        raise RuntimeError("nope")

    tools = ScriptedTools({"add": lambda a, b: a + b, "ping": "pong", "boom": boom})
    payload = {
        "tool_calls": [
            {"call_id": "1", "name": "add", "arguments": {"a": 1, "b": 2}},
            {"call_id": "2", "name": "ping", "arguments": "{}"},
            {"name": "missing"},
            {"call_id": "4", "name": "boom", "arguments": {}},
        ]
    }
    outcome = tools(None, _effect(EffectType.TOOL_CALLS, payload), None)
    assert outcome.result is not None and outcome.result["mode"] == "executed"
    results = outcome.result["results"]
    assert results[0] == {"call_id": "1", "name": "add", "success": True, "output": 3, "error": None}
    assert results[1]["output"] == "pong" and results[1]["success"] is True
    assert results[2] == {
        "call_id": "call_2", "name": "missing", "success": False, "output": None, "error": "unknown tool"
    }  # fmt: skip
    assert results[3]["success"] is False and "nope" in results[3]["error"]
    assert [c.get("name") for c in tools.calls] == ["add", "ping", "missing", "boom"]


def test_scripted_tools_default_and_allowlist() -> None:
    tools = ScriptedTools(default="ok")
    result = tools.execute({"tool_calls": [{"name": "a"}, {"name": "b"}], "allowed_tools": ["a"]})
    assert result["results"][0]["output"] == "ok"
    assert result["results"][1]["error"] == "tool not allowed"


def test_scripted_handlers_defaults_and_given() -> None:
    llm = ScriptedLLM()
    handlers = scripted_handlers(llm=llm)
    assert handlers[EffectType.LLM_CALL] is llm
    assert isinstance(handlers[EffectType.TOOL_CALLS], ScriptedTools)
    assert set(scripted_handlers()) == {EffectType.LLM_CALL, EffectType.TOOL_CALLS}


def test_doubles_drive_a_runtime() -> None:
    def ask(run: RunState, ctx: RunContext) -> StepPlan:
        effect = Effect(type=EffectType.LLM_CALL, payload={"prompt": "list"}, result_key="llm")
        return StepPlan(node_id="ask", effect=effect, next_node="act")

    def act(run: RunState, ctx: RunContext) -> StepPlan:
        payload = {"tool_calls": run.vars["llm"]["tool_calls"]}
        effect = Effect(type=EffectType.TOOL_CALLS, payload=payload, result_key="tools")
        return StepPlan(node_id="act", effect=effect, next_node="done")

    def done(run: RunState, ctx: RunContext) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"out": run.vars["tools"]["results"][0]["output"]})

    spec = WorkflowSpec(workflow_id="wf", entry_node="ask", nodes={"ask": ask, "act": act, "done": done})
    llm = ScriptedLLM([{"tool_calls": [{"call_id": "c", "name": "ls", "arguments": {"path": "."}}]}])
    tools = ScriptedTools({"ls": lambda path: [path, "a.txt"]})
    runtime = Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        effect_handlers=scripted_handlers(llm, tools),
    )
    state = runtime.tick(workflow=spec, run_id=runtime.start(workflow=spec))
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"out": [".", "a.txt"]}
    assert llm.calls == [{"prompt": "list"}] and tools.calls[0]["name"] == "ls"
