"""The step loop behind ``Runtime.tick`` (SPEC §4.3): load, call the node, follow its plan, commit.

One iteration is one step.  Pure transitions (a plan with only ``next_node``) write nothing: they are
recomputed from the last checkpoint after a crash, so they fold into the next commit — an effect
step, a wait, completion, failure, a node error, or the end of the step budget.  Every effect step
commits exactly once: its ledger records and the new state together.

External control (SPEC §4.3 a): before each node handler is called, after each effect ran, and
before a completion is applied, the loop peeks at the stored revision.  If another writer paused or
cancelled the run meanwhile, the loop returns that persisted state without writing anything.

Effect types are known only by their traits (``core/effects/registry.py``), carried by the step.
Evidence (SPEC §4.3 e.6): a completed, non-reused step whose type has the ``evidence`` trait
(TOOL_CALLS) is handed to the optional
:data:`EvidenceCapture` hook before its trace is recorded and before the step commits, so the
evidence span lands in the same commit.  The hook edits the tool results in place (vars and trace);
the step's ledger record keeps a copy of what the handler returned.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ...errors import HostOwnedVarError, InvalidStepPlanError
from ..budget import record_budget_usage
from ..clock import Clock, parse_iso
from ..logs import LazyLogger
from ..models import RunState, RunStatus, StepPlan, StepRecord, WaitReason
from ..spec import RunContext, WorkflowSpec
from ..vars import get_temp, set_vars_path
from .effect_step import EffectExecutor, EffectStepResult, iso_now
from .records import completion_record, status_record
from .store_access import StoreAccess, WorkingRun, is_paused
from .tool_calls import remember_pending_tool_calls
from .traces import record_node_trace

__all__ = ["EvidenceCapture", "StepLoop"]

_log = LazyLogger("abstractruntime.engine")

EvidenceCapture = Callable[[RunState, str, list[Any], dict[str, Any]], None]
"""``capture(run, node_id, tool_calls, tool_result)``: records evidence for a tool batch, editing
``tool_result`` (``{"mode", "results": [...]}``) and ``run.vars`` in place; must not raise."""


class StepLoop:
    """Advances runs step by step.

    Args:
        access: storage door.
        executor: runs effect steps.
        clock: time source for timestamps and UNTIL deadlines.
        context: zero-argument callable returning the RunContext handed to every node.
        evidence: zero-argument callable returning the evidence hook, or None when evidence is off
            (no artifact store); omitted means off.
    """

    def __init__(
        self,
        *,
        access: StoreAccess,
        executor: EffectExecutor,
        clock: Clock,
        context: Callable[[], RunContext],
        evidence: Callable[[], EvidenceCapture | None] | None = None,
    ) -> None:
        self._access = access
        self._executor = executor
        self._clock = clock
        self._context = context
        self._evidence = evidence

    def tick(self, workflow: WorkflowSpec, run_id: str, max_steps: int) -> RunState:
        """Load ``run_id`` and advance it by at most ``max_steps`` steps (see :meth:`advance`)."""
        return self.advance(workflow, self._access.load(run_id), max_steps)

    def load(self, run_id: str) -> WorkingRun:
        """A working copy of ``run_id`` for :meth:`advance` (with its revision).

        Raises:
            RunNotFoundError (KeyError): no such run.
        """
        return self._access.load(run_id)

    def advance(self, workflow: WorkflowSpec, work: WorkingRun, max_steps: int) -> RunState:
        """Advance a loaded run until it waits, ends, or ``max_steps`` steps were taken.

        Raises:
            Exception: whatever a node handler raises, and UnknownNodeError / InvalidStepPlanError;
                progress made before the failing node is committed first and the run stays RUNNING.
            ConcurrencyError: another writer advanced the run meanwhile.
        """
        run = work.run
        if run.is_terminal or is_paused(run):
            return run
        dirty = bool(work.pending)  # a resume's records ride with the next commit (resume.py)
        if run.status == RunStatus.WAITING:
            if not self._until_due(run):
                return run
            run.status = RunStatus.RUNNING
            if run.waiting is not None and run.waiting.resume_to_node:
                run.current_node = run.waiting.resume_to_node
            run.waiting = None
            self._touch(run)
            dirty = True
        steps = 0
        ctx = self._context()
        while steps < max_steps:
            steps += 1
            persisted = self._access.interrupted(work)
            if persisted is not None:
                return persisted
            node_id = run.current_node
            try:
                plan = workflow.get_node(node_id)(run, ctx)
            except HostOwnedVarError as exc:
                return self._refuse_host_write(work, node_id, exc)
            except BaseException:
                if dirty:
                    self._access.commit_unless_interrupted(work, ())
                raise
            if plan.complete_output is not None:
                return self._complete(work, plan)
            if plan.effect is None:
                if not plan.next_node:
                    if dirty:
                        self._access.commit_unless_interrupted(work, ())
                    raise InvalidStepPlanError(
                        f"Node '{plan.node_id}' returned no effect and no next_node",
                        node_id=plan.node_id,
                        run_id=run.run_id,
                    )
                self._transition(run, plan.node_id, plan.next_node)
                dirty = True
                continue
            finished = self._effect_step(work, plan)
            if finished is not None:
                return finished
            dirty = False
        if dirty:
            persisted = self._access.commit_unless_interrupted(work, ())
            if persisted is not None:
                return persisted
        return run

    # -- one effect step -------------------------------------------------------------------------
    def _effect_step(self, work: WorkingRun, plan: StepPlan) -> RunState | None:
        """Execute the plan's effect and commit; returns the run when the loop must stop."""
        run = work.run
        effect = plan.effect
        assert effect is not None
        if work.pending:  # an effect may act outside the run: what led to it is committed first
            persisted = self._access.flush_pending(work)
            if persisted is not None:
                return persisted
        step = self._executor.execute(run, plan)
        traits = step.traits
        if traits.evidence or traits.on_completed is not None or not self._access.defers_commits:
            # Hooks act before the commit: a run paused or cancelled during the effect skips them.
            # Otherwise the commit's revision check sees the same change (and answers the same way).
            persisted = self._access.interrupted(work)
            if persisted is not None:
                return persisted
        outcome = step.outcome
        status = outcome.status
        if traits.evidence:
            self._capture_evidence(run, plan, step)
        now = step.ended_at or self._now()  # one timestamp for the trace entry and updated_at
        self._trace(run, plan, step, now)
        records = step.records
        if status == "completed":
            if traits.on_completed is not None:
                traits.on_completed(run, outcome.result)
            if not step.reused:
                record_budget_usage(run, traits.budget_counter, step.effect.payload, outcome.result)
        elif status == "failed":
            run.status = RunStatus.FAILED
            run.error = outcome.error
            run.updated_at = now
            records.append(status_record(run, node_id=plan.node_id, status="failed", now=now))
            return self._commit_final(work, records)
        elif outcome.wait is not None:
            self._remember_transition(run, plan.node_id, outcome.wait.resume_to_node)
            if traits.complete_on_resume and records:
                remember_pending_tool_calls(
                    run,
                    node_id=plan.node_id,
                    effect=step.effect.to_dict(),
                    idempotency_key=step.idempotency_key,
                    attempt=records[-1].attempt,
                )
            run.status = RunStatus.WAITING
            run.waiting = outcome.wait
            run.updated_at = now
            return self._commit_final(work, records)
        if effect.result_key and outcome.result is not None:
            set_vars_path(run.vars, effect.result_key, outcome.result)
        if not plan.next_node:
            run.status = RunStatus.COMPLETED
            run.output = {"success": True, "result": outcome.result}
            run.updated_at = now
            records.append(status_record(run, node_id=plan.node_id, status="completed", now=now))
            return self._commit_final(work, records)
        self._remember_transition(run, plan.node_id, plan.next_node)
        run.current_node = plan.next_node
        run.updated_at = now
        return self._access.commit_unless_interrupted(work, records, precheck=False)

    def _complete(self, work: WorkingRun, plan: StepPlan) -> RunState:
        persisted = self._access.interrupted(work)  # the node itself may have cancelled the run
        if persisted is not None:
            return persisted
        run = work.run
        run.status = RunStatus.COMPLETED
        run.output = plan.complete_output
        self._touch(run)
        now = self._now()
        records = [
            completion_record(run, node_id=plan.node_id, output=plan.complete_output, now=now),
            status_record(run, node_id=plan.node_id, status="completed", now=now),
        ]
        return self._commit_final(work, records)

    def _refuse_host_write(self, work: WorkingRun, node_id: str, exc: HostOwnedVarError) -> RunState:
        """A node tried to write a host-owned var: the run fails with that error, nothing else written.

        The refusing code raises before it writes, so the vars are as the previous step left them.
        """
        run = work.run
        exc.run_id = run.run_id
        run.status = RunStatus.FAILED
        run.error = f"HostOwnedVarError: {exc}"
        self._touch(run)
        record = status_record(run, node_id=node_id, status="failed", now=self._now())
        return self._commit_final(work, [record])

    def _commit_final(
        self, work: WorkingRun, records: list[StepRecord], *, precheck: bool = False
    ) -> RunState:
        persisted = self._access.commit_unless_interrupted(work, records, precheck=precheck)
        return persisted if persisted is not None else work.run

    # -- helpers ---------------------------------------------------------------------------------
    def _capture_evidence(self, run: RunState, plan: StepPlan, step: EffectStepResult) -> None:
        """SPEC §4.3 e.6: hand a completed, freshly executed tool batch to the evidence hook."""
        capture = self._evidence() if self._evidence is not None else None
        result = step.outcome.result
        if (
            capture is None
            or step.reused
            or step.outcome.status != "completed"
            or not isinstance(result, dict)
        ):
            return
        if step.records and step.records[-1].result is result:
            step.records[-1].result = copy.deepcopy(result)  # the ledger keeps what the handler returned
        calls = step.effect.payload.get("tool_calls") if isinstance(step.effect.payload, dict) else None
        capture(run, plan.node_id, calls if isinstance(calls, list) else [], result)

    def _trace(self, run: RunState, plan: StepPlan, step: EffectStepResult, now: str) -> None:
        outcome = step.outcome
        record_node_trace(
            run,
            node_id=plan.node_id,
            effect=step.effect,
            status=outcome.status,
            idempotency_key=step.idempotency_key,
            reused=step.reused,
            now=now,
            duration_ms=step.duration_ms,
            result=outcome.result,
            error=outcome.error,
            wait=outcome.wait,
        )

    def _transition(self, run: RunState, node_id: str, next_node: str) -> None:
        self._remember_transition(run, node_id, next_node)
        run.current_node = next_node
        self._touch(run)

    @staticmethod
    def _remember_transition(run: RunState, node_id: str, next_node: str | None) -> None:
        temp = get_temp(run.vars)
        temp["prev_node_id"] = node_id
        temp["prev_next_node"] = next_node

    def _until_due(self, run: RunState) -> bool:
        wait = run.waiting
        if wait is None or wait.reason != WaitReason.UNTIL or not wait.until:
            return False
        try:
            return self._clock.now() >= parse_iso(wait.until)
        except ValueError:
            _log.warning("run %s waits until an unparsable time %r", run.run_id, wait.until)
            return False

    def _touch(self, run: RunState) -> None:
        run.updated_at = self._now()

    def _now(self) -> str:
        return iso_now(self._clock)
