"""The node registry (default pins per type) and how the loader completes nodes without pin lists (SPEC §9.1)."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from vf_builders import EXEC, bare, edge, pin
from vf_support import make_runtime

from abstractruntime.core.models import RunStatus
from abstractruntime.visualflow_compiler import compile_visualflow, load_visualflow_json, visual_to_flow
from abstractruntime.visualflow_compiler.visual.executor import is_exec_node
from abstractruntime.visualflow_compiler.visual.node_registry import default_pins, is_exec_type

# Types whose data pins the author picks per node: the examples' pins say nothing about defaults.
_AUTHOR_PINS = {"on_flow_start", "on_flow_end", "subflow", "code", "break_object", "make_object", "make_meta"}
_AUTHOR_PINS |= {
    "concat",
    "make_array",
    "sequence",
}  # variadic: two pins by default, more when edges use them


def _run(doc: dict[str, Any], vars: dict[str, Any] | None = None) -> Any:
    spec = compile_visualflow(doc)
    runtime = make_runtime({spec.workflow_id: spec})
    run_id = runtime.start(workflow=spec, vars=vars or {})
    return runtime.tick(workflow=spec, run_id=run_id, max_steps=200)


def test_exec_types_agree_with_the_example_flows(example_flows: dict[str, dict[str, Any]]) -> None:
    mismatched = Counter(
        node["type"]
        for flow in example_flows.values()
        for node in flow["nodes"]
        if any(p.get("type") == "execution" for p in node["data"]["inputs"] + node["data"]["outputs"])
        != is_exec_type(node["type"])
    )
    assert mismatched == Counter()


def test_usual_example_pins_are_defaults(example_flows: dict[str, dict[str, Any]]) -> None:
    """A pin most example nodes of a type carry is one of the type's default pins."""
    seen: dict[str, Counter[tuple[str, str]]] = {}
    instances: Counter[str] = Counter()
    for flow in example_flows.values():
        for node in flow["nodes"]:
            instances[node["type"]] += 1
            counter = seen.setdefault(node["type"], Counter())
            for side in ("inputs", "outputs"):
                counter.update({(side, p["id"]) for p in node["data"][side]})
    missing = {}
    for node_type, counter in seen.items():
        if node_type in _AUTHOR_PINS:
            continue
        inputs, outputs = default_pins(node_type)
        defaults = {("inputs", p["id"]) for p in inputs} | {("outputs", p["id"]) for p in outputs}
        usual = {key for key, count in counter.items() if 2 * count > instances[node_type]}
        if usual - defaults:
            missing[node_type] = sorted(usual - defaults)
    assert missing == {}


def test_example_documents_keep_their_pins(example_flows: dict[str, dict[str, Any]]) -> None:
    for flow in example_flows.values():
        loaded = load_visualflow_json(flow)
        for raw, node in zip(flow["nodes"], loaded.nodes, strict=True):
            assert node.data is raw["data"]  # explicit pins win: nothing completed, nothing copied


def test_type_comes_from_data_node_type_when_type_is_generic() -> None:
    doc = {
        "id": "types",
        "nodes": [
            bare("a", "llm_call"),
            {"id": "b", "type": "NodeType.ASK_USER", "data": {}},
            {"id": "c", "type": "myEditorNode", "data": {"nodeType": "answer_user"}},
            {"id": "d", "type": "if", "data": {"nodeType": "answer_user"}},
            {"id": "e", "type": "", "data": {"nodeType": "NodeType.LOOP"}},
        ],
        "edges": [],
    }
    loaded = load_visualflow_json(doc)
    assert [n.type for n in loaded.nodes] == ["llm_call", "ask_user", "answer_user", "if", "loop"]


