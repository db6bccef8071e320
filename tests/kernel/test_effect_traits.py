"""Effect traits (``core/effects/registry.py``, docs/concepts.md "Effect traits"): the engine reads a
type's traits, never its name, so a host effect type declared with ``durable_intent``,
``in_doubt_aware`` and a budget counter gets intent records, in-doubt marking and budget accounting
exactly like TOOL_CALLS / LLM_CALL do, with no engine change.  MODEL_RESIDENCY stands in for the custom
type: the kernel declares no traits for it."""

from __future__ import annotations

from typing import Any

import pytest

from abstractruntime import (
    Effect,
    EffectType,
    InMemoryLedgerStore,
    InMemoryRunStore,
    Runtime,
    StepPlan,
    WorkflowSpec,
)
from abstractruntime.core.effects import EffectRegistry, EffectTraits
from abstractruntime.core.engine.tool_calls import IN_DOUBT_KEY
from abstractruntime.core.models import RunState, RunStatus, StepRecord, WaitReason
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.core.policy import compute_idempotency_key

CUSTOM = EffectType.MODEL_RESIDENCY


def gpu_seconds(payload: Any, result: Any) -> dict[str, int]:
    """Budget counter of the custom type: one "llm call" and the result's token count per step."""
    return {"llm_calls": 1, "tokens": int(result.get("tokens", 0))}


TRAITS = EffectTraits(
    durable_intent=True, in_doubt_aware=True, counts_before_run=True, budget_counter=gpu_seconds
)


class Loader:
    """A host handler that records, at each call, its payload and the ledger records of its key."""

    def __init__(self, ledger: InMemoryLedgerStore) -> None:
        self.ledger = ledger
        self.payloads: list[dict[str, Any]] = []
        self.seen_started: list[bool] = []

    def __call__(self, run: RunState, effect: Effect) -> EffectOutcome:
        self.payloads.append(dict(effect.payload))
        records = self.ledger.list(run.run_id)
        self.seen_started.append(any(r.get("status") == "started" for r in records))
        return EffectOutcome.completed({"loaded": effect.payload["model"], "tokens": 7})


def flow(rounds: int = 2, **extra: Any) -> WorkflowSpec:
    def node(i: int) -> Any:
        def run_node(run: RunState, ctx: Any) -> StepPlan:
            effect = Effect(CUSTOM, {"model": f"m{i}", **extra}, result_key=f"out{i}")
            return StepPlan(
                node_id=f"n{i}", effect=effect, next_node=f"n{i + 1}" if i + 1 < rounds else "done"
            )

        return run_node

    def done(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"ok": True})

    nodes = {f"n{i}": node(i) for i in range(rounds)}
    return WorkflowSpec(workflow_id="custom", entry_node="n0", nodes={**nodes, "done": done})


def make_runtime(traits: EffectTraits | None = TRAITS) -> tuple[Runtime, Loader]:
    ledger = InMemoryLedgerStore()
    loader = Loader(ledger)
    rt = Runtime(run_store=InMemoryRunStore(), ledger_store=ledger)
    rt.register_effect_handler(CUSTOM, loader, traits=traits)
    return rt, loader


def test_custom_type_gets_a_durable_intent_and_budget_accounting() -> None:
    rt, loader = make_runtime()
    wf = flow(rounds=3)
    run_id = rt.start(workflow=wf, budget={"max_llm_calls": 2})
    state = rt.tick(workflow=wf, run_id=run_id)
    assert loader.seen_started == [True, True]  # the STARTED intent was stored before each call
    assert state.status == RunStatus.WAITING and state.waiting is not None
    wait = state.waiting
    assert wait.reason == WaitReason.USER and wait.wait_key == f"budget:{run_id}:n2"
    assert (wait.details or {})["effect_type"] == CUSTOM.value
    assert state.vars["_runtime"]["budget_used"] == {"llm_calls": 2, "tool_calls": 0, "tokens": 14}
    assert [p["model"] for p in loader.payloads] == ["m0", "m1"]  # the third step never ran


