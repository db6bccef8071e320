"""Support code for the VisualFlow compiler tests: example flows, a numbered ScriptedLLM, a runtime factory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from abstractruntime import Runtime
from abstractruntime.core.models import EffectType
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.testing import ScriptedLLM

EXAMPLES_DIR = Path("/work/shared/flows/abstractflow-examples")


def load_examples() -> dict[str, dict[str, Any]]:
    flows: dict[str, dict[str, Any]] = {}
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        flows[str(data["id"])] = data
    return flows


def numbered_llm() -> ScriptedLLM:
    """A :class:`ScriptedLLM` answering ``reply <n>`` for its n-th call."""
    llm: ScriptedLLM

    def respond(payload: dict[str, Any]) -> str:
        return f"reply {len(llm.calls)}"

    llm = ScriptedLLM(responder=respond)
    return llm


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
