"""Durable run budgets (``core/budget.py``, docs/llm.md "Budgets"): a reached cap parks the run in a USER
wait before the LLM_CALL / TOOL_CALLS effect runs; the host raises the budget and resumes, or stops."""

from __future__ import annotations

from pathlib import Path
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
from abstractruntime.core.models import RunState, RunStatus, WaitReason
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.storage.urls import open_stores
from abstractruntime.testing import FakeClock


class Calls:
    """Counting LLM and tool handlers (each LLM call reports 10 input + 5 output tokens)."""

    def __init__(self) -> None:
        self.llm = 0
        self.tools = 0

    def llm_call(self, run: RunState, effect: Effect) -> Any:
        self.llm += 1
        return EffectOutcome.completed(
            {"content": f"answer {self.llm}", "usage": {"input_tokens": 10, "output_tokens": 5}}
        )

    def tool_calls(self, run: RunState, effect: Effect) -> Any:
        calls = effect.payload.get("tool_calls") or []
        self.tools += len(calls)
        return EffectOutcome.completed({"mode": "executed", "results": [{"success": True} for _ in calls]})

    def handlers(self) -> dict[Any, Any]:
        return {EffectType.LLM_CALL: self.llm_call, EffectType.TOOL_CALLS: self.tool_calls}


def loop_flow(kind: str = "llm", rounds: int = 5) -> WorkflowSpec:
    """``rounds`` effect nodes in a row (``n0`` .. ``n<rounds-1>``), then ``done``."""

    def effect_node(i: int) -> Any:
        def node(run: RunState, ctx: Any) -> StepPlan:
            if kind == "llm":
                effect = Effect(EffectType.LLM_CALL, {"prompt": f"step {i}"}, result_key=f"out{i}")
            else:
                calls = [{"name": "t", "arguments": {"i": i}, "call_id": f"c{i}a"}]
                calls.append({"name": "t", "arguments": {"i": i, "j": 1}, "call_id": f"c{i}b"})
                effect = Effect(EffectType.TOOL_CALLS, {"tool_calls": calls}, result_key=f"out{i}")
            nxt = f"n{i + 1}" if i + 1 < rounds else "done"
            return StepPlan(node_id=f"n{i}", effect=effect, next_node=nxt)

        return node

    nodes: dict[str, Any] = {f"n{i}": effect_node(i) for i in range(rounds)}
    nodes["done"] = lambda run, ctx: StepPlan(node_id="done", complete_output={"ok": True})
    return WorkflowSpec(workflow_id=f"budget_{kind}", entry_node="n0", nodes=nodes)


def make_runtime(calls: Calls, clock: FakeClock | None = None, **stores: Any) -> Runtime:
    return Runtime(
        run_store=stores.get("run_store") or InMemoryRunStore(),
        ledger_store=stores.get("ledger_store") or InMemoryLedgerStore(),
        effect_handlers=calls.handlers(),
        clock=clock or FakeClock(),
    )


@pytest.mark.parametrize(
    ("kind", "budget", "parked_at", "which"),
    [
        ("llm", {"max_llm_calls": 2}, "n2", "max_llm_calls: 2/2"),
        ("tool", {"max_tool_calls": 4}, "n2", "max_tool_calls: 4/4"),
        ("llm", {"max_tokens": 30}, "n2", "max_tokens: 30/30"),
    ],
)
def test_each_count_cap_parks_the_run(kind: str, budget: dict[str, Any], parked_at: str, which: str) -> None:
    calls = Calls()
    runtime = make_runtime(calls)
    flow = loop_flow(kind)
    run_id = runtime.start(workflow=flow, budget=budget)
    run = runtime.tick(workflow=flow, run_id=run_id)
    assert run.status == RunStatus.WAITING
    assert run.current_node == parked_at
    assert run.waiting is not None
    assert run.waiting.reason == WaitReason.USER
    assert run.waiting.wait_key == f"budget:{run_id}:{parked_at}"
    assert run.waiting.prompt == f"Budget exhausted ({which}). Raise the budget or stop."
    assert run.waiting.choices == ["raise", "stop"]
    assert run.waiting.details is not None and run.waiting.details["kind"] == "budget"
    assert calls.llm + calls.tools == (4 if kind == "tool" else 2)
    assert f"out{parked_at[1:]}" not in run.vars


