"""Minimal documents (nodes as ``{id, type, data: {nodeType}}``, no pin lists) for EVERY known node type.

Each document is ``on_flow_start -> node -> on_flow_end`` with ``exec-out``/branch handles wired to
``exec-in`` and ``entryNode`` set.  Every one compiles, and every run reaches a sane state: completed
through ``on_flow_end``, waiting with the expected reason, or ended by a node error naming the node.
"""

from __future__ import annotations

from typing import Any

import pytest
from vf_builders import bare

from abstractruntime import Runtime
from abstractruntime.core.models import Effect, EffectType, RunState, RunStatus
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.storage.artifacts_memory import InMemoryArtifactStore
from abstractruntime.testing import ScriptedLLM
from abstractruntime.visualflow_compiler import compile_visualflow_tree, visual_to_flow
from abstractruntime.visualflow_compiler.nodes import known_node_types
from abstractruntime.visualflow_compiler.visual.node_registry import default_pins, registry_types

# Nodes that need configuration a minimal document does not carry: the run ends with a node error
# (``success: False`` naming the node), never a traceback.
NODE_ERROR = {
    "code": "has no code",
    "function": "has no code",
    "subflow": "has no subflowId",
    "set_var": "missing variable name",
    "set_var_property": "missing name or key",
    "read_file": "workspace_root is not set",
    "write_file": "workspace_root is not set",
}
# Effect nodes whose effect needs a payload key only the node's configuration gives: the kernel fails the
# effect, the run is FAILED at the node with the effect's message.
EFFECT_FAILURE = {
    "emit_event": "emit_event requires payload.name",
    "wait_event": "wait_event requires payload.wait_key or payload.name",
    "on_schedule": "wait_until requires payload.until",
}
WAITING = {"ask_user": "waiting:user", "on_event": "waiting:event"}
# A terminal node in the middle: the run ends there (on_flow_end completes the run).
ENDS_AT_NODE = {"on_flow_end"}
# Media and catalog nodes depend on host capabilities (media tools, a provider catalog): without them a
# minimal run may complete (a tool answered), wait for input, or end with a node error naming the node.
CAPABILITY = {"generate_image", "generate_voice", "transcribe_audio", "listen_voice", "model_catalog"}
CAPABILITY |= {"provider_catalog"}
_ANY_SANE = {"completed", "node_error", "waiting:event", "waiting:user"}

_EXEC_OUT_PREFERENCE = ("exec-out", "false", "done", "then:0", "default")


def _exit_handle(node_type: str) -> str:
    """The exec output a minimal run leaves the node through (a branch with nothing connected takes it)."""
    outs = [p["id"] for p in default_pins(node_type)[1] if p["type"] == "execution"]
    return next((h for h in _EXEC_OUT_PREFERENCE if h in outs), "exec-out")


def minimal_document(node_type: str) -> dict[str, Any]:
    """``on_flow_start -> <node_type> -> on_flow_end`` with bare nodes (pins come from the registry)."""

    def exec_edge(source: str, handle: str, target: str) -> dict[str, Any]:
        return {"source": source, "sourceHandle": handle, "target": target, "targetHandle": "exec-in"}

    return {
        "id": f"minimal_{node_type}",
        "entryNode": "start",
        "nodes": [bare("start", "on_flow_start"), bare("node", node_type), bare("end", "on_flow_end")],
        "edges": [exec_edge("start", "exec-out", "node"), exec_edge("node", _exit_handle(node_type), "end")],
    }


def _tool_shaped(run: RunState, effect: Effect, default_next_node: str | None = None) -> EffectOutcome:
    result = {"name": effect.type.value, "success": True, "output": "done"}
    return EffectOutcome.completed({"mode": "executed", "results": [result], "ok": True})


