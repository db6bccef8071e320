"""Drive compiled example flows that call LLMs/tools/agents to completion on SQLite with the test doubles."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from abstractruntime import Runtime
from abstractruntime.core.clock import parse_iso
from abstractruntime.core.models import Effect, EffectType, RunState, RunStatus, StepPlan, WaitReason
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.core.spec import RunContext, WorkflowSpec
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import open_stores
from abstractruntime.storage.artifacts_memory import InMemoryArtifactStore
from abstractruntime.testing import FakeClock, ScriptedLLM, ScriptedTools, scripted_handlers
from abstractruntime.visualflow_compiler.nodes.subflows import agent_workflow_id

LLM_NODE_TYPES = frozenset({"llm_call", "agent", "tool_calls", "call_tool"})
# One answer ends every chat loop in the examples: first word "stop" (basic-followup), contains "/q"
# (basic-react-test-chat).
USER_ANSWER = "stop /q"
_KG_EFFECTS = (EffectType.MEMORY_KG_ASSERT, EffectType.MEMORY_KG_QUERY, EffectType.MEMORY_KG_RESOLVE)


def kg_stub(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    """MEMORY_KG_* have no built-in handler: answer with an empty, successful tool-shaped result."""
    result: dict[str, Any] = {
        "call_id": "kg",
        "name": effect.type.value,
        "success": True,
        "output": [],
        "error": None,
    }
    return EffectOutcome.completed(
        {"mode": "executed", "results": [result], "items": [], "count": 0, "ok": True}
    )


def uses_llm(flow: dict[str, Any]) -> bool:
    return any(node.get("type") in LLM_NODE_TYPES for node in flow.get("nodes", []))


def react_agent_spec(workflow_id: str) -> WorkflowSpec:
    """A two-node stand-in for the ReAct agent: one LLM_CALL on the task, then complete."""

    def think(run: RunState, ctx: RunContext) -> StepPlan:
        context = run.vars.get("context")
        task = run.vars.get("task") or (context.get("task") if isinstance(context, dict) else None) or ""
        payload = {"prompt": str(task), "system_prompt": "react agent"}
        effect = Effect(type=EffectType.LLM_CALL, payload=payload, result_key="_temp.react_llm")
        return StepPlan(node_id="think", effect=effect, next_node="answer")

    def answer(run: RunState, ctx: RunContext) -> StepPlan:
        temp = run.vars.get("_temp")
        llm = temp.get("react_llm") if isinstance(temp, dict) else None
        content = llm.get("content") if isinstance(llm, dict) else ""
        output = {"result": content, "answer": content, "scratchpad": {"steps": 1}, "success": True}
        return StepPlan(node_id="answer", complete_output=output)

    return WorkflowSpec(workflow_id=workflow_id, entry_node="think", nodes={"think": think, "answer": answer})


@dataclass
class FlowHarness:
    """A Runtime on SQLite with scripted LLM/tools, a FakeClock, and fake ReAct agents registered."""

    flows: dict[str, dict[str, Any]]
    specs: dict[str, WorkflowSpec]
    db_path: Path
    llm: ScriptedLLM = field(default_factory=ScriptedLLM)
    tools: ScriptedTools = field(default_factory=lambda: ScriptedTools(default="ok"))
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.registry = WorkflowRegistry()
        for spec in self.specs.values():
            self.registry.register(spec)
        for flow_id in self.specs:
            for node in self.flows.get(flow_id, {}).get("nodes", []):
                target = agent_workflow_id(flow_id, node["id"])
                if node.get("type") == "agent" and self.registry.get(target) is None:
                    self.registry.register(react_agent_spec(target))
        self.stores = open_stores(f"sqlite:///{self.db_path}")
        self.runtime = Runtime(
            run_store=self.stores.run_store,
            ledger_store=self.stores.ledger_store,
            workflow_registry=self.registry,
            effect_handlers={
                **scripted_handlers(self.llm, self.tools),
                **dict.fromkeys(_KG_EFFECTS, kg_stub),
            },
            artifact_store=InMemoryArtifactStore(),
            clock=self.clock,
        )
        self.user_prompts: list[str | None] = []

    def close(self) -> None:
        self.stores.close()

    def spec_of(self, run: RunState) -> WorkflowSpec:
        spec = self.registry.get(run.workflow_id)
        assert spec is not None, run.workflow_id
        return spec

    def run(self, flow_id: str, vars: dict[str, Any], *, max_rounds: int = 40) -> RunState:
        """Start ``flow_id`` and drive it (answers, timers, child runs) until it leaves WAITING."""
        spec = self.specs[flow_id]
        run_id = self.runtime.start(workflow=spec, vars=vars, session_id="s1")
        state = self.runtime.tick(workflow=spec, run_id=run_id, max_steps=400)
        for _ in range(max_rounds):
            if state.status != RunStatus.WAITING:
                break
            if not self._advance(state):
                break
            state = self.runtime.get_state(run_id)
        return state

    def _advance(self, root: RunState) -> bool:
        """Unblock the deepest waiting run under ``root``; False when nothing could be done."""
        chain = [root]
        while True:
            wait = chain[-1].waiting
            child_id = (wait.details or {}).get("sub_run_id") if wait is not None else None
            if wait is None or wait.reason != WaitReason.SUBWORKFLOW or not isinstance(child_id, str):
                break
            chain.append(self.runtime.get_state(child_id))
            if chain[-1].status != RunStatus.WAITING:
                break
        leaf = chain[-1]
        if leaf.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED) and len(chain) > 1:
            parent = chain[-2]
            assert parent.waiting is not None
            if leaf.status == RunStatus.COMPLETED:
                payload: dict[str, Any] = {"sub_run_id": leaf.run_id, "output": leaf.output}
            else:
                payload = {"sub_run_id": leaf.run_id, "output": {"success": False, "error": leaf.error}}
            self.runtime.resume(
                workflow=self.spec_of(parent),
                run_id=parent.run_id,
                wait_key=parent.waiting.wait_key,
                payload=payload,
                max_steps=400,
            )
            return True
        if leaf.status == RunStatus.RUNNING:
            self.runtime.tick(workflow=self.spec_of(leaf), run_id=leaf.run_id, max_steps=400)
            return True
        wait = leaf.waiting
        if leaf.status != RunStatus.WAITING or wait is None:
            return False
        if wait.reason == WaitReason.USER:
            self.user_prompts.append(wait.prompt)
            answer = wait.choices[0] if wait.choices else USER_ANSWER
            self.runtime.resume(
                workflow=self.spec_of(leaf),
                run_id=leaf.run_id,
                wait_key=wait.wait_key,
                payload={"response": answer},
                max_steps=400,
            )
            return True
        if wait.reason == WaitReason.UNTIL and wait.until:
            delta = parse_iso(wait.until) - self.clock.now()
            self.clock.advance(max(delta, timedelta(0)).total_seconds() + 1)
            self.runtime.tick(workflow=self.spec_of(leaf), run_id=leaf.run_id, max_steps=400)
            return True
        return False


def load_flows(directory: Path) -> dict[str, dict[str, Any]]:
    flows: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        flows[str(data["id"])] = data
    return flows
