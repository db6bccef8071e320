"""Every example flow runs on in-memory stores with stub effect handlers, without a node handler raising.

LLM, tools and memory are stubbed; agent nodes run the built-in ReAct agent that ``compile_visualflow_tree``
returns under ``visual_react_agent_<flow>_<node>``; ask_user waits are answered ``/stop`` a few times.  Flows whose loops
depend on real model output may stay RUNNING after the step budget or WAITING on a timer/event: that is fine
here; what is checked is that nothing raises and that most flows complete.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from abstractruntime import Runtime
from abstractruntime.core.models import Effect, EffectType, RunState, RunStatus, WaitReason
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.core.spec import WorkflowSpec
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.storage.artifacts_memory import InMemoryArtifactStore
from abstractruntime.visualflow_compiler import compile_visualflow_tree

_MEMORY = (
    EffectType.MEMORY_KG_ASSERT, EffectType.MEMORY_KG_QUERY, EffectType.MEMORY_KG_RESOLVE,
    EffectType.MODEL_RESIDENCY, EffectType.MEMORY_QUERY, EffectType.MEMORY_COMPACT,
    EffectType.MEMORY_REHYDRATE, EffectType.MEMORY_NOTE, EffectType.MEMORY_TAG,
)  # fmt: skip


def _llm(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    return EffectOutcome.completed(
        {"content": '{"ok": true}', "data": {"ok": True}, "tool_calls": [], "model": "m"}
    )


def _tools(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    calls = effect.payload.get("tool_calls") or []
    results = [
        {"call_id": c.get("call_id"), "name": c.get("name"), "success": True, "output": "done", "error": None}
        for c in calls
    ]
    return EffectOutcome.completed({"mode": "executed", "results": results})


def _memory(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    result = {"call_id": "m", "name": "memory", "success": True, "output": "ok", "error": None}
    return EffectOutcome.completed(
        {"mode": "executed", "results": [result], "items": [], "count": 0, "ok": True}
    )


def _runtime(flows: dict[str, Any], specs: dict[str, WorkflowSpec]) -> Runtime:
    registry = WorkflowRegistry()
    for spec in specs.values():
        registry.register(spec)
    handlers: dict[EffectType, Any] = {EffectType.LLM_CALL: _llm, EffectType.TOOL_CALLS: _tools}
    handlers.update({t: _memory for t in _MEMORY})
    return Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        workflow_registry=registry,
        effect_handlers=handlers,
        artifact_store=InMemoryArtifactStore(),
    )


def _drive(runtime: Runtime, spec: WorkflowSpec) -> RunState:
    run_id = runtime.start(workflow=spec, vars={"prompt": "hello", "query": "q", "task": "t"}, session_id="s")
    state = runtime.tick(workflow=spec, run_id=run_id, max_steps=300)
    for _ in range(5):
        if (
            state.status != RunStatus.WAITING
            or state.waiting is None
            or state.waiting.reason != WaitReason.USER
        ):
            break
        state = runtime.resume(
            workflow=spec,
            run_id=run_id,
            wait_key=state.waiting.wait_key,
            payload={"response": "/stop"},
            max_steps=300,
        )
    return state


def test_every_example_runs_with_stub_handlers(example_flows: dict[str, Any]) -> None:
    statuses: Counter[str] = Counter()
    for flow_id in sorted(example_flows):
        specs = compile_visualflow_tree(root_id=flow_id, flows_by_id=example_flows)
        state = _drive(_runtime(example_flows, specs), specs[flow_id])
        statuses[state.status.value] += 1
    assert sum(statuses.values()) == 140
    assert statuses["completed"] >= 120, statuses
