"""Every example VisualFlow compiles (with its subflows) and uses only known node types."""

from __future__ import annotations

from collections import Counter
from typing import Any

from abstractruntime.core.spec import WorkflowSpec
from abstractruntime.visualflow_compiler import compile_visualflow_tree, load_visualflow_json, visual_to_flow
from abstractruntime.visualflow_compiler.nodes import known_node_types
from abstractruntime.visualflow_compiler.nodes.subflows import agent_workflow_id
from abstractruntime.visualflow_compiler.validate import validate_visualflow


def test_examples_present(example_flows: dict[str, dict[str, Any]]) -> None:
    assert len(example_flows) == 140


def test_no_unknown_node_types(example_flows: dict[str, dict[str, Any]]) -> None:
    known = known_node_types()
    unknown = Counter(
        node["type"] for flow in example_flows.values() for node in flow["nodes"] if node["type"] not in known
    )
    assert unknown == Counter()


def test_every_example_compiles_with_its_subflows(example_flows: dict[str, dict[str, Any]]) -> None:
    compiled: set[str] = set()
    for flow_id in example_flows:
        specs = compile_visualflow_tree(root_id=flow_id, flows_by_id=example_flows)
        assert flow_id in specs
        assert all(isinstance(spec, WorkflowSpec) for spec in specs.values())
        compiled.update(specs)
    # Besides the flows, the tree holds the built-in ReAct agent of every agent node.
    agents = {
        agent_workflow_id(fid, node["id"])
        for fid, flow in example_flows.items()
        for node in flow["nodes"]
        if node["type"] == "agent"
    }
    assert compiled == set(example_flows) | agents


def test_every_example_validates_clean(example_flows: dict[str, dict[str, Any]]) -> None:
    problems = {fid: validate_visualflow(flow) for fid, flow in example_flows.items()}
    assert {fid: diags for fid, diags in problems.items() if diags} == {}


def test_subflow_tree_follows_references(example_flows: dict[str, dict[str, Any]]) -> None:
    specs = compile_visualflow_tree(root_id="8f013493", flows_by_id=example_flows)
    assert set(specs) == {"8f013493"}  # recursive-flow references itself: compiled once
    assert compile_visualflow_tree(root_id="missing", flows_by_id=example_flows) == {}


def test_entry_and_exec_split(example_flows: dict[str, dict[str, Any]]) -> None:
    flow = visual_to_flow(load_visualflow_json(example_flows["8f013493"]))
    assert flow.entry_node == "node-2"
    assert set(flow.nodes) == {"node-1", "node-2", "node-3", "node-7", "node-13", "node-14"}
    assert flow.validate() == []
