"""Contract tests that drive a Runtime over the backend: restarts, reuse, races, timers, events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ...core.models import Effect, EffectType, RunState, RunStatus, StepPlan
from ...core.outcome import EffectOutcome
from ...core.runtime import Runtime
from ...core.spec import RunContext, WorkflowSpec
from ...errors import ConcurrencyError, RunNotWaitingError
from ...storage.ledger_chain import verify_ledger_chain
from ..clock import FakeClock
from .factory import StoreFactory

__all__ = ["RuntimeOnStoreContract"]


def _ask_flow() -> WorkflowSpec:
    def ask(run: RunState, ctx: RunContext) -> StepPlan:
        effect = Effect(EffectType.ASK_USER, {"prompt": "Ship it?"}, result_key="reply")
        return StepPlan(node_id="ask", effect=effect, next_node="done")

    def done(run: RunState, ctx: RunContext) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"shipped": (run.vars.get("reply") or {}).get("ok")})

    return WorkflowSpec(workflow_id="ship", entry_node="ask", nodes={"ask": ask, "done": done})


class _Counter:
    """A host LLM_CALL handler that counts its real executions."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        self.calls += 1
        return EffectOutcome.completed({"content": f"answer {self.calls}"})


class RuntimeOnStoreContract:
    """Subclass and provide a ``store_factory`` fixture (see the package docstring)."""

    def _runtime(self, store_factory: StoreFactory, **kwargs: Any) -> Runtime:
        runs, ledger = store_factory.stores()
        return Runtime(run_store=runs, ledger_store=ledger, **kwargs)

    def test_pause_and_resume_across_a_restart(self, store_factory: StoreFactory) -> None:
        flow = _ask_flow()
        first = self._runtime(store_factory)
        run_id = first.start(workflow=flow)
        state = first.tick(workflow=flow, run_id=run_id)
        assert state.status is RunStatus.WAITING and state.waiting is not None
        wait_key = state.waiting.wait_key
        second = self._runtime(store_factory)
        state = second.resume(workflow=flow, run_id=run_id, wait_key=wait_key, payload={"ok": True})
        assert state.status is RunStatus.COMPLETED and state.output == {"shipped": True}
        statuses = [(r["status"], (r["effect"] or {}).get("type")) for r in second.get_ledger(run_id)]
        assert statuses == [
            ("started", "ask_user"),
            ("waiting", "ask_user"),
            ("completed", "resume"),
            ("completed", None),
            ("completed", "emit_event"),
        ]
        records = second.get_ledger(run_id)
        if any(r.get("record_hash") for r in records):
            assert verify_ledger_chain(records)["ok"] is True

    def test_a_completed_effect_is_reused_not_executed_again(self, store_factory: StoreFactory) -> None:
        counter = _Counter()

        def call(run: RunState, ctx: RunContext) -> StepPlan:
            effect = Effect(EffectType.LLM_CALL, {"prompt": "hello"}, result_key="reply")
            return StepPlan(node_id="call", effect=effect, next_node="again")

        def again(run: RunState, ctx: RunContext) -> StepPlan:
            visits = run.vars.setdefault("visits", 0) + 1
            run.vars["visits"] = visits
            if visits < 3:
                return StepPlan(node_id="again", next_node="call")
            return StepPlan(node_id="again", complete_output={"reply": run.vars["reply"]})

        flow = WorkflowSpec(workflow_id="loop", entry_node="call", nodes={"call": call, "again": again})
        runtime = self._runtime(store_factory, effect_handlers={EffectType.LLM_CALL: counter})
        run_id = runtime.start(workflow=flow)
        state = runtime.tick(workflow=flow, run_id=run_id, max_steps=1)
        assert counter.calls == 1
        restarted = self._runtime(store_factory, effect_handlers={EffectType.LLM_CALL: counter})
        state = restarted.tick(workflow=flow, run_id=run_id)
        assert state.status is RunStatus.COMPLETED
        assert counter.calls == 1
        assert state.output == {"reply": {"content": "answer 1"}}

    def test_two_drivers_resuming_one_wait_exactly_one_wins(self, store_factory: StoreFactory) -> None:
        flow = _ask_flow()
        a = self._runtime(store_factory)
        run_id = a.start(workflow=flow)
        waiting = a.tick(workflow=flow, run_id=run_id)
        assert waiting.waiting is not None
        key = waiting.waiting.wait_key
        b = self._runtime(store_factory)
        if not store_factory.durable:
            pytest.skip("in-memory stores share live objects; the race needs separate copies")
        stale = b.run_store.load_checkpoint(run_id)  # type: ignore[attr-defined]
        a.resume(workflow=flow, run_id=run_id, wait_key=key, payload={"ok": True})
        with pytest.raises(ConcurrencyError):
            b.run_store.commit(  # type: ignore[attr-defined]
                stale.run, [], ledger_store=b.ledger_store, expected_revision=stale.revision
            )
        with pytest.raises(RunNotWaitingError):
            b.resume(workflow=flow, run_id=run_id, wait_key=key, payload={"ok": False})
        assert b.get_state(run_id).output == {"shipped": True}

    def test_due_timers_resume_after_a_restart(self, store_factory: StoreFactory) -> None:
        clock = FakeClock("2026-06-01T12:00:00+00:00")

        def sleep(run: RunState, ctx: RunContext) -> StepPlan:
            until = (clock.now() + timedelta(hours=1)).isoformat()
            return StepPlan(
                node_id="sleep", effect=Effect(EffectType.WAIT_UNTIL, {"until": until}), next_node="end"
            )

        def end(run: RunState, ctx: RunContext) -> StepPlan:
            return StepPlan(node_id="end", complete_output={"woke_at": ctx.now_iso()})

        flow = WorkflowSpec(workflow_id="timer", entry_node="sleep", nodes={"sleep": sleep, "end": end})
        runtime = self._runtime(store_factory, clock=clock)
        run_id = runtime.start(workflow=flow)
        assert runtime.tick(workflow=flow, run_id=run_id).status is RunStatus.WAITING
        clock.advance(minutes=59)
        restarted = self._runtime(store_factory, clock=clock)
        queries = restarted.run_store
        list_due = getattr(queries, "list_due_wait_until", None)
        if callable(list_due):
            assert list_due(now_iso=clock.iso()) == []
        assert restarted.tick(workflow=flow, run_id=run_id).status is RunStatus.WAITING
        clock.advance(minutes=1)
        if callable(list_due):
            assert [r.run_id for r in list_due(now_iso=clock.iso())] == [run_id]
        state = restarted.tick(workflow=flow, run_id=run_id)
        assert state.status is RunStatus.COMPLETED
        assert state.output == {"woke_at": "2026-06-01T13:00:00+00:00"}

    def test_cancel_is_durable(self, store_factory: StoreFactory) -> None:
        flow = _ask_flow()
        runtime = self._runtime(store_factory)
        run_id = runtime.start(workflow=flow)
        runtime.tick(workflow=flow, run_id=run_id)
        runtime.cancel_run(run_id, reason="no longer needed")
        state = self._runtime(store_factory).get_state(run_id)
        assert state.status is RunStatus.CANCELLED and state.error == "no longer needed"
        assert runtime.get_ledger(run_id)[-1]["idempotency_key"] == "system:terminal_status:cancelled"