def test_wall_time_cap_parks_the_run() -> None:
    calls, clock = Calls(), FakeClock()
    runtime = make_runtime(calls, clock)
    flow = loop_flow("llm")
    run_id = runtime.start(workflow=flow, budget={"max_wall_s": 60})
    run = runtime.tick(workflow=flow, run_id=run_id, max_steps=2)
    assert run.status == RunStatus.RUNNING and calls.llm == 2
    clock.advance(61)
    run = runtime.tick(workflow=flow, run_id=run_id)
    assert run.status == RunStatus.WAITING and calls.llm == 2
    assert run.waiting is not None and run.waiting.details is not None
    assert run.waiting.details["exhausted"] == "max_wall_s"
    assert run.waiting.details["limit"] == 60


def test_raise_then_resume_runs_the_parked_effect_once() -> None:
    calls = Calls()
    runtime = make_runtime(calls)
    flow = loop_flow("llm", rounds=3)
    run_id = runtime.start(workflow=flow, budget={"max_llm_calls": 1})
    run = runtime.tick(workflow=flow, run_id=run_id)
    assert run.waiting is not None
    key = run.waiting.wait_key
    # Resuming without raising parks again on the same wait; the effect does not run.
    run = runtime.resume(workflow=flow, run_id=run_id, wait_key=key, payload={"text": "raise"})
    assert run.status == RunStatus.WAITING and run.waiting is not None and run.waiting.wait_key == key
    assert calls.llm == 1
    runtime.update_budget(run_id, max_llm_calls=2)
    run = runtime.resume(workflow=flow, run_id=run_id, wait_key=key, payload={"text": "raise"})
    assert calls.llm == 2
    assert run.vars["out1"]["content"] == "answer 2"
    assert run.status == RunStatus.WAITING and run.current_node == "n2"
    assert run.vars["_runtime"]["budget_used"] == {"llm_calls": 2, "tool_calls": 0, "tokens": 30}
    runtime.update_budget(run_id, max_llm_calls=None)  # removing the cap lets the run finish
    run = runtime.resume(workflow=flow, run_id=run_id, wait_key=None, payload={"text": "raise"})
    assert run.status == RunStatus.COMPLETED and calls.llm == 3


def test_a_resume_payload_cannot_raise_the_budget() -> None:
    calls = Calls()
    runtime = make_runtime(calls)
    flow = loop_flow("llm", rounds=3)
    run_id = runtime.start(workflow=flow, budget={"max_llm_calls": 1})
    run = runtime.tick(workflow=flow, run_id=run_id)
    payload = {"raise": {"max_llm_calls": 50}}
    run = runtime.resume(workflow=flow, run_id=run_id, wait_key=None, payload=payload)
    assert run.status == RunStatus.WAITING and calls.llm == 1
    assert run.vars["_limits"]["budget"] == {"max_llm_calls": 1}


@pytest.mark.parametrize("payload", [{"text": "stop"}, {"stop": True}, "stop"])
def test_stop_fails_the_run(payload: Any) -> None:
    calls = Calls()
    runtime = make_runtime(calls)
    flow = loop_flow("llm", rounds=3)
    run_id = runtime.start(workflow=flow, budget={"max_llm_calls": 1})
    runtime.tick(workflow=flow, run_id=run_id)
    run = runtime.resume(workflow=flow, run_id=run_id, wait_key=None, payload=payload)
    assert run.status == RunStatus.FAILED
    assert run.error == "Budget exhausted (max_llm_calls: 1/1): stopped by the host"
    assert calls.llm == 1


