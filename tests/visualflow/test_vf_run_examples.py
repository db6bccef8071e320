"""Example flows run end to end on in-memory stores (scripted answers, scripted LLM)."""

from __future__ import annotations

from typing import Any

from vf_support import make_runtime, numbered_llm

from abstractruntime.core.models import RunStatus, WaitReason
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.testing import ScriptedLLM
from abstractruntime.visualflow_compiler import compile_visualflow_tree


def _run(flows: dict[str, Any], flow_id: str, vars: dict[str, Any], llm: ScriptedLLM | None = None) -> Any:
    specs = compile_visualflow_tree(root_id=flow_id, flows_by_id=flows)
    runtime = make_runtime(specs, llm=llm)
    run_id = runtime.start(workflow=specs[flow_id], vars=vars)
    return runtime, specs, runtime.tick(workflow=specs[flow_id], run_id=run_id, max_steps=500)


def test_recursive_subflow_counts_down(example_flows: dict[str, Any]) -> None:
    _, _, state = _run(example_flows, "8f013493", {"number": 3})
    assert state.status == RunStatus.COMPLETED
    assert state.output is not None and state.output["success"] is True
    assert state.output["response"].endswith(" 0")


def test_recursive_subflow_base_case(example_flows: dict[str, Any]) -> None:
    _, _, state = _run(example_flows, "8f013493", {"number": 0})
    assert state.output is not None and state.output["response"].endswith(" 0")


def test_flow_end_outputs_start_pins(example_flows: dict[str, Any]) -> None:
    _, _, state = _run(example_flows, "5d83f135", {"prompt": "hi", "model": "m"})
    assert state.status == RunStatus.COMPLETED
    assert state.output is not None
    assert state.output["prompt"] == "hi" and state.output["model"] == "m" and state.output["success"] is True
    assert state.output["tools"] is None


def test_ask_user_waits_then_terminal_resume(example_flows: dict[str, Any]) -> None:
    runtime, specs, state = _run(example_flows, "a803f4bd", {})
    assert state.status == RunStatus.WAITING and state.waiting is not None
    assert state.waiting.reason == WaitReason.USER and state.waiting.prompt == "who are you ?"
    done = runtime.resume(
        workflow=specs["a803f4bd"],
        run_id=state.run_id,
        wait_key=state.waiting.wait_key,
        payload={"response": "me"},
    )
    assert done.status == RunStatus.COMPLETED


def test_empty_loop_completes(example_flows: dict[str, Any]) -> None:
    _, _, state = _run(example_flows, "1e884e22", {})
    assert state.status == RunStatus.COMPLETED
    assert state.output is not None and state.output["count"] == 0


def test_for_loop_with_sequence_calls_llm_each_iteration(example_flows: dict[str, Any]) -> None:
    llm = numbered_llm()
    _, _, state = _run(example_flows, "c999b3a3", {}, llm)
    assert state.status == RunStatus.COMPLETED
    assert len(llm.calls) == 10
    assert [p["prompt"].split()[2] for p in llm.calls[:2]] == ["agent2", "agent1"]
    assert llm.calls[0]["system_prompt"].startswith("You are agent1")


def test_loop_over_literal_items(example_flows: dict[str, Any]) -> None:
    llm = numbered_llm()
    _, _, state = _run(example_flows, "0275220f", {}, llm)
    assert state.status == RunStatus.COMPLETED
    assert len(llm.calls) == 3


def test_clarify_query_survives_restart(example_flows: dict[str, Any]) -> None:
    """LLM output and ask_user answer flow through data edges across a new Runtime on the same stores."""
    stores = (InMemoryRunStore(), InMemoryLedgerStore())
    specs = compile_visualflow_tree(root_id="b991bd18", flows_by_id=example_flows)
    first = make_runtime(specs, llm=numbered_llm(), stores=stores)
    run_id = first.start(workflow=specs["b991bd18"], vars={"query": "cat food", "follow_up": True})
    state = first.tick(workflow=specs["b991bd18"], run_id=run_id)
    assert state.status == RunStatus.WAITING and state.waiting is not None
    assert state.waiting.prompt == "reply 1"
    fresh = compile_visualflow_tree(root_id="b991bd18", flows_by_id=example_flows)
    second = make_runtime(fresh, llm=numbered_llm(), stores=stores)
    done = second.resume(
        workflow=fresh["b991bd18"],
        run_id=run_id,
        wait_key=state.waiting.wait_key,
        payload={"response": "dry"},
    )
    assert done.status == RunStatus.COMPLETED and done.output is not None
    assert (
        done.output["refined-query"]
        == "User Query :  cat food Refining Questions :  reply 1 Refining Answers :  dry"
    )


def test_clarify_query_skips_when_no_follow_up(example_flows: dict[str, Any]) -> None:
    llm = numbered_llm()
    _, _, state = _run(example_flows, "b991bd18", {"query": "q", "follow_up": False}, llm)
    assert state.output == {"refined-query": "q", "success": True}
    assert llm.calls == []


def test_code_node_adds_pins(example_flows: dict[str, Any]) -> None:
    _, _, state = _run(example_flows, "85228163", {"a": 2, "b": 3})
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"success": True, "result": {"message": "5", "level": "message"}}
    assert state.vars["_temp"]["node_outputs"]["node-1"]["output"] == 5


def test_code_node_echo_to_flow_end(example_flows: dict[str, Any]) -> None:
    _, _, state = _run(example_flows, "acagent01", {"prompt": "hello"})
    assert state.output == {"response": "Echo: hello", "success": True}


def test_code_node_failure_completes_without_success(example_flows: dict[str, Any]) -> None:
    _, _, state = _run(example_flows, "85228163", {})
    assert state.status == RunStatus.COMPLETED
    assert state.output is not None and state.output["success"] is False
    assert state.vars["_flow_error_node"] == "node-1"


def test_agent_node_runs_registered_react_workflow(example_flows: dict[str, Any]) -> None:
    from abstractruntime.core.models import StepPlan
    from abstractruntime.core.spec import WorkflowSpec
    from abstractruntime.visualflow_compiler.nodes.subflows import agent_workflow_id

    seen: dict[str, Any] = {}

    def react(run: Any, ctx: Any) -> StepPlan:
        seen.update(run.vars)
        task = run.vars["context"]["task"]
        return StepPlan(
            node_id="react", complete_output={"result": f"done: {task}", "scratchpad": {"steps": 1}}
        )

    specs = compile_visualflow_tree(root_id="db0a1e11", flows_by_id=example_flows)
    agent_id = agent_workflow_id("db0a1e11", "node-3")
    assert agent_id == "visual_react_agent_db0a1e11_node-3"
    specs[agent_id] = WorkflowSpec(workflow_id=agent_id, entry_node="react", nodes={"react": react})
    runtime = make_runtime(specs)
    run_id = runtime.start(
        workflow=specs["db0a1e11"], vars={"prompt": "hello", "provider": "p", "model": "m"}
    )
    state = runtime.tick(workflow=specs["db0a1e11"], run_id=run_id)
    assert state.status == RunStatus.COMPLETED and state.output is not None
    assert state.output["response"] == "done: hello"
    assert state.output["scratchpad"] == {"steps": 1}
    assert state.output["result"]["result"] == "done: hello"
    assert seen["provider"] == "p" and seen["task"] == "hello"