def test_custom_type_without_traits_is_neither_gated_nor_counted() -> None:
    rt, loader = make_runtime(traits=None)
    wf = flow(rounds=3)
    run_id = rt.start(workflow=wf, budget={"max_llm_calls": 1})
    state = rt.tick(workflow=wf, run_id=run_id)
    assert state.status == RunStatus.COMPLETED
    assert len(loader.payloads) == 3
    assert "budget_used" not in state.vars.get("_runtime", {})
    assert loader.seen_started[0] is True  # host handlers keep the durable intent by default


def crashed(rt: Runtime, wf: WorkflowSpec, ledger: InMemoryLedgerStore) -> tuple[str, StepRecord]:
    """A run whose first step has the STARTED intent a driver killed inside the handler left behind."""
    run_id = rt.start(workflow=wf)
    run = rt.get_state(run_id)
    effect = wf.nodes["n0"](run, None).effect
    assert effect is not None
    key = compute_idempotency_key(run_id=run_id, node_id="n0", effect=effect)
    intent = StepRecord.start(run=run, node_id="n0", effect=effect, attempt=1, idempotency_key=key)
    ledger.append(intent)
    return run_id, intent


def test_custom_in_doubt_aware_type_gets_the_marker_of_the_open_intent() -> None:
    rt, loader = make_runtime()
    wf = flow(rounds=1)
    run_id, intent = crashed(rt, wf, loader.ledger)
    assert rt.tick(workflow=wf, run_id=run_id).status == RunStatus.COMPLETED
    marker = loader.payloads[0][IN_DOUBT_KEY]
    assert marker == {"started_at": intent.started_at, "attempt": 1, "step_id": intent.step_id}


def test_a_flow_cannot_forge_the_in_doubt_marker_and_types_without_the_trait_get_none() -> None:
    rt, loader = make_runtime()
    wf = flow(rounds=1, **{IN_DOUBT_KEY: {"step_id": "forged"}})
    assert rt.tick(workflow=wf, run_id=rt.start(workflow=wf)).status == RunStatus.COMPLETED
    assert IN_DOUBT_KEY not in loader.payloads[0]

    plain, plain_loader = make_runtime(traits=EffectTraits())
    wf = flow(rounds=1)
    run_id, _ = crashed(plain, wf, plain_loader.ledger)
    assert plain.tick(workflow=wf, run_id=run_id).status == RunStatus.COMPLETED
    assert IN_DOUBT_KEY not in plain_loader.payloads[0]


def test_registry_keeps_declared_traits_for_later_handlers_and_rejects_bad_ones() -> None:
    registry = EffectRegistry()
    registry.declare(CUSTOM, TRAITS)
    registry.register(CUSTOM.value, lambda run, effect: EffectOutcome.completed(None))
    entry, traits = registry.lookup(CUSTOM)
    assert entry is not None and traits is TRAITS and registry.traits("model_residency") is TRAITS
    registry.register(CUSTOM, lambda run, effect: EffectOutcome.completed(None), durable_intent=False)
    assert registry.traits(CUSTOM).durable_intent is False
    assert registry.traits(CUSTOM).budget_counter is gpu_seconds
    assert registry.lookup("no_such_effect") == (None, EffectTraits())
    with pytest.raises(TypeError):
        registry.declare(CUSTOM, {"durable_intent": True})  # type: ignore[arg-type]


def test_builtin_registrations_declare_the_model_effect_traits() -> None:
    rt = Runtime(run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore())
    registry = rt._handlers
    llm, tools = registry.traits(EffectType.LLM_CALL), registry.traits(EffectType.TOOL_CALLS)
    assert llm.counts_before_run and llm.budget_counter is not None and not llm.in_doubt_aware
    assert tools.in_doubt_aware and tools.evidence and tools.complete_on_resume
    assert registry.traits(EffectType.ASK_USER).durable_intent is False
