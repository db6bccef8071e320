"""Contract tests for the resume commit (``core/engine/resume.py``): a plain resume is written with
the step it unblocks, yet every guarantee of a commit per step holds.

* the resume and the effect-free nodes after it are stored together, resume record first;
* before an effect runs, the resume is already stored (the effect handler sees it);
* a node that raises after the resume: the resume is stored, the run RUNNING at that node;
* a pause that lands before the commit: ``ConcurrencyError``, nothing of the resume stored; a cancel
  wins and its state is returned;
* a node that puts an unstorable value in vars after the resume: the resume is stored on its own and
  the run fails from it (durable backends only: in-memory stores accept any value).
"""

from __future__ import annotations

from typing import Any

import pytest

from ...core.models import Effect, EffectType, RunState, RunStatus, StepPlan
from ...core.outcome import EffectOutcome
from ...core.runtime import Runtime
from ...core.spec import RunContext, WorkflowSpec
from ...errors import ConcurrencyError
from .factory import StoreFactory

__all__ = ["ResumeCommitContract"]

Node = Any


def _flow(after: Node, *, event: bool = False) -> WorkflowSpec:
    """ask (ASK_USER, or WAIT_EVENT ``go`` with ``event``; → ``answer``) → ``after`` → end (completes
    with the answer).  A pause applies to an event wait, not to a question to the user (SPEC §4.7)."""

    def ask(run: RunState, ctx: RunContext) -> StepPlan:
        if event:
            effect = Effect(EffectType.WAIT_EVENT, {"name": "go"}, result_key="answer")
        else:
            effect = Effect(EffectType.ASK_USER, {"prompt": "go?"}, result_key="answer")
        return StepPlan(node_id="ask", effect=effect, next_node="after")

    def end(run: RunState, ctx: RunContext) -> StepPlan:
        return StepPlan(node_id="end", complete_output={"answer": run.vars.get("answer")})

    return WorkflowSpec(
        workflow_id="resumes", entry_node="ask", nodes={"ask": ask, "after": after, "end": end}
    )


def _pass_through(run: RunState, ctx: RunContext) -> StepPlan:
    run.vars["visited"] = True
    return StepPlan(node_id="after", next_node="end")


def _kinds(runtime: Runtime, run_id: str) -> list[tuple[str, str | None]]:
    return [(r["status"], (r.get("effect") or {}).get("type")) for r in runtime.get_ledger(run_id)]