def test_missing_pin_lists_are_completed_without_touching_the_input() -> None:
    doc = {
        "id": "partial",
        "nodes": [
            bare("start", "on_flow_start"),
            bare("ask", "ask_user", inputs=[pin("prompt", "string")]),  # outputs missing, no exec-in
            bare("end", "on_flow_end"),
        ],
        "edges": [
            edge("start", "exec-out", "ask"),
            edge("start", "question", "ask", "prompt"),
            edge("ask", "exec-out", "end"),
            edge("ask", "response", "end", "answer"),
        ],
    }
    before = copy.deepcopy(doc)
    nodes = load_visualflow_json(doc).node_map()
    assert doc == before
    start_outs = [(p["id"], p["type"]) for p in nodes["start"].pins("outputs")]
    assert start_outs == [("exec-out", "execution"), ("question", "any")]
    # The explicit inputs are kept and get the exec-in their exec edge needs; outputs are the defaults.
    assert [p["id"] for p in nodes["ask"].pins("inputs")] == ["prompt", "exec-in"]
    assert [p["id"] for p in nodes["ask"].pins("outputs")] == ["exec-out", "response"]
    assert [p["id"] for p in nodes["end"].pins("inputs")] == ["exec-in", "answer"]
    assert all(is_exec_node(n) for n in nodes.values())


def test_minimal_flow_with_data_edges_runs() -> None:
    doc = {
        "id": "minimal_data",
        "entryNode": "start",
        "nodes": [
            bare("start", "on_flow_start"),
            bare("sum", "add"),
            bare("greeting", "concat"),
            bare("bang", "literal_string", literalValue="!"),
            bare("check", "if"),
            bare("big", "compare", pinDefaults={"op": ">", "b": 4}),
            bare("say", "answer_user"),
            bare("end", "on_flow_end"),
        ],
        "edges": [
            edge("start", "exec-out", "check"),
            edge("sum", "result", "big", "a"),
            edge("big", "result", "check", "condition"),
            edge("check", "true", "say"),
            edge("start", "name", "greeting", "a"),
            edge("bang", "value", "greeting", "b"),
            edge("greeting", "result", "say", "message"),
            edge("say", "exec-out", "end"),
            edge("start", "a", "sum", "a"),
            edge("start", "b", "sum", "b"),
            edge("sum", "result", "end", "total"),
            edge("say", "message", "end", "said"),
        ],
    }
    flow = visual_to_flow(doc)
    assert set(flow.nodes) == {"start", "check", "say", "end"}  # the pure nodes stay data nodes
    state = _run(doc, {"a": 2, "b": 3, "name": "Ada"})
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"total": 5, "said": "Ada!", "success": True}
    small = _run(doc, {"a": 1, "b": 1, "name": "Ada"})
    assert small.output == {"condition": False, "branch": "false", "success": True}  # if.false: not wired


def test_entry_node_is_honoured_over_document_order() -> None:
    doc = {
        "id": "two_roots",
        "entryNode": "start",
        "nodes": [bare("listener", "on_event"), bare("start", "on_flow_start"), bare("end", "on_flow_end")],
        "edges": [edge("listener", "exec-out", "end"), edge("start", "exec-out", "end")],
    }
    flow = visual_to_flow(doc)
    assert flow.entry_node == "start"
    state = _run(doc)
    assert state.status == RunStatus.COMPLETED and state.output == {"success": True}


def test_unknown_bare_type_with_exec_edges_passes_through() -> None:
    doc = {
        "id": "unknown",
        "nodes": [bare("start", "on_flow_start"), bare("odd", "no_such_type"), bare("end", "on_flow_end")],
        "edges": [edge("start", "exec-out", "odd"), edge("odd", "exec-out", "end")],
    }
    state = _run(doc)
    assert state.status == RunStatus.COMPLETED
    assert any("no_such_type" in w and "passed through" in w for w in state.vars["_flow_warnings"])


def test_explicit_exec_pins_are_not_duplicated() -> None:
    doc = {
        "id": "explicit",
        "nodes": [
            bare("start", "on_flow_start", outputs=[{"id": "exec-out", "type": "execution"}]),
            bare("end", "on_flow_end", inputs=[EXEC, pin("x")]),
        ],
        "edges": [edge("start", "exec-out", "end")],
    }
    nodes = load_visualflow_json(doc).node_map()
    assert [p["id"] for p in nodes["start"].pins("outputs")] == ["exec-out"]
    assert nodes["start"].pins("inputs") == []  # completed from the registry: on_flow_start has no inputs
    assert [p["id"] for p in nodes["end"].pins("inputs")] == ["exec-in", "x"]
