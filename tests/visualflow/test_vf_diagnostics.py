"""``validate_visualflow`` and the loader on malformed flows: diagnostics, never tracebacks."""

from __future__ import annotations

from typing import Any

import pytest
from vf_builders import EXEC, OUT, edge, end, flow, node, pin, start

from abstractruntime.errors import AbstractRuntimeError
from abstractruntime.visualflow_compiler import compile_visualflow, load_visualflow_json
from abstractruntime.visualflow_compiler.errors import VisualFlowError
from abstractruntime.visualflow_compiler.validate import validate_visualflow


def _codes(raw: Any) -> list[tuple[str, str | None]]:
    return [(d.code, d.node_id) for d in validate_visualflow(raw)]


@pytest.mark.parametrize("raw", ['{"id": "x", "nodes": [', 42, None, [1, 2], b"\xff", "", {"nodes": []}])
def test_malformed_input_gives_diagnostics(raw: Any) -> None:
    diags = validate_visualflow(raw)
    assert diags and all(d.severity == "error" for d in diags)


def test_every_problem_reported_at_once() -> None:
    nodes = [
        start("start"),
        node("mystery", "no_such_type", [EXEC], [OUT]),
        node("a", "answer_user", [EXEC, pin("message")], [OUT]),
        node("b", "answer_user", [EXEC, pin("message")], [OUT]),
        node("l1", "literal_string", [], [pin("value")], literalValue="x"),
        node("l2", "literal_string", [], [pin("value")], literalValue="y"),
        end("end"),
    ]
    edges = [
        edge("start", "exec-out", "a"),
        edge("a", "exec-out", "b"),
        edge("b", "exec-out", "a"),
        edge("ghost", "exec-out", "end"),
        edge("l1", "value", "a", "message"),
        edge("l2", "value", "a", "message"),
    ]
    codes = _codes(flow("bad", nodes, edges))
    assert ("unknown_node_type", "mystery") in codes
    assert ("dangling_edge", "ghost") in codes
    assert ("duplicate_data_edge", "a") in codes
    assert ("exec_cycle", "a") in codes


def test_loop_cycles_are_fine_and_missing_entry_reported() -> None:
    loop_pins = [{"id": "loop", "type": "execution"}, {"id": "done", "type": "execution"}]
    nodes = [
        start("start"),
        node("w", "while", [EXEC, pin("condition")], loop_pins),
        node("s", "set_var", [EXEC], [OUT]),
    ]
    edges = [edge("start", "exec-out", "w"), edge("w", "loop", "s"), edge("s", "exec-out", "w")]
    assert _codes(flow("ok", nodes, edges)) == []
    pure_only = flow("pure", [node("l", "literal_number", [], [pin("value")], literalValue=1)], [])
    assert ("missing_entry", None) in _codes(pure_only)
    assert ("missing_entry", "nope") in _codes(flow("e", [start("start")], [], entry="nope"))


def test_loader_errors_are_typed() -> None:
    with pytest.raises(TypeError):
        load_visualflow_json(42)
    with pytest.raises(VisualFlowError) as info:
        load_visualflow_json({"nodes": []})
    assert isinstance(info.value, ValueError) and isinstance(info.value, AbstractRuntimeError)
    assert info.value.diagnostics[0].code == "missing_id"


def test_loader_is_tolerant() -> None:
    doc = {
        "flow_id": "f",
        "extra": 1,
        "nodes": [{"id": "n", "type": "NodeType.ON_FLOW_START", "data": {}}, "junk"],
        "edges": [{"source": "n", "target": "m"}, edge("n", "exec-out", "m")],
    }
    loaded = load_visualflow_json(doc)
    assert loaded.id == "f" and [n.type for n in loaded.nodes] == ["on_flow_start"]
    assert len(loaded.edges) == 1 and loaded.edges[0].is_exec


def test_stale_entry_routes_are_reported() -> None:
    nodes = [
        start("start"),
        node(
            "branch",
            "if",
            [EXEC, pin("condition")],
            [{"id": "true", "type": "execution"}, {"id": "false", "type": "execution"}],
        ),
        end("end"),
    ]
    nodes[-1]["data"]["entryRoutes"] = [{"key": "k", "sourceNodeId": "branch", "sourceHandle": "true"}]
    doc = flow(
        "stale",
        nodes,
        [edge("start", "exec-out", "branch"), edge("branch", "true", "end"), edge("branch", "false", "end")],
    )
    assert ("multi_entry", "end") in _codes(doc)
    with pytest.raises(ValueError, match="Stale entryRoutes"):
        compile_visualflow(doc)
