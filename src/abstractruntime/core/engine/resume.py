"""``Runtime.resume``: deliver a payload to a waiting run and continue it (SPEC §4.6).

The resume commits once — the payload at ``result_key``, the ``resume`` ledger record (and, for a
terminal wait, the completion and status records) together with the new state — and then continues
with the step loop on the same loaded copy.  Two drivers resuming the same wait: the revision check
lets exactly one commit; the other gets ``ConcurrencyError`` and changes nothing.

On a revisioned store that hands out copies (SQLite, files, PostgreSQL) the resume's commit rides with
the commit of the steps it unblocks: the nodes that follow run on the loaded copy, and the first commit
— that of the first step with an effect (made *before* the effect runs, so nothing outside the run ever
sees an uncommitted resume), of the run's end, of a node that raises, or of the end of ``max_steps`` —
writes the resume's records and state together with it.  One durable write instead of two, and the
guarantees are those of a commit per step: when ``resume`` returns, everything it reports is durable;
when it raises ``ConcurrencyError`` (another writer, a pause included, changed the run first), nothing of
it was stored; a crash before the commit leaves the run waiting, so the caller resumes again.  A cancel
that lands first wins: the cancelled state is returned.

``ConcurrencyError`` means exactly that: *this* resume was not applied.  Once the payload is
committed, a conflict met by the steps that follow (another driver advanced the run meanwhile) is
logged and the latest stored state is returned instead (``docs/compatibility.md``).

Evidence (SPEC §4.6 step 3): when the wait's ``details`` carry ``tool_calls_for_evidence`` (or
``tool_calls``) and the evidence hook is on, the merged tool results are captured before the commit.
The hook works on a copy: vars (and a terminal wait's output) get the captured copy, while the
ledger records and the caller's payload object keep the results as delivered.

Tool approvals (SPEC §4.6): a resume that approves calls first commits a claim on the wait, then runs
them, then commits the resume.  So two drivers approving at once run the calls once (the second gets
``ConcurrencyError`` before running anything), and a crash between the claim and the commit never
re-runs them (see ``resume_payload.APPROVAL_CLAIM_KEY``).  Argument edits in the payload are checked
for shape before the claim (a malformed edit raises ``InvalidResumePayloadError`` and claims nothing) and
re-checked per call like fresh calls before they run (``approval_edits``).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from ...errors import ConcurrencyError, RunNotWaitingError, RunPausedError, WaitKeyMismatchError
from ..clock import Clock, to_iso
from ..logs import LazyLogger
from ..models import RunState, RunStatus, StepRecord, StepStatus, WaitReason, WaitState, new_id
from ..spec import WorkflowSpec
from ..vars import set_vars_path
from .approval_edits import calls_as_run
from .loop import EvidenceCapture, StepLoop
from .records import resume_completion_record, resume_record, status_record
from .resume_payload import (
    APPROVAL_CLAIM_KEY,
    approval_runs_calls,
    shape_resume_payload,
    validate_approval_payload,
)
from .store_access import StoreAccess, WorkingRun, is_paused
from .tool_calls import pop_pending_tool_calls

__all__ = ["Resumer"]

_log = LazyLogger("abstractruntime.engine")


class Resumer:
    """Applies resumes.

    Args:
        access: storage door.
        loop: the step loop that continues the run afterwards.
        clock: time source.
        tool_executor: zero-argument callable returning the executor for approval resumes (or None).
        evidence: zero-argument callable returning the evidence hook, or None when evidence is off.
    """

    def __init__(
        self,
        *,
        access: StoreAccess,
        loop: StepLoop,
        clock: Clock,
        tool_executor: Callable[[], Any],
        evidence: Callable[[], EvidenceCapture | None] | None = None,
    ) -> None:
        self._access = access
        self._loop = loop
        self._clock = clock
        self._tool_executor = tool_executor
        self._evidence = evidence

    def resume(
        self,
        workflow: WorkflowSpec,
        run_id: str,
        wait_key: str | None,
        payload: Any,
        max_steps: int,
        *,
        loaded: WorkingRun | None = None,
    ) -> RunState:
        """Resume ``run_id`` waiting on ``wait_key`` with ``payload``, then tick up to ``max_steps``.

        ``loaded``: the run as the caller just read it with its revision (it becomes the working copy);
        None loads it.

        Raises:
            RunNotFoundError (KeyError): unknown run.
            RunPausedError / RunNotWaitingError / WaitKeyMismatchError (ValueError): see SPEC §4.6.
            InvalidResumePayloadError (ValueError): malformed argument edits of an approval; nothing
                was claimed or stored.
            ConcurrencyError: another driver resumed or changed the run first (since ``loaded`` was
                read, when given); this resume was not applied.  (A conflict after the payload was
                committed is not raised: the latest stored state is returned.)
        """
        work = self._access.load(run_id) if loaded is None else loaded
        run = work.run
        wait = self._check(run, wait_key)
        now = to_iso(self._clock.now())
        records: list[StepRecord] = []
        stored = payload
        plain = True  # nothing but the payload set (no approval, tool results or evidence): may defer
        if not wait.result_key:
            pop_pending_tool_calls(run)
        else:
            # before the claim, so a malformed edit claims nothing
            validate_approval_payload(wait, payload, run_id=run_id)
            if approval_runs_calls(wait, payload):
                plain = False
                self._claim_approval(work, wait, now)
            stored = shape_resume_payload(
                wait, payload, tool_executor=self._tool_executor(), run_vars=run.vars
            )
            synthetic = self._tool_calls_completion(run, stored, now)
            if synthetic is not None:
                plain = False
                records.append(synthetic)
            shaped = stored
            stored = self._capture_evidence(run, wait, stored)
            plain = plain and stored is shaped
            set_vars_path(run.vars, wait.result_key, stored)
        reason = WaitReason(wait.reason).value
        records.append(
            resume_record(
                run,
                node_id=run.current_node,
                now=now,
                payload={
                    "wait_reason": reason,
                    "wait_key": wait.wait_key,
                    "resume_to_node": wait.resume_to_node,
                    "result_key": wait.result_key,
                    "payload": payload,
                },
            )
        )
        if wait.resume_to_node is None:
            return self._complete_terminal_wait(work, wait, stored, records, now)
        _unblock(run, wait, now)
        if max_steps <= 0 or not plain or not self._access.defers_commits:
            self._access.commit(work, records)
            if max_steps <= 0:
                return run
        else:  # committed with the next step (see the module docstring)
            work.pending = tuple(records)
            work.rebuild = _rebuild(wait, stored, now)
        try:
            return self._loop.advance(workflow, work, max_steps)
        except ConcurrencyError as exc:
            if work.pending:
                raise  # the resume itself was not committed: this resume was not applied
            # The payload is committed: this resume won.  Only the steps after it met another driver.
            _log.info("run %s: resume delivered; another driver advanced the run meanwhile (%s)", run_id, exc)
            return self._access.get(run_id)

    def _claim_approval(self, work: WorkingRun, wait: WaitState, now: str) -> None:
        """Commit a claim on an approval wait before its calls run, so they run at most once.

        Two drivers approving the same wait: the second one's claim fails with ``ConcurrencyError``
        before anything runs.  A driver that dies after the claim leaves it in ``details``; a later
        resume then reports the calls as possibly run instead of running them again.
        """
        claimed = dict(wait.details or {})
        claimed[APPROVAL_CLAIM_KEY] = now
        work.run.waiting = dataclasses.replace(wait, details=claimed)
        self._access.commit(work, ())

    @staticmethod
    def _check(run: RunState, wait_key: str | None) -> WaitState:
        if is_paused(run):
            raise RunPausedError(run.run_id)
        if run.status != RunStatus.WAITING or run.waiting is None:
            raise RunNotWaitingError(run.run_id, status=RunStatus(run.status).value)
        expected = run.waiting.wait_key
        if wait_key is not None and expected is not None and wait_key != expected:
            raise WaitKeyMismatchError(run_id=run.run_id, expected=expected, got=wait_key)
        return run.waiting

    def _capture_evidence(self, run: RunState, wait: WaitState, stored: Any) -> Any:
        """SPEC §4.6 step 3: capture evidence on a copy of the merged results; returns what to store."""
        capture = self._evidence() if self._evidence is not None else None
        details = wait.details if isinstance(wait.details, dict) else {}
        calls = details.get("tool_calls_for_evidence") or details.get("tool_calls")
        if capture is None or not isinstance(calls, list) or not calls or not isinstance(stored, dict):
            return stored
        captured = copy.deepcopy(stored)
        capture(run, run.current_node, calls_as_run(calls, stored), captured)
        return captured

    def _complete_terminal_wait(
        self, work: WorkingRun, wait: WaitState, stored: Any, records: list[StepRecord], now: str
    ) -> RunState:
        run = work.run
        run.status = RunStatus.COMPLETED
        run.waiting = None
        run.output = {"success": True, "result": stored}
        run.updated_at = now
        records.append(
            resume_completion_record(
                run,
                node_id=run.current_node,
                wait_reason=WaitReason(wait.reason).value,
                wait_key=wait.wait_key,
                output=run.output,
                now=now,
            )
        )
        records.append(status_record(run, node_id=run.current_node, status="completed", now=now))
        self._access.commit(work, records)
        return run

    def _tool_calls_completion(self, run: RunState, stored: Any, now: str) -> StepRecord | None:
        """The synthetic COMPLETED record for a wait of a ``complete_on_resume`` effect (TOOL_CALLS), so a
        later visit reuses the results.

        The waiting step left its effect, key and attempt at
        ``vars._runtime.pending_tool_calls``; nothing is read from the ledger.
        """
        pending = pop_pending_tool_calls(run)
        if pending is None or pending.get("node_id") != run.current_node:
            return None
        effect = pending.get("effect")
        key = pending.get("idempotency_key")
        if not isinstance(effect, dict) or not isinstance(key, str) or not key:
            return None
        if self._access.find_completed(run.run_id, key) is not None:
            return None
        return StepRecord(
            run_id=run.run_id,
            step_id=new_id(),
            node_id=run.current_node,
            status=StepStatus.COMPLETED,
            effect=effect,
            result=stored if isinstance(stored, dict) else {"value": stored},
            started_at=now,
            ended_at=now,
            actor_id=run.actor_id,
            session_id=run.session_id,
            attempt=int(pending.get("attempt") or 1),
            idempotency_key=key,
        )


def _unblock(run: RunState, wait: WaitState, now: str) -> None:
    """The state change of a resume to ``wait.resume_to_node`` (the caller checked it is set)."""
    assert wait.resume_to_node is not None
    run.status = RunStatus.RUNNING
    run.waiting = None
    run.current_node = wait.resume_to_node
    run.updated_at = now


def _rebuild(wait: WaitState, stored: Any, now: str) -> Callable[[RunState], None]:
    """A plain resume, to apply again to the run as stored (``WorkingRun.rebuild``)."""

    def apply(base: RunState) -> None:
        pop_pending_tool_calls(base)
        if wait.result_key:
            set_vars_path(base.vars, wait.result_key, stored)
        _unblock(base, wait, now)

    return apply
