"""A step a durable store cannot encode (a ``set`` or an object in vars, an effect payload or result, a
wait or an output) fails the run with ``NotJsonSafeError`` instead of leaving it RUNNING forever.

Every commit path is covered: an effect step with durable intent (payload and result), a kernel effect
without one, a wait, a completion, a terminal effect, pure transitions folded into a later commit, and
the end of the step budget.  The failed state is the last stored one (the bad value is dropped), and the
ledger gets a FAILED record plus the terminal status record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunState, RunStatus, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.models import WaitReason, WaitState
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.storage.ledger_chain import HashChainedLedgerStore, verify_ledger_chain
from abstractruntime.storage.urls import Stores, open_stores

Node = Callable[[RunState, Any], StepPlan]


@pytest.fixture(params=["file", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    url = (tmp_path / "store").as_uri() if request.param == "file" else f"sqlite:///{tmp_path / 'runs.db'}"
    opened = open_stores(url)
    yield opened
    opened.close()


class Host:
    def __init__(self) -> None:
        self.calls = 0

    def llm(self, run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        self.calls += 1
        if effect.payload.get("bad_result"):
            return EffectOutcome.completed({"tags": {"a", "b"}})
        if effect.payload.get("bad_wait"):
            wait = WaitState(reason=WaitReason.EVENT, wait_key="evt:x", details={"seen": {1}})
            return EffectOutcome.waiting(wait)
        return EffectOutcome.completed({"ok": True})


def _start(run: RunState, ctx: Any) -> StepPlan:
    return StepPlan(
        node_id="start", effect=Effect(EffectType.LLM_CALL, {"op": "fine"}, "first"), next_node="bad"
    )


def _run(stores: Stores, bad: Node, *, max_steps: int = 100) -> tuple[RunState, Runtime, Host]:
    host = Host()
    flow = WorkflowSpec(
        "w",
        "start",
        {
            "start": _start,
            "bad": bad,
            "after": lambda r, c: StepPlan("after", next_node="end"),
            "end": lambda r, c: StepPlan("end", complete_output={"done": True}),
        },
    )
    runtime = Runtime(
        run_store=stores.run_store,
        ledger_store=HashChainedLedgerStore(stores.ledger_store),
        effect_handlers={EffectType.LLM_CALL: host.llm},
    )
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id, max_steps=max_steps)
    return state, runtime, host


def _assert_failed(state: RunState, runtime: Runtime, *, node: str, path: str) -> list[dict[str, Any]]:
    assert state.status == RunStatus.FAILED, state
    stored = runtime.get_state(state.run_id)
    assert stored.status == RunStatus.FAILED and stored.error == state.error
    assert stored.error is not None and stored.error.startswith(
        f"NotJsonSafeError: the step at node {node!r} cannot be stored: "
    )
    assert f"'{path}'" in stored.error, stored.error
    assert stored.vars["first"] == {"ok": True}  # the last commit is kept...
    assert "scratch" not in stored.vars  # ...without the step's unstorable change
    ledger = runtime.get_ledger(state.run_id)
    failure, status = ledger[-2:]
    assert failure["status"] == "failed" and failure["error"] == stored.error and failure["node_id"] == node
    assert status["idempotency_key"] == "system:terminal_status:failed"
    assert verify_ledger_chain(ledger)["ok"]
    return ledger


def test_a_set_in_vars_before_an_effect_step(stores: Stores) -> None:
    def bad(run: RunState, ctx: Any) -> StepPlan:
        run.vars["scratch"] = {"when": {1, 2}}
        return StepPlan("bad", effect=Effect(EffectType.ANSWER_USER, {"message": "hi"}), next_node="end")

    state, runtime, _ = _run(stores, bad)
    ledger = _assert_failed(state, runtime, node="bad", path="run.vars.scratch.when")
    assert ledger[-2]["effect"]["type"] == "answer_user"


def test_an_effect_result_that_is_not_json(stores: Stores) -> None:
    def bad(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(
            "bad", effect=Effect(EffectType.LLM_CALL, {"bad_result": True}, "scratch"), next_node="end"
        )

    state, runtime, host = _run(stores, bad)
    ledger = _assert_failed(state, runtime, node="bad", path="run.vars.scratch.tags")
    assert host.calls == 2
    started = [r for r in ledger if r["node_id"] == "bad" and r["status"] == "started"]
    assert len(started) == 1 and started[0]["step_id"] == ledger[-2]["step_id"]  # the intent gets its end


def test_an_effect_payload_that_is_not_json_never_runs(stores: Stores) -> None:
    def bad(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan("bad", effect=Effect(EffectType.LLM_CALL, {"files": {"x"}}), next_node="end")

    state, runtime, host = _run(stores, bad)
    assert host.calls == 1  # only the first node's call: an intent that cannot be recorded is not executed
    assert state.status == RunStatus.FAILED
    assert state.error is not None and "NotJsonSafeError" in state.error and "files" in state.error
    assert verify_ledger_chain(runtime.get_ledger(state.run_id))["ok"]


def test_a_wait_that_is_not_json(stores: Stores) -> None:
    def bad(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan("bad", effect=Effect(EffectType.LLM_CALL, {"bad_wait": True}), next_node="end")

    state, runtime, _ = _run(stores, bad)
    _assert_failed(state, runtime, node="bad", path="run.waiting.details.seen")


def test_a_completion_output_that_is_not_json(stores: Stores) -> None:
    def bad(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan("bad", complete_output={"result": object()})

    state, runtime, _ = _run(stores, bad)
    _assert_failed(state, runtime, node="bad", path="run.output.result")


def test_a_terminal_effect_result_that_is_not_json(stores: Stores) -> None:
    def bad(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan("bad", effect=Effect(EffectType.LLM_CALL, {"bad_result": True}))

    state, runtime, _ = _run(stores, bad)
    _assert_failed(state, runtime, node="bad", path="run.output.result.tags")


def test_pure_transitions_folded_into_the_end_of_the_step_budget(stores: Stores) -> None:
    def bad(run: RunState, ctx: Any) -> StepPlan:
        run.vars["scratch"] = {"client": object()}
        return StepPlan("bad", next_node="after")

    state, runtime, _ = _run(stores, bad, max_steps=3)  # start, bad, after: the budget ends on a pure step
    _assert_failed(state, runtime, node="end", path="run.vars.scratch.client")


def test_pure_transitions_folded_into_a_node_error(stores: Stores) -> None:
    def bad(run: RunState, ctx: Any) -> StepPlan:
        run.vars["scratch"] = {"client": object()}
        return StepPlan("bad", next_node="missing")

    with pytest.raises(KeyError):
        _run(stores, bad)
    runs = stores.run_store.list_runs()  # type: ignore[attr-defined]
    (stored,) = runs
    assert stored.status == RunStatus.FAILED and "NotJsonSafeError" in (stored.error or "")
