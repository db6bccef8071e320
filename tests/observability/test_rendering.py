"""Rendering helpers: ``stringify_json`` and the agent trace Markdown report (SPEC §10.3)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from observability_helpers import STANDARD_CALLS, tool_flow

from abstractruntime import Effect, EffectType, RunState, RunStatus, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.rendering import JsonStringifyMode, render_agent_trace_markdown, stringify_json
from abstractruntime.rendering import __all__ as rendering_all
from abstractruntime.rendering.agent_trace_report import AgentTraceMarkdownReportConfig
from abstractruntime.storage.artifacts import InMemoryArtifactStore

MakeRuntime = Callable[..., Runtime]


def test_package_exports_match_spec() -> None:
    assert sorted(rendering_all) == ["JsonStringifyMode", "render_agent_trace_markdown", "stringify_json"]
    assert [m.value for m in JsonStringifyMode] == ["none", "beautify", "minified"]


# -- stringify_json ---------------------------------------------------------------------------------
VALUE = {"b": [1, 2], "a": "é"}


def test_modes() -> None:
    assert stringify_json(VALUE) == json.dumps(VALUE, indent=2, ensure_ascii=False)
    assert stringify_json(VALUE, mode="minified") == '{"b":[1,2],"a":"é"}'
    assert stringify_json(VALUE, mode=JsonStringifyMode.MINIFIED, sort_keys=True) == '{"a":"é","b":[1,2]}'
    assert stringify_json(VALUE, mode="none") == '{"b": [1, 2], "a": "é"}'
    assert stringify_json(VALUE, mode="BEAUTIFY", beautify_indent=4) == json.dumps(
        VALUE, indent=4, ensure_ascii=False
    )
    assert stringify_json(VALUE, mode="weird") == stringify_json(VALUE)  # unknown → beautify


def test_json_strings_are_parsed_first() -> None:
    text = '{"x": 1, "y": [true, null]}'
    assert stringify_json(text, mode="minified") == '{"x":1,"y":[true,null]}'
    fenced = "```json\n" + text + "\n```"
    assert stringify_json(fenced, mode="minified") == '{"x":1,"y":[true,null]}'
    assert stringify_json("```\n[1, 2]\n```", mode="minified") == "[1,2]"
    assert stringify_json(text, mode="minified", parse_strings=False) == text
    assert stringify_json(text, mode="none") == text


def test_plain_and_broken_strings_are_returned_unchanged() -> None:
    assert stringify_json("hello world") == "hello world"
    assert stringify_json("{not json}") == "{not json}"
    assert stringify_json("42") == "42"


def test_python_literal_strings_are_parsed_best_effort() -> None:
    assert stringify_json("{'a': 1, 'b': True, 'c': None}", mode="minified") == '{"a":1,"b":true,"c":null}'
    assert stringify_json("[1, (2, 'x'), {3}]", mode="minified") == '[1,[2,"x"],[3]]'
    fenced = "```json\n{'path': 'notes.md', 'lines': [1, 2]}\n```"
    assert stringify_json(fenced, mode="minified") == '{"path":"notes.md","lines":[1,2]}'
    assert stringify_json("{'a': 1}") == '{\n  "a": 1\n}'
    assert stringify_json("{'a': 1}", parse_strings=False) == "{'a': 1}"
    # a literal that is not a dict or list, or not a literal at all, stays text
    assert stringify_json("{1, 2}") == "{1, 2}"
    assert stringify_json("{'a': 1 + 2}") == "{'a': 1 + 2}"


def test_python_literal_parsing_never_runs_code(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    text = "{'x': open(" + repr(str(target)) + ", 'w')}"
    assert stringify_json(text) == text
    calls = "[__import__('os').system('touch " + str(target) + "')]"
    assert stringify_json(calls) == calls
    assert not target.exists()


def test_values_are_made_json_safe() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    out = stringify_json(
        {"p": Point(1, 2), "s": {3}, "t": (1,), "mode": JsonStringifyMode.NONE, "o": object()},
        mode="minified",
    )
    data = json.loads(out)
    assert data["p"] == {"x": 1, "y": 2}
    assert data["s"] == [3] and data["t"] == [1] and data["mode"] == "none"
    assert data["o"].startswith("<object object")


# -- the agent trace report -----------------------------------------------------------------------------
def llm_handler(run: RunState, effect: Effect) -> EffectOutcome:
    return EffectOutcome.completed(
        {
            "content": "I will fetch the page.",
            "tool_calls": [
                {"name": "fetch_url", "arguments": {"url": "https://example.org"}, "call_id": "c1"}
            ],
            "usage": {"input_tokens": 12, "total_tokens": 20},
            "model": "fake",
            "finish_reason": "tool_calls",
        }
    )


def agent_flow() -> WorkflowSpec:
    """think (LLM_CALL) → act (TOOL_CALLS) → delegate (START_SUBWORKFLOW) → ask (ASK_USER, waits)."""

    def think(run: RunState, ctx: Any) -> StepPlan:
        effect = Effect(
            type=EffectType.LLM_CALL, payload={"prompt": "What is on example.org?"}, result_key="llm"
        )
        return StepPlan(node_id="think", effect=effect, next_node="act")

    act = tool_flow(STANDARD_CALLS).nodes["act"]

    def act_then_delegate(run: RunState, ctx: Any) -> StepPlan:
        plan = act(run, ctx)
        return dataclasses.replace(plan, next_node="delegate")

    def delegate(run: RunState, ctx: Any) -> StepPlan:
        effect = Effect(
            type=EffectType.START_SUBWORKFLOW, payload={"workflow_id": "wf_child"}, result_key="child"
        )
        return StepPlan(node_id="delegate", effect=effect, next_node="ask")

    def ask(run: RunState, ctx: Any) -> StepPlan:
        effect = Effect(type=EffectType.ASK_USER, payload={"prompt": "Anything else?"}, result_key="reply")
        return StepPlan(node_id="ask", effect=effect, next_node="ask")

    nodes = {"think": think, "act": act_then_delegate, "delegate": delegate, "ask": ask}
    return WorkflowSpec(workflow_id="wf_agent", entry_node="think", nodes=nodes)


class Registry:
    def __init__(self, spec: WorkflowSpec) -> None:
        self.spec = spec

    def get(self, workflow_id: str) -> WorkflowSpec | None:
        return self.spec if workflow_id == self.spec.workflow_id else None


def run_agent(make_runtime: MakeRuntime) -> tuple[Runtime, RunState]:
    from observability_helpers import fake_tool_calls_handler

    child = WorkflowSpec(
        workflow_id="wf_child",
        entry_node="end",
        nodes={"end": lambda run, ctx: StepPlan(node_id="end", complete_output={"answer": "child done"})},
    )
    runtime = make_runtime(
        effect_handlers={EffectType.LLM_CALL: llm_handler, EffectType.TOOL_CALLS: fake_tool_calls_handler},
        artifact_store=InMemoryArtifactStore(),
        workflow_registry=Registry(child),
    )
    flow = agent_flow()
    run_id = runtime.start(workflow=flow)
    run = runtime.tick(workflow=flow, run_id=run_id)
    assert run.status == RunStatus.WAITING
    return runtime, run


def test_report_from_a_real_run(make_runtime: MakeRuntime) -> None:
    runtime, run = run_agent(make_runtime)
    scratchpad = {
        "node_traces": runtime.get_node_traces(run.run_id),
        "workflow_id": "wf_agent",
        "sub_run_id": "sub-1",
    }
    report = render_agent_trace_markdown(scratchpad)

    assert report.startswith("# Agent Trace Report\n")
    assert report.endswith("\n")
    assert "- Workflow: `wf_agent`" in report
    assert "- Sub-run: `sub-1`" in report
    assert "- Steps: 4" in report
    assert "\n## Timeline\n" in report
    # the four steps, in order
    headings = [line for line in report.splitlines() if line.startswith("### ")]
    assert headings == [
        "### 1. `think` · llm_call · completed",
        "### 2. `act` · tool_calls · completed",
        "### 3. `delegate` · start_subworkflow · completed",
        "### 4. `ask` · ask_user · waiting",
    ]
    # LLM response and the tool calls it asked for
    assert "I will fetch the page." in report
    assert "**Tool calls requested**" in report
    # executed tool calls with their results (evidence refs included)
    assert "1. Tool: `fetch_url` (call_id=c1) → ok" in report
    assert "2. Tool: `execute_command` (call_id=c2) → ok" in report
    assert "3. Tool: `web_search` (call_id=c3) → ok" in report
    assert '"raw_text_artifact"' in report
    assert '"title": "AbstractRuntime"' in report  # the JSON text output was parsed and beautified
    evidence_ids = [s["artifact_id"] for s in runtime.list_evidence(run.run_id)]
    assert all(f"Evidence: `{e}`" in report for e in evidence_ids)
    # subworkflow step: workflow id and sub-run id
    child_id = run.vars["child"]["sub_run_id"]
    assert "- Workflow: `wf_child`" in report
    assert f"- Sub-run: `{child_id}`" in report
    # the wait
    assert "- Waiting for: user" in report
    assert "- Prompt: Anything else?" in report
    # no timestamps by default
    assert "- Time:" not in report


def test_report_options_and_single_trace(make_runtime: MakeRuntime) -> None:
    runtime, run = run_agent(make_runtime)
    trace = runtime.get_node_trace(run.run_id, "act")
    config = AgentTraceMarkdownReportConfig(include_timestamps=True, json_mode=JsonStringifyMode.MINIFIED)
    report = render_agent_trace_markdown(trace, config=config)
    assert "- Steps: 1" in report
    assert f"- Time: {trace['steps'][0]['ts']}" in report
    assert '{"url":"https://example.org"}' in report
    assert "- Duration: " in report

    bare = render_agent_trace_markdown(runtime.get_node_traces(run.run_id))  # {node_id: trace}
    assert "- Steps: 4" in bare


def test_reused_failed_and_empty_reports() -> None:
    traces = {
        "node_traces": {
            "n": {
                "node_id": "n",
                "steps": [
                    {
                        "ts": "2026-01-01T00:00:02+00:00",
                        "node_id": "n",
                        "status": "failed",
                        "effect": {"type": "tool_calls", "payload": {"tool_calls": []}, "result_key": None},
                        "error": "Effect failed after 2 attempts: boom",
                    },
                    {
                        "ts": "2026-01-01T00:00:01+00:00",
                        "node_id": "n",
                        "status": "completed",
                        "reused_prior_result": True,
                        "effect": {"type": "answer_user", "payload": {"message": "hi"}, "result_key": None},
                        "result": {"message": "hi", "level": "message"},
                    },
                    "not a step",
                ],
            }
        }
    }
    report = render_agent_trace_markdown(traces)
    headings = [line for line in report.splitlines() if line.startswith("### ")]
    assert headings == ["### 1. `n` · answer_user · completed", "### 2. `n` · tool_calls · failed"]
    assert "- Reused prior result (not executed again)" in report
    assert "Effect failed after 2 attempts: boom" in report
    assert "**Payload**" in report and "**Result**" in report

    for empty in (None, {}, {"node_traces": {}}, {"unrelated": 1}):
        text = render_agent_trace_markdown(empty)  # type: ignore[arg-type]
        assert "- Steps: 0" in text and "_No steps recorded._" in text


def test_outputs_with_backticks_get_a_longer_fence() -> None:
    output = "```python\nprint('hi')\n```"
    trace = {
        "node_id": "n",
        "steps": [
            {
                "ts": "t",
                "node_id": "n",
                "status": "completed",
                "effect": {
                    "type": "tool_calls",
                    "payload": {"tool_calls": [{"name": "read_file", "call_id": "r"}]},
                },
                "result": {
                    "mode": "executed",
                    "results": [
                        {
                            "call_id": "r",
                            "name": "read_file",
                            "success": False,
                            "output": output,
                            "error": "partial",
                        }
                    ],
                },
            }
        ],
    }
    report = render_agent_trace_markdown(trace)
    assert "1. Tool: `read_file` (call_id=r) → error" in report
    assert "   ````text" in report
    assert "partial" in report


@pytest.mark.parametrize("mode", list(JsonStringifyMode))
def test_every_mode_renders(mode: JsonStringifyMode, make_runtime: MakeRuntime) -> None:
    runtime, run = run_agent(make_runtime)
    config = AgentTraceMarkdownReportConfig(json_mode=mode)
    assert "### 4." in render_agent_trace_markdown(
        {"node_traces": runtime.get_node_traces(run.run_id)}, config=config
    )


def test_each_tool_call_shows_its_name_call_id_arguments_and_result() -> None:
    trace = {
        "node_id": "act",
        "steps": [
            {
                "ts": "2026-01-01T00:00:00+00:00",
                "node_id": "act",
                "status": "completed",
                "effect": {
                    "type": "tool_calls",
                    "payload": {
                        "tool_calls": [
                            {"name": "read_file", "arguments": {"path": "a.md"}, "call_id": "call-7"},
                            {"name": "list_files", "arguments": {"dir": "."}},
                        ]
                    },
                },
                "result": {
                    "mode": "executed",
                    "results": [  # matched by call_id first, then by position
                        {"name": "list_files", "success": False, "output": None, "error": "denied"},
                        {"call_id": "call-7", "name": "read_file", "success": True, "output": "# A"},
                    ],
                },
            }
        ],
    }
    config = AgentTraceMarkdownReportConfig(json_mode=JsonStringifyMode.MINIFIED)
    lines = render_agent_trace_markdown(trace, config=config).splitlines()

    first = lines.index("1. Tool: `read_file` (call_id=call-7) → ok")
    second = lines.index("2. Tool: `list_files` → error")
    read_file, list_files = lines[first:second], lines[second:]
    # each block: label, blank line, opening fence, content
    assert read_file[read_file.index("   Arguments:") + 3] == '   {"path":"a.md"}'
    assert read_file[read_file.index("   Result:") + 3] == "   # A"
    assert list_files[list_files.index("   Arguments:") + 3] == '   {"dir":"."}'
    assert list_files[list_files.index("   Error:") + 3] == "   denied"
    assert "   Result:" not in list_files  # no output to show
