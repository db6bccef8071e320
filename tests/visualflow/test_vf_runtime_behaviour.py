"""Runtime behaviour of compiled VisualFlows on hand-written flows (SPEC §9.2)."""

from __future__ import annotations

from typing import Any

import pytest
from vf_builders import EXEC, OUT, edge, end, flow, node, pin, start
from vf_support import make_runtime

from abstractruntime.core.models import RunStatus
from abstractruntime.visualflow_compiler import compile_visualflow, visual_to_flow
from abstractruntime.visualflow_compiler.errors import VisualFlowError


def _run(doc: dict[str, Any], vars: dict[str, Any] | None = None) -> Any:
    spec = compile_visualflow(doc)
    runtime = make_runtime({spec.workflow_id: spec})
    run_id = runtime.start(workflow=spec, vars=vars or {})
    return runtime.tick(workflow=spec, run_id=run_id, max_steps=500)


def _while_counter() -> dict[str, Any]:
    nodes = [
        start("start", "limit"),
        node("cond", "compare", [pin("a"), pin("op"), pin("b")], [pin("result")], pinDefaults={"op": "<"}),
        node("count", "get_var", [pin("name")], [pin("value")], pinDefaults={"name": "count"}),
        node(
            "loop",
            "while",
            [EXEC, pin("condition")],
            [{"id": "loop", "type": "execution"}, {"id": "done", "type": "execution"}, pin("index")],
        ),
        node("inc", "add", [pin("a"), pin("b")], [pin("result")], pinDefaults={"b": 1}),
        node(
            "set",
            "set_var",
            [EXEC, pin("name"), pin("value")],
            [OUT, pin("value")],
            pinDefaults={"name": "count"},
        ),
        end("end", "total"),
    ]
    edges = [
        edge("start", "exec-out", "loop"),
        edge("count", "value", "cond", "a"),
        edge("start", "limit", "cond", "b"),
        edge("cond", "result", "loop", "condition"),
        edge("loop", "loop", "set"),
        edge("count", "value", "inc", "a"),
        edge("inc", "result", "set", "value"),
        edge("loop", "done", "end"),
        edge("count", "value", "end", "total"),
    ]
    return flow("while_counter", nodes, edges, entry="start")


def test_while_set_var_get_var() -> None:
    pytest.importorskip("abstractruntime.visualflow_compiler.builtins")
    state = _run(_while_counter(), {"limit": 4, "count": 0})
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"total": 4, "success": True}
    assert state.vars["count"] == 4
    assert state.vars["_temp"]["_control"]["stack"] == []


def test_multi_entry_join_and_path_mux() -> None:
    nodes = [
        start("start", "flag"),
        node(
            "branch",
            "if",
            [EXEC, pin("condition")],
            [{"id": "true", "type": "execution"}, {"id": "false", "type": "execution"}],
        ),
        node("lit_a", "literal_string", [], [pin("value")], literalValue="from-true"),
        node("lit_b", "literal_string", [], [pin("value")], literalValue="from-false"),
        end("end", "which", "text") | {},
    ]
    nodes[-1]["data"]["inputRouteOverrides"] = {
        "text": {
            "branch::true": {"sourceNodeId": "lit_a", "sourceHandle": "value"},
            "branch::false": {"sourceNodeId": "lit_b", "sourceHandle": "value"},
        }
    }
    nodes[-1]["data"]["pinDefaults"] = {"text": "fallback"}
    edges = [
        edge("start", "exec-out", "branch"),
        edge("start", "flag", "branch", "condition"),
        edge("branch", "true", "end"),
        edge("branch", "false", "end"),
        edge("__internal_join_exec__end", "which", "end", "which"),
    ]
    doc = flow("joined", nodes, edges)
    lowered = visual_to_flow(doc)
    assert "__internal_join_exec__end" in lowered.nodes
    yes = _run(doc, {"flag": True})
    no = _run(doc, {"flag": False})
    assert yes.output == {"which": 0, "text": "from-true", "success": True}
    assert no.output == {"which": 1, "text": "from-false", "success": True}


def test_unreachable_exec_nodes_are_ignored_and_pin_defaults_apply() -> None:
    nodes = [
        start("start"),
        node(
            "answer",
            "answer_user",
            [EXEC, pin("message")],
            [OUT, pin("message")],
            pinDefaults={"message": "hello"},
        ),
        node("orphan", "answer_user", [EXEC, pin("message")], [OUT]),
    ]
    doc = flow("defaults", nodes, [edge("start", "exec-out", "answer")], entry="start")
    assert visual_to_flow(doc)._ignored_exec_nodes == ["orphan"]
    state = _run(doc)
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"success": True, "result": {"message": "hello", "level": "message"}}


def test_sequence_returns_after_each_branch() -> None:
    then = [{"id": f"then:{i}", "type": "execution"} for i in range(2)]
    nodes = [
        start("start"),
        node("seq", "sequence", [EXEC], then),
        node("a", "set_var", [EXEC, pin("name"), pin("value")], [OUT], pinDefaults={"name": "a", "value": 1}),
        node("b", "set_var", [EXEC, pin("name"), pin("value")], [OUT], pinDefaults={"name": "b", "value": 2}),
    ]
    edges = [edge("start", "exec-out", "seq"), edge("seq", "then:0", "a"), edge("seq", "then:1", "b")]
    state = _run(flow("seq", nodes, edges))
    assert state.status == RunStatus.COMPLETED
    assert (state.vars["a"], state.vars["b"]) == (1, 2)
    assert state.vars["_temp"]["prev_exec_handle"] == "completed"


def test_code_node_error_completes_with_success_false() -> None:
    pytest.importorskip("abstractruntime.visualflow_compiler.code_runner")
    nodes = [
        start("start"),
        node(
            "fn",
            "code",
            [EXEC, pin("input")],
            [OUT, pin("output")],
            code="def f(d):\n    return 1 / 0\n",
            functionName="f",
        ),
    ]
    state = _run(flow("boom", nodes, [edge("start", "exec-out", "fn")]))
    assert state.status == RunStatus.COMPLETED
    assert state.output is not None and state.output["success"] is False and state.output["node"] == "fn"
    assert state.vars["_flow_error_node"] == "fn"


def test_data_cycle_and_duplicate_data_edges_raise() -> None:
    nodes = [
        start("start"),
        node("x", "not", [pin("value")], [pin("result")]),
        node("y", "not", [pin("value")], [pin("result")]),
        end("end", "v"),
    ]
    cyclic = flow(
        "cyc",
        nodes,
        [
            edge("start", "exec-out", "end"),
            edge("x", "result", "y", "value"),
            edge("y", "result", "x", "value"),
            edge("x", "result", "end", "v"),
        ],
    )
    spec = compile_visualflow(cyclic)
    runtime = make_runtime({spec.workflow_id: spec})
    run_id = runtime.start(workflow=spec)
    with pytest.raises(VisualFlowError, match="Data edge cycle"):
        runtime.tick(workflow=spec, run_id=run_id)
    doubled = flow(
        "dup",
        nodes,
        [edge("start", "exec-out", "end"), edge("x", "result", "end", "v"), edge("y", "result", "end", "v")],
    )
    with pytest.raises(ValueError, match="Two data edges"):
        compile_visualflow(doubled)