class ResumeCommitContract:
    """Subclass and provide a ``store_factory`` fixture (see the package docstring)."""

    def _parked(
        self, store_factory: StoreFactory, flow: WorkflowSpec, **kwargs: Any
    ) -> tuple[Runtime, str, str]:
        runs, ledger = store_factory.stores()
        runtime = Runtime(run_store=runs, ledger_store=ledger, **kwargs)
        run_id = runtime.start(workflow=flow)
        waiting = runtime.tick(workflow=flow, run_id=run_id)
        assert waiting.status is RunStatus.WAITING and waiting.waiting is not None
        return runtime, run_id, str(waiting.waiting.wait_key)

    def test_resume_and_the_nodes_it_unblocks_are_stored_in_order(self, store_factory: StoreFactory) -> None:
        flow = _flow(_pass_through)
        runtime, run_id, key = self._parked(store_factory, flow)
        state = runtime.resume(workflow=flow, run_id=run_id, wait_key=key, payload={"ok": 1})
        assert state.status is RunStatus.COMPLETED and state.output == {"answer": {"ok": 1}}
        runs, ledger = store_factory.stores()  # a restart: what is stored, not what is in memory
        stored = Runtime(run_store=runs, ledger_store=ledger).get_state(run_id)
        assert stored.status is RunStatus.COMPLETED and stored.vars["visited"] is True
        assert _kinds(runtime, run_id) == [
            ("started", "ask_user"),
            ("waiting", "ask_user"),
            ("completed", "resume"),
            ("completed", None),
            ("completed", "emit_event"),
        ]

    def test_an_effect_after_the_resume_sees_it_stored(self, store_factory: StoreFactory) -> None:
        seen: list[tuple[RunStatus, list[tuple[str, str | None]]]] = []
        holder: dict[str, Runtime] = {}

        def llm(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
            runs, ledger = store_factory.stores()
            reader = Runtime(run_store=runs, ledger_store=ledger)
            seen.append((reader.get_state(run.run_id).status, _kinds(holder["rt"], run.run_id)))
            return EffectOutcome.completed({"content": "ok"})

        def call(run: RunState, ctx: RunContext) -> StepPlan:
            return StepPlan(
                "after", effect=Effect(EffectType.LLM_CALL, {"prompt": "p"}, "reply"), next_node="end"
            )

        flow = _flow(call)
        runtime, run_id, key = self._parked(store_factory, flow, effect_handlers={EffectType.LLM_CALL: llm})
        holder["rt"] = runtime
        state = runtime.resume(workflow=flow, run_id=run_id, wait_key=key, payload={"ok": 2})
        assert state.status is RunStatus.COMPLETED
        ((status, kinds),) = seen
        assert status is RunStatus.RUNNING
        assert ("completed", "resume") in kinds and ("started", "llm_call") in kinds
        assert kinds.index(("completed", "resume")) < kinds.index(("started", "llm_call"))

    def test_a_node_raising_after_the_resume_leaves_it_stored(self, store_factory: StoreFactory) -> None:
        def boom(run: RunState, ctx: RunContext) -> StepPlan:
            raise RuntimeError("node failed")

        flow = _flow(boom)
        runtime, run_id, key = self._parked(store_factory, flow)
        with pytest.raises(RuntimeError, match="node failed"):
            runtime.resume(workflow=flow, run_id=run_id, wait_key=key, payload={"ok": 3})
        runs, ledger = store_factory.stores()
        stored = Runtime(run_store=runs, ledger_store=ledger).get_state(run_id)
        assert stored.status is RunStatus.RUNNING and stored.current_node == "after"
        assert stored.vars["answer"] == {"ok": 3}
        assert _kinds(runtime, run_id)[-1] == ("completed", "resume")

    def _operator_first(self, store_factory: StoreFactory, action: str) -> tuple[Runtime, str, Any]:
        """Park a run on an event; resume it while its next node has another runtime (an operator)
        ``pause_run`` or ``cancel_run`` it first.  Returns the runtime, the run id and what ``resume``
        returned (or the exception it raised)."""
        if not store_factory.durable:
            pytest.skip(f"in-memory stores share live objects: the {action} edits the resumed copy itself")

        def operator_first(run: RunState, ctx: RunContext) -> StepPlan:
            runs, ledger = store_factory.stores()
            operator = Runtime(run_store=runs, ledger_store=ledger)
            getattr(operator, f"{action}_run")(run.run_id, reason="operator")
            return StepPlan(node_id="after", next_node="end")

        flow = _flow(operator_first, event=True)
        runtime, run_id, key = self._parked(store_factory, flow)
        try:
            return (
                runtime,
                run_id,
                runtime.resume(workflow=flow, run_id=run_id, wait_key=key, payload={"ok": 4}),
            )
        except ConcurrencyError as exc:
            return runtime, run_id, exc

    def test_a_pause_landing_first_refuses_the_resume(self, store_factory: StoreFactory) -> None:
        runtime, run_id, outcome = self._operator_first(store_factory, "pause")
        assert isinstance(outcome, ConcurrencyError)
        stored = runtime.get_state(run_id)
        assert stored.status is RunStatus.WAITING and "answer" not in stored.vars
        assert stored.vars["_runtime"]["control"]["paused"] is True
        assert ("completed", "resume") not in _kinds(runtime, run_id)

    def test_a_cancel_landing_first_wins(self, store_factory: StoreFactory) -> None:
        runtime, run_id, outcome = self._operator_first(store_factory, "cancel")
        assert isinstance(outcome, RunState) and outcome.status is RunStatus.CANCELLED
        assert runtime.get_state(run_id).status is RunStatus.CANCELLED
        assert ("completed", "resume") not in _kinds(runtime, run_id)

    def test_an_unstorable_node_after_the_resume_fails_the_run_from_the_resume(
        self, store_factory: StoreFactory
    ) -> None:
        if not store_factory.durable:
            pytest.skip("in-memory stores accept any value (SPEC §2.3)")

        def unstorable(run: RunState, ctx: RunContext) -> StepPlan:
            run.vars["scratch"] = {"when": {1, 2}}
            return StepPlan(node_id="after", next_node="end")

        flow = _flow(unstorable)
        runtime, run_id, key = self._parked(store_factory, flow)
        state = runtime.resume(workflow=flow, run_id=run_id, wait_key=key, payload={"ok": 6})
        assert state.status is RunStatus.FAILED
        assert state.error is not None and state.error.startswith("NotJsonSafeError")
        stored = runtime.get_state(run_id)
        assert stored.status is RunStatus.FAILED and stored.vars["answer"] == {"ok": 6}
        assert "scratch" not in stored.vars
        kinds = _kinds(runtime, run_id)
        assert kinds[2] == ("completed", "resume") and kinds[-2][0] == "failed"
