"""Run a hand-built VisualFlow with chosen effect handlers, and record effect payloads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vf_builders import EXEC, OUT, edge, end, flow, node, pin, start

from abstractruntime import Runtime
from abstractruntime.core.models import Effect, EffectType, RunState
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.core.spec import WorkflowSpec
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.storage.artifacts_memory import InMemoryArtifactStore
from abstractruntime.visualflow_compiler import compile_visualflow_tree


@dataclass
class Recorder:
    """An effect handler that records each payload and completes with ``answer(payload)``."""

    answer: Callable[[dict[str, Any]], Any] = lambda payload: {}
    payloads: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, run: RunState, effect: Effect, default_next_node: str | None = None) -> EffectOutcome:
        payload = dict(effect.payload) if isinstance(effect.payload, dict) else {}
        self.payloads.append(payload)
        return EffectOutcome.completed(self.answer(payload))


@dataclass
class FlowRun:
    """A runtime over in-memory stores with the flow's specs registered."""

    doc: dict[str, Any]
    handlers: dict[EffectType, Any]
    runtime: Runtime = field(init=False)
    spec: WorkflowSpec = field(init=False)

    def __post_init__(self) -> None:
        specs = compile_visualflow_tree(root_id=self.doc["id"], flows_by_id={self.doc["id"]: self.doc})
        registry = WorkflowRegistry()
        for spec in specs.values():
            registry.register(spec)
        self.spec = specs[self.doc["id"]]
        self.runtime = Runtime(
            run_store=InMemoryRunStore(),
            ledger_store=InMemoryLedgerStore(),
            workflow_registry=registry,
            artifact_store=InMemoryArtifactStore(),
            effect_handlers=self.handlers,
        )

    def start(self, vars: dict[str, Any] | None = None, *, session_id: str | None = None) -> RunState:
        run_id = self.runtime.start(workflow=self.spec, vars=dict(vars or {}), session_id=session_id)
        return self.runtime.tick(workflow=self.spec, run_id=run_id, max_steps=200)

    def resume(self, state: RunState, payload: dict[str, Any]) -> RunState:
        assert state.waiting is not None
        return self.runtime.resume(
            workflow=self.spec, run_id=state.run_id, wait_key=state.waiting.wait_key, payload=payload
        )


def run_flow(
    doc: dict[str, Any], handlers: dict[EffectType, Any], vars: dict[str, Any] | None = None
) -> RunState:
    """Start ``doc`` and tick it once (up to 200 steps)."""
    return FlowRun(doc, handlers).start(vars)


def one_node(node_type: str, defaults: dict[str, Any], outputs: list[str], **data: Any) -> dict[str, Any]:
    """``start -> <node_type> -> end``: the node's input pins are the keys of ``defaults`` (its pinDefaults),
    every output pin is wired to the same-named pin of the end node; ``data`` is added to the node's data."""
    body = node(
        "n",
        node_type,
        [EXEC, *(pin(k) for k in defaults)],
        [OUT, *(pin(o) for o in outputs)],
        pinDefaults=defaults,
        **data,
    )
    edges = [edge("s", "exec-out", "n"), edge("n", "exec-out", "e"), *(edge("n", o, "e", o) for o in outputs)]
    return flow(f"f_{node_type}", [start("s"), body, end("e", *outputs)], edges)
