"""The Flow IR built by hand with the adapters, compiled with ``compile_flow``."""

from __future__ import annotations

from typing import Any

import pytest
from vf_support import make_runtime

from abstractruntime.core.models import RunStatus
from abstractruntime.visualflow_compiler import Flow, compile_flow
from abstractruntime.visualflow_compiler.adapters import (
    create_function_node_handler,
    create_subflow_node_handler,
)


def _run(flows: list[Flow], vars: dict[str, Any]) -> Any:
    specs = {f.flow_id: compile_flow(f) for f in flows}
    runtime = make_runtime(specs)
    root = specs[flows[0].flow_id]
    return runtime.tick(workflow=root, run_id=runtime.start(workflow=root, vars=vars))


def test_function_chain_uses_last_output_and_output_key() -> None:
    flow = Flow("chain")
    flow.add_node("double", create_function_node_handler(lambda x: x * 2, input_key="n"))
    flow.add_node("inc", create_function_node_handler(lambda x: x + 1, output_key="answer"))
    flow.add_edge("double", "inc", source_handle="exec-out")
    state = _run([flow], {"n": 5})
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"response": 11, "success": True}
    assert state.vars["answer"] == 11
    assert state.vars["_temp"]["node_outputs"]["inc"] == {"result": 11}


def test_branching_and_missing_branch_completes() -> None:
    flow = Flow("branch")
    flow.add_node(
        "pick", create_function_node_handler(lambda v: {"branch": "true" if v["x"] > 0 else "false"})
    )
    flow.add_node("pos", create_function_node_handler(lambda _: "positive"))
    flow.add_edge("pick", "pos", source_handle="true")
    assert _run([flow], {"x": 1}).output == {"response": "positive", "success": True}
    assert _run([flow], {"x": -1}).output == {"branch": "false", "success": True}


def test_function_error_and_subflow() -> None:
    child = Flow("child")
    child.add_node("boom", create_function_node_handler(lambda _: 1 / 0))
    parent = Flow("parent")
    parent.add_node("call", create_subflow_node_handler("child", input_key="args"))
    state = _run([parent, child], {"args": {"a": 1}})
    assert state.status == RunStatus.COMPLETED
    assert state.output is not None and state.output["result"]["output"]["success"] is False


def test_validate_reports_problems() -> None:
    flow = Flow("bad")
    flow.add_node("a", create_function_node_handler(lambda x: x))
    flow.add_node("b", create_function_node_handler(lambda x: x))
    flow.add_edge("a", "ghost")
    errors = flow.validate()
    assert any("ghost" in e for e in errors)
    with pytest.raises(ValueError):
        compile_flow(flow)
    assert Flow("empty").validate() == ["Flow 'empty' has no entry node"]
