"""Multi-entry lowering in loops (SPEC §9.2 step 1): per-entry overrides across restarts, one predecessor
reaching a node through several handles, and the metadata/data-edge errors with their diagnostics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from vf_builders import bare, edge, pin

from abstractruntime import Runtime
from abstractruntime.core.models import RunState, RunStatus
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore, JsonFileRunStore, JsonlLedgerStore
from abstractruntime.visualflow_compiler import compile_visualflow
from abstractruntime.visualflow_compiler.errors import VisualFlowError
from abstractruntime.visualflow_compiler.validate import validate_visualflow

JOIN = "__internal_join_exec__"


def _ask_loop() -> dict[str, Any]:
    """start -> ask; ask -> check; check.false -> ask (again); check.true -> end.  The prompt differs per entry."""
    ask = bare("ask", "ask_user", pinDefaults={"prompt": "fallback prompt"})
    ask["data"]["inputRouteOverrides"] = {
        "prompt": {
            "start::exec-out": {"sourceNodeId": "first", "sourceHandle": "value"},
            "check::false": {"sourceNodeId": "again", "sourceHandle": "value"},
        }
    }
    nodes = [
        bare("start", "on_flow_start"),
        bare("first", "literal_string", literalValue="What do you need?"),
        bare("again", "literal_string", literalValue="Anything else?"),
        ask,
        bare("is_stop", "compare", pinDefaults={"op": "==", "b": "stop"}),
        bare("check", "if"),
        bare("end", "on_flow_end"),
    ]
    edges = [
        edge("start", "exec-out", "ask"),
        edge("ask", "exec-out", "check"),
        edge("ask", "response", "is_stop", "a"),
        edge("is_stop", "result", "check", "condition"),
        edge("check", "false", "ask"),
        edge("check", "true", "end"),
        edge("ask", "response", "end", "last"),
    ]
    return {"id": "ask_loop", "entryNode": "start", "nodes": nodes, "edges": edges}


def _process(root: Path, doc: dict[str, Any]) -> tuple[Runtime, Any]:
    """A fresh 'process': new file stores over ``root`` and a freshly compiled spec (no shared memory)."""
    spec = compile_visualflow(doc)
    registry = WorkflowRegistry()
    registry.register(spec)
    runtime = Runtime(
        run_store=JsonFileRunStore(root / "runs"),
        ledger_store=JsonlLedgerStore(root / "ledger"),
        workflow_registry=registry,
    )
    return runtime, spec


def test_per_entry_prompt_overrides_survive_restarts(tmp_path: Path) -> None:
    doc = _ask_loop()
    runtime, spec = _process(tmp_path, doc)
    run_id = runtime.start(workflow=spec)
    state = runtime.tick(workflow=spec, run_id=run_id)
    prompts = []
    for answer in ("more", "more again", "stop"):
        assert state.status == RunStatus.WAITING and state.waiting is not None
        prompts.append(state.waiting.prompt)
        runtime, spec = _process(tmp_path, doc)  # restart while waiting at the multi-entry node
        state = runtime.resume(
            workflow=spec, run_id=run_id, wait_key=state.waiting.wait_key, payload={"response": answer}
        )
    assert prompts == ["What do you need?", "Anything else?", "Anything else?"]
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"last": "stop", "success": True}
    # The route taken is run state (persisted), not memory of the process that lowered the flow.
    stored = JsonFileRunStore(tmp_path / "runs").load(run_id)
    assert stored is not None
    assert stored.vars["_temp"]["node_outputs"][f"{JOIN}ask"] == {
        "which": 1,
        "from": "check",
        "from_handle": "false",
    }


def _loop_into_one_node(entry_routes: list[dict[str, str]] | None) -> dict[str, Any]:
    """A loop whose ``loop`` and ``done`` handles both lead to ``say``, with a message per handle."""
    say = bare("say", "answer_user")
    keys = [r["key"] for r in entry_routes] if entry_routes else ["loop::loop", "loop::done"]
    by_handle = dict(zip(("loop", "done"), keys, strict=True))
    if entry_routes:
        say["data"]["entryRoutes"] = entry_routes
        by_handle = {r["sourceHandle"]: r["key"] for r in entry_routes}
    say["data"]["inputRouteOverrides"] = {
        "message": {
            by_handle["loop"]: {"sourceNodeId": "loop", "sourceHandle": "item"},
            by_handle["done"]: {"sourceNodeId": "bye", "sourceHandle": "value"},
        }
    }
    nodes = [
        bare("start", "on_flow_start"),
        bare("items", "literal_array", literalValue=["one", "two"]),
        bare("loop", "loop"),
        bare("bye", "literal_string", literalValue="finished"),
        say,
    ]
    edges = [
        edge("start", "exec-out", "loop"),
        edge("items", "value", "loop", "items"),
        edge("loop", "loop", "say"),
        edge("loop", "done", "say"),
    ]
    return {"id": "loop_into_one", "entryNode": "start", "nodes": nodes, "edges": edges}


def _answers(doc: dict[str, Any]) -> tuple[RunState, list[str]]:
    spec = compile_visualflow(doc)
    registry = WorkflowRegistry()
    registry.register(spec)
    ledger = InMemoryLedgerStore()
    runtime = Runtime(run_store=InMemoryRunStore(), ledger_store=ledger, workflow_registry=registry)
    run_id = runtime.start(workflow=spec)
    state = runtime.tick(workflow=spec, run_id=run_id, max_steps=100)
    said = [
        str(r["effect"]["payload"]["message"])
        for r in ledger.list(run_id)
        if (r.get("effect") or {}).get("type") == "answer_user" and r.get("status") == "completed"
    ]
    return state, said


@pytest.mark.parametrize(
    "routes",
    [
        None,
        [  # declared order differs from the edge order: routes are matched by (source, handle), not position
            {"key": "finished", "sourceNodeId": "loop", "sourceHandle": "done"},
            {"key": "each", "sourceNodeId": "loop", "sourceHandle": "loop"},
        ],
    ],
)
def test_same_predecessor_through_different_handles(routes: list[dict[str, str]] | None) -> None:
    state, said = _answers(_loop_into_one_node(routes))
    assert state.status == RunStatus.COMPLETED
    assert said == ["one", "two", "finished"]
    join = state.vars["_temp"]["node_outputs"][f"{JOIN}say"]
    assert join == {"which": 0 if routes else 1, "from": "loop", "from_handle": "done"}
    assert not any("#FALLBACK" in w for w in state.vars.get("_flow_warnings", []))


def _errors(doc: dict[str, Any]) -> list[tuple[str, str | None]]:
    with pytest.raises(VisualFlowError) as info:
        compile_visualflow(doc)
    return [(d.code, d.node_id) for d in info.value.diagnostics]


def test_stale_override_route_key_is_rejected() -> None:
    doc = _ask_loop()
    overrides = doc["nodes"][3]["data"]["inputRouteOverrides"]["prompt"]
    overrides["check::true"] = overrides.pop("check::false")  # the edge it was written for is gone
    assert _errors(doc) == [("multi_entry", "ask")]
    with pytest.raises(
        ValueError, match=r"Stale inputRouteOverrides on 'ask'.*unknown route key 'check::true'"
    ):
        compile_visualflow(doc)
    assert ("multi_entry", "ask") in [(d.code, d.node_id) for d in validate_visualflow(doc)]


def test_override_reading_a_deleted_node_is_rejected() -> None:
    doc = _ask_loop()
    doc["nodes"] = [n for n in doc["nodes"] if n["id"] != "again"]
    with pytest.raises(VisualFlowError, match="reads from missing node 'again'") as info:
        compile_visualflow(doc)
    assert [(d.code, d.node_id) for d in info.value.diagnostics] == [("multi_entry", "ask")]


def test_stale_and_duplicate_entry_routes_are_rejected() -> None:
    stale = _loop_into_one_node(None)
    stale["nodes"][-1]["data"]["entryRoutes"] = [  # written when 'start' still led to 'say'
        {"key": "loop::done", "sourceNodeId": "loop", "sourceHandle": "done"},
        {"key": "loop::loop", "sourceNodeId": "start", "sourceHandle": "exec-out"},
    ]
    assert _errors(stale) == [("multi_entry", "say")]
    with pytest.raises(ValueError, match="Stale entryRoutes on 'say'"):
        compile_visualflow(stale)
    doubled = _loop_into_one_node(None)
    doubled["nodes"][-1]["data"]["entryRoutes"] = [
        {"key": "same", "sourceNodeId": "loop", "sourceHandle": "done"},
        {"key": "same", "sourceNodeId": "loop", "sourceHandle": "loop"},
    ]
    with pytest.raises(ValueError, match="Duplicate entryRoutes keys on 'say'"):
        compile_visualflow(doubled)


def test_every_pin_with_two_data_edges_is_reported() -> None:
    doc = _ask_loop()
    doc["edges"] += [
        edge("first", "value", "ask", "prompt"),  # a pin that also has overrides: reported on 'ask'
        edge("again", "value", "ask", "prompt"),
        edge("first", "value", "end", "last"),
    ]
    diags = _errors(doc)
    assert sorted(diags) == [("duplicate_data_edge", "ask"), ("duplicate_data_edge", "end")]
    with pytest.raises(ValueError, match="Two data edges into pin 'prompt' of node 'ask'"):
        compile_visualflow(doc)
    codes = [(d.code, d.node_id) for d in validate_visualflow(doc)]
    assert sorted(c for c in codes if c[0] == "duplicate_data_edge") == sorted(diags)


def test_conditional_loop_validates_clean() -> None:
    """A cycle through an ``if`` whose other handle leaves it is a loop, not an endless exec cycle."""
    assert validate_visualflow(_ask_loop()) == []


def test_explicit_inputs_without_exec_in_still_get_joined() -> None:
    doc = _ask_loop()
    doc["nodes"][3]["data"]["inputs"] = [pin("prompt", "string")]  # explicit data pins, no exec-in pin
    spec = compile_visualflow(doc)
    assert {"ask", f"{JOIN}ask", "check", "end"} <= set(spec.nodes)