def _runtime(registry: WorkflowRegistry) -> Runtime:
    fakes: dict[Any, Any] = {
        effect: _tool_shaped
        for effect in (
            EffectType.TOOL_CALLS,
            EffectType.MODEL_RESIDENCY,
            EffectType.MEMORY_KG_ASSERT,
            EffectType.MEMORY_KG_QUERY,
            EffectType.MEMORY_KG_RESOLVE,
        )
    }
    fakes[EffectType.LLM_CALL] = ScriptedLLM(responder=lambda payload: "a scripted answer")
    return Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        workflow_registry=registry,
        artifact_store=InMemoryArtifactStore(),
        effect_handlers=fakes,
    )


def _run(node_type: str) -> RunState:
    doc = minimal_document(node_type)
    specs = compile_visualflow_tree(root_id=doc["id"], flows_by_id={doc["id"]: doc})
    registry = WorkflowRegistry()
    for spec in specs.values():
        registry.register(spec)
    runtime = _runtime(registry)
    spec = specs[doc["id"]]
    run_id = runtime.start(workflow=spec, vars={})
    return runtime.tick(workflow=spec, run_id=run_id, max_steps=200)


def _ran(state: RunState, node_id: str) -> bool:
    """The node left its outputs (pure-exec/control/variable nodes) or its effect result in the run vars."""
    temp = state.vars["_temp"]
    return any(node_id in temp.get(slot, {}) for slot in ("node_outputs", "effects", "agent"))


def test_registry_covers_every_known_type() -> None:
    assert registry_types() == known_node_types()


def test_expectation_tables_name_known_types() -> None:
    special = set(NODE_ERROR) | set(EFFECT_FAILURE) | set(WAITING) | ENDS_AT_NODE | CAPABILITY
    assert special <= known_node_types()


@pytest.mark.parametrize("node_type", sorted(known_node_types()))
def test_minimal_document_compiles_with_a_handler_per_node(node_type: str) -> None:
    flow = visual_to_flow(minimal_document(node_type))
    assert flow.entry_node == "start"
    expected = {"start", "node"} if node_type in ENDS_AT_NODE else {"start", "node", "end"}
    # Every node runs: pure types wired with exec edges become exec ("pure-exec") nodes.
    assert expected <= set(flow.nodes)
    assert flow.validate() == []


def _outcome(state: RunState, node_type: str) -> str:
    """Classify a finished tick, asserting what every outcome must satisfy to be sane."""
    if state.status == RunStatus.WAITING:
        assert state.current_node == "node" and state.waiting is not None
        return f"waiting:{state.waiting.reason.value}"
    if state.status == RunStatus.FAILED:
        assert state.current_node == "node" and state.error
        assert "Traceback" not in state.error
        return "failed"
    assert state.status == RunStatus.COMPLETED and isinstance(state.output, dict), (state.status, state.error)
    if state.output["success"] is False:
        assert state.output["node"] == "node" and state.vars["_flow_error_node"] == "node"
        assert "node 'node'" in state.output["error"] or node_type in NODE_ERROR
        return "node_error"
    assert state.output == {"success": True} and "_flow_error" not in state.vars
    assert _ran(state, "start") and _ran(state, "node")
    assert state.current_node == ("node" if node_type in ENDS_AT_NODE else "end")
    return "completed"


@pytest.mark.parametrize("node_type", sorted(known_node_types()))
def test_minimal_document_runs_to_a_sane_state(node_type: str) -> None:
    state = _run(node_type)
    outcome = _outcome(state, node_type)
    if node_type in CAPABILITY:
        assert outcome in _ANY_SANE
    elif node_type in WAITING:
        assert outcome == WAITING[node_type]
    elif node_type in EFFECT_FAILURE:
        assert outcome == "failed" and EFFECT_FAILURE[node_type] in str(state.error)
    elif node_type in NODE_ERROR:
        assert outcome == "node_error" and state.output is not None
        assert NODE_ERROR[node_type] in state.output["error"]
    else:
        assert outcome == "completed"