def test_resume_from_a_new_runtime_over_the_same_sqlite_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    flow = loop_flow("llm", rounds=2)
    first = Calls()
    stores = open_stores(url)
    runtime = make_runtime(first, run_store=stores.run_store, ledger_store=stores.ledger_store)
    run_id = runtime.start(workflow=flow, budget={"max_llm_calls": 1})
    run = runtime.tick(workflow=flow, run_id=run_id)
    assert run.status == RunStatus.WAITING and first.llm == 1
    second = Calls()
    reopened = open_stores(url)
    other = make_runtime(second, run_store=reopened.run_store, ledger_store=reopened.ledger_store)
    other.update_budget(run_id, max_llm_calls=2)
    run = other.resume(
        workflow=flow, run_id=run_id, wait_key=f"budget:{run_id}:n1", payload={"text": "raise"}
    )
    assert run.status == RunStatus.COMPLETED
    assert (first.llm, second.llm) == (1, 1)
    assert run.vars["_runtime"]["budget_used"]["llm_calls"] == 2


def test_a_reused_effect_is_not_blocked() -> None:
    calls = Calls()
    runtime = make_runtime(calls)
    flow = loop_flow("llm", rounds=1)
    run_id = runtime.start(workflow=flow, budget={"max_llm_calls": 1})
    run = runtime.tick(workflow=flow, run_id=run_id, max_steps=1)
    assert calls.llm == 1 and run.current_node == "done"
    # Re-enter the completed node (as after a crash before the next commit): its result is reused.
    work = runtime.run_store.load(run_id)
    assert work is not None
    work.current_node = "n0"
    runtime.run_store.save(work)
    run = runtime.tick(workflow=flow, run_id=run_id)
    assert run.status == RunStatus.COMPLETED and calls.llm == 1
    assert run.vars["_runtime"]["budget_used"]["llm_calls"] == 1


def test_a_run_without_budget_is_unchanged() -> None:
    calls = Calls()
    runtime = make_runtime(calls)
    flow = loop_flow("tool", rounds=3)
    run_id = runtime.start(workflow=flow)
    run = runtime.tick(workflow=flow, run_id=run_id)
    assert run.status == RunStatus.COMPLETED and calls.tools == 6
    assert "budget_used" not in run.vars["_runtime"]
    assert "budget" not in run.vars["_limits"]


def test_budget_given_in_vars_and_caps_validated() -> None:
    calls = Calls()
    runtime = make_runtime(calls)
    flow = loop_flow("llm", rounds=2)
    run_id = runtime.start(workflow=flow, vars={"_limits": {"budget": {"max_llm_calls": 1}}})
    assert runtime.tick(workflow=flow, run_id=run_id).status == RunStatus.WAITING
    with pytest.raises(ValueError, match="unknown budget cap"):
        runtime.start(workflow=flow, budget={"max_dollars": 3})
    with pytest.raises(ValueError, match="positive number"):
        runtime.update_budget(run_id, max_llm_calls=0)
    seeded = runtime.get_state(runtime.start(workflow=flow, budget={"max_tokens": 100}))
    assert seeded.vars["_limits"]["max_iterations"] == runtime.config.max_iterations
    assert seeded.vars["_limits"]["budget"] == {"max_tokens": 100}


def test_scheduled_runtime_start_takes_a_budget() -> None:
    from abstractruntime.scheduler import create_scheduled_runtime

    calls = Calls()
    flow = loop_flow("llm", rounds=2)
    scheduled = create_scheduled_runtime(effect_handlers=calls.handlers(), auto_start=False)
    run_id = scheduled.start(workflow=flow, budget={"max_llm_calls": 1})
    run = scheduled.tick(run_id)
    assert run.status == RunStatus.WAITING and calls.llm == 1
    run = scheduled.respond(run_id, {"stop": True})
    assert run.status == RunStatus.FAILED and calls.llm == 1
