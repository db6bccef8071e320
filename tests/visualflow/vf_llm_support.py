"""Drive compiled example flows that call LLMs/tools/agents to completion on SQLite with the test doubles."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from abstractruntime import Runtime
from abstractruntime.core.clock import parse_iso
from abstractruntime.core.models import Effect, EffectType, RunState, RunStatus, WaitReason
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.core.spec import WorkflowSpec
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import open_stores
from abstractruntime.storage.artifacts_memory import InMemoryArtifactStore
from abstractruntime.testing import FakeClock, ScriptedLLM, ScriptedTools, scripted_handlers

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


@dataclass
class FlowHarness:
    """A Runtime on SQLite with scripted LLM/tools and a FakeClock; ``specs`` (agents included) registered."""

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
