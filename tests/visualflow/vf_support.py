"""Support code for the VisualFlow compiler tests: example flows, a scripted LLM, a runtime factory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from abstractruntime import Runtime
from abstractruntime.core.models import EffectType
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore

EXAMPLES_DIR = Path("/work/shared/flows/abstractflow-examples")


def load_examples() -> dict[str, dict[str, Any]]:
    flows: dict[str, dict[str, Any]] = {}
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        flows[str(data["id"])] = data
    return flows


class ScriptedLLM:
    """An LLM_CALL handler answering ``reply <n>`` and recording the payloads it saw."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, run: Any, effect: Any, default_next_node: Any) -> EffectOutcome:
        self.payloads.append(dict(effect.payload))
        content = f"reply {len(self.payloads)}"
        return EffectOutcome.completed(
            {"content": content, "data": None, "tool_calls": None, "model": "scripted"}
        )


def make_runtime(
    specs: dict[str, Any], *, llm: ScriptedLLM | None = None, stores: tuple[Any, Any] | None = None
) -> Runtime:
    registry = WorkflowRegistry()
    for spec in specs.values():
        registry.register(spec)
    run_store, ledger_store = stores or (InMemoryRunStore(), InMemoryLedgerStore())
    handlers = {EffectType.LLM_CALL: llm} if llm is not None else None
    return Runtime(
        run_store=run_store, ledger_store=ledger_store, workflow_registry=registry, effect_handlers=handlers
    )
