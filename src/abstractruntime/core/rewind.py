"""Retry a failed run, fork a run at a ledger record (``Runtime.retry_run`` / ``Runtime.fork_run``).

**Retry** (Temporal's reset, DBOS's resume): a FAILED or CANCELLED run, or a COMPLETED one whose output
reports a node error (``{"success": false, "node": ...}``, how VisualFlow reports a failing node), is put
back to RUNNING at the node that failed, with the vars it had there, and driven on with the workflow the
caller passes (typically rebuilt from a fixed flow file or code).  Every effect that completed before is
in the run's own ledger under its idempotency key (SPEC §6), so nothing before the failed node runs again;
the failed effect has only a FAILED record, so it runs again.  The ledger gains a ``retry`` record
(``effect.type == "retry"``, payload ``{from_node, previous_status, previous_error, retry}``) committed with
the state, so the history says what happened.

**Fork** (DBOS's fork): a *new* run whose state is the origin's state after its ledger record ``at_seq``
(0-based index in ``LedgerStore.list``).  The ledger holds effect results, waits' answers (``resume``
records) and status records, not whole states, so the state is *derived by replay*: the new run starts
from the origin's start vars at the workflow's entry node, and

* the origin's COMPLETED effect records up to ``at_seq`` are copied into the new run's ledger (same
  idempotency key, result, node), so when the replay reaches the same effect the engine reuses the
  recorded result instead of running the handler (SPEC §4.3 e.2); with ``rerun_effects`` the LLM_CALL and
  TOOL_CALLS records are not copied and those effects run again;
* the origin's ``resume`` records up to ``at_seq`` are delivered, in order, to the new run's waits;
* once every copied result and recorded answer is used, the replay stops *before* the next effect: the
  new run is RUNNING there, and the caller drives it on (its later effects run for real).

The new run's ledger starts with a ``fork`` record (payload ``{forked_from, at_seq, rerun_effects,
reused_seqs}``) and ``vars._runtime.forked_from`` holds ``{run_id, at_seq, rerun_effects}``; the origin is
not modified.  Limits (documented in ``docs/cli.md``): replay needs deterministic nodes (the same vars
give the same effects: pure nodes, recorded LLM/tool results); it needs the origin's start vars
(``vars._runtime.start_vars``, recorded by the CLI, or ``vars=`` here); effects that touch other runs
(START_SUBWORKFLOW, EMIT_EVENT) are not copied: they run again, and replay stops at a subworkflow wait;
a recorded answer is delivered only to a wait of the same reason, else replay stops there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ..errors import RewindError, RunNotFoundError
from .clock import to_iso
from .engine.records import control_record
from .engine.store_access import StoreAccess
from .models import Effect, RunState, RunStatus, StepRecord, StepStatus, WaitReason, new_id
from .policy import EffectPolicy
from .spec import WorkflowSpec

__all__ = ["RewindError", "START_VARS_KEY", "fork_run", "retry_run"]

START_VARS_KEY = "start_vars"
"""``vars._runtime.start_vars``: the vars a run started with (without ``_runtime``), needed to fork it."""

NOT_COPIED = frozenset({"start_subworkflow", "emit_event", "resume", "retry", "fork"})
"""Effect types whose records a fork never copies (they touch other runs, or are runtime bookkeeping)."""

RERUN_TYPES = frozenset({"llm_call", "tool_calls"})
"""Effect types ``rerun_effects=True`` runs again instead of reusing."""

MAX_REPLAY_STEPS = 100_000


class _ReachedSeq(Exception):
    """Raised inside the replay's policy to stop the tick before an effect past ``at_seq``."""


class _ReplayPolicy:
    """Wraps the runtime's policy during a fork's replay.  An effect whose origin key was copied gets
    that key (the engine finds and reuses the copy); one whose origin key is to be re-run
    (``rerun_effects``) is crossed off and runs under the fork's own key; once all copies, re-runs and
    answers are used, the next effect stops the replay (:class:`_ReachedSeq`, before anything is written)."""

    def __init__(
        self,
        base: EffectPolicy,
        origin_id: str,
        *,
        reuse: set[str],
        rerun: set[str],
        done: Callable[[], bool],
    ) -> None:
        self._base = base
        self._origin_id = origin_id
        self._reuse = reuse
        self._rerun = rerun
        self._done = done

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def max_attempts(self, effect: Effect) -> int:
        return self._base.max_attempts(effect)

    def backoff_seconds(self, *, effect: Effect, attempt: int) -> float:
        return self._base.backoff_seconds(effect=effect, attempt=attempt)

    def idempotency_key(self, *, run: RunState, node_id: str, effect: Effect) -> str:
        origin_key = self._base.idempotency_key(
            run=replace(run, run_id=self._origin_id), node_id=node_id, effect=effect
        )
        if origin_key in self._reuse:
            self._reuse.discard(origin_key)
            return origin_key
        if origin_key in self._rerun:
            self._rerun.discard(origin_key)
        elif self._done():
            raise _ReachedSeq()
        return self._base.idempotency_key(run=run, node_id=node_id, effect=effect)


def _workflow(runtime: Any, state: RunState, workflow: WorkflowSpec | None) -> WorkflowSpec:
    if workflow is not None:
        return workflow
    registry = runtime.workflow_registry
    found = registry.get(state.workflow_id) if registry is not None else None
    if found is None:
        raise RewindError(
            f"workflow {state.workflow_id!r} of run {state.run_id} is not registered; pass workflow=",
            run_id=state.run_id,
        )
    return found  # type: ignore[no-any-return]


def failed_node(state: RunState) -> str | None:
    """The node a retry restarts from: the current node of a FAILED/CANCELLED run, the ``node`` of a
    COMPLETED run whose output is ``{"success": false, "node": ...}``; None when there is nothing to retry."""
    if state.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        return state.current_node
    output = state.output
    if state.status == RunStatus.COMPLETED and isinstance(output, dict) and output.get("success") is False:
        node = output.get("node")
        return node if isinstance(node, str) and node else None
    return None


def retry_run(
    runtime: Any, run_id: str, *, workflow: WorkflowSpec | None = None, max_steps: int = 100
) -> RunState:
    """Re-run ``run_id`` from the node that failed (see the module doc); returns the state after
    ``runtime.tick(max_steps=max_steps)`` (``max_steps <= 0``: put back to RUNNING only).

    Args:
        runtime: the :class:`~abstractruntime.core.runtime.Runtime` over the run's stores.
        run_id: a FAILED or CANCELLED run, or a COMPLETED one reporting a node error.
        workflow: the (fixed) workflow; default the runtime registry's spec for the run's workflow id.
        max_steps: steps to take after the retry record is committed.

    Raises:
        RunNotFoundError (KeyError): unknown run.
        RewindError (ValueError): nothing to retry, or the node is not in ``workflow``.
        ConcurrencyError: another writer changed the run meanwhile; nothing written.
    """
    access = StoreAccess(runtime.run_store, runtime.ledger_store)
    work = access.load(run_id)
    run = work.run
    node = failed_node(run)
    if node is None:
        raise RewindError(
            f"run {run_id} is {RunStatus(run.status).value} without a node error: there is nothing to retry",
            run_id=run_id,
        )
    spec = _workflow(runtime, run, workflow)
    if node not in spec.nodes:
        raise RewindError(
            f"node {node!r} of run {run_id} is not in workflow {spec.workflow_id!r}", run_id=run_id
        )
    previous = {"previous_status": RunStatus(run.status).value, "previous_error": run.error or run.output}
    retries = sum(
        1 for r in access.ledger_store.list(run_id) if (r.get("effect") or {}).get("type") == "retry"
    )
    now = to_iso(runtime.now())
    run.status, run.current_node, run.error, run.output, run.waiting = (
        RunStatus.RUNNING,
        node,
        None,
        None,
        None,
    )
    run.updated_at = now
    payload = {"from_node": node, **previous, "retry": retries + 1}
    access.commit(
        work,
        [
            control_record(
                run, node_id=node, kind="retry", payload=payload, key=f"system:retry:{retries + 1}", now=now
            )
        ],
    )
    if max_steps <= 0:
        return access.get(run_id)
    return runtime.tick(workflow=spec, run_id=run_id, max_steps=max_steps)  # type: ignore[no-any-return]


def _start_vars(origin: RunState, given: Mapping[str, Any] | None) -> dict[str, Any]:
    ns = origin.vars.get("_runtime")
    ns = ns if isinstance(ns, dict) else {}
    start = given if given is not None else ns.get(START_VARS_KEY)
    if not isinstance(start, Mapping):
        raise RewindError(
            f"run {origin.run_id} did not record its start vars (vars._runtime.{START_VARS_KEY}); pass vars=",
            run_id=origin.run_id,
        )
    out = copy.deepcopy(dict(start))
    out.pop("_runtime", None)
    fork_ns = {k: copy.deepcopy(v) for k, v in ns.items() if k.startswith("cli_")}
    fork_ns[START_VARS_KEY] = copy.deepcopy(out)
    out["_runtime"] = fork_ns
    return out


def _reusable(record: Mapping[str, Any], rerun_effects: bool) -> bool:
    effect = record.get("effect")
    key = record.get("idempotency_key")
    if record.get("status") != StepStatus.COMPLETED.value or not isinstance(effect, dict) or not key:
        return False
    kind = str(effect.get("type"))
    if str(key).startswith("system:") or kind in NOT_COPIED:
        return False
    return not (rerun_effects and kind in RERUN_TYPES)


def fork_run(
    runtime: Any,
    run_id: str,
    *,
    at_seq: int,
    workflow: WorkflowSpec | None = None,
    rerun_effects: bool = False,
    vars: Mapping[str, Any] | None = None,
) -> RunState:
    """Start a new run from the state of ``run_id`` after its ledger record ``at_seq`` (see the module
    doc) and return the new run's state once replay reached that point (RUNNING before the next effect),
    or earlier when it waits on something replay cannot answer, or ended.

    Args:
        runtime: the :class:`~abstractruntime.core.runtime.Runtime` over the run's stores.
        run_id: the origin run (any status; it is not modified).
        at_seq: 0-based index of a record in ``runtime.ledger_store.list(run_id)``.
        workflow: the workflow to replay; default the registry's spec for the origin's workflow id.
        rerun_effects: run LLM_CALL and TOOL_CALLS again instead of reusing their recorded results.
        vars: the vars the origin started with; default ``vars._runtime.start_vars`` of the origin.

    Raises:
        RunNotFoundError (KeyError): unknown run.
        RewindError (ValueError): ``at_seq`` out of range, no start vars, no workflow.
    """
    origin = runtime.run_store.load(run_id)
    if origin is None:
        raise RunNotFoundError(run_id)
    records = list(runtime.ledger_store.list(run_id))
    if isinstance(at_seq, bool) or not isinstance(at_seq, int) or not 0 <= at_seq < len(records):
        raise RewindError(
            f"--at {at_seq!r} is not a record of run {run_id} (its ledger has records 0..{len(records) - 1})",
            run_id=run_id,
        )
    spec = _workflow(runtime, origin, workflow)
    start = _start_vars(origin, vars)
    link = {"run_id": run_id, "at_seq": at_seq, "rerun_effects": rerun_effects}
    start["_runtime"]["forked_from"] = link
    upto = records[: at_seq + 1]
    reused = [i for i, r in enumerate(upto) if _reusable(r, rerun_effects)]
    answers = [
        r["effect"]["payload"]
        for r in upto
        if isinstance(r.get("effect"), dict) and r["effect"].get("type") == "resume"
    ]
    fork_id = runtime.start(workflow=spec, vars=start, actor_id=origin.actor_id, session_id=origin.session_id)
    fork = runtime.run_store.load(fork_id)
    now = to_iso(runtime.now())
    copies = [
        control_record(
            fork,
            node_id=spec.entry_node,
            kind="fork",
            payload={
                "forked_from": run_id,
                "at_seq": at_seq,
                "rerun_effects": rerun_effects,
                "reused_seqs": reused,
            },
            key="system:fork",
            now=now,
        )
    ]
    for i in reused:
        r = upto[i]
        copies.append(
            StepRecord(
                run_id=fork_id,
                step_id=new_id(),
                node_id=str(r.get("node_id")),
                status=StepStatus.COMPLETED,
                effect=r["effect"],
                result=r.get("result"),
                started_at=now,
                ended_at=now,
                actor_id=fork.actor_id,
                session_id=fork.session_id,
                attempt=int(r.get("attempt") or 1),
                idempotency_key=str(r["idempotency_key"]),
            )
        )
    for record in copies:
        runtime.ledger_store.append(record)
    reuse = {str(upto[i]["idempotency_key"]) for i in reused}
    rerun = {
        str(r["idempotency_key"]) for r in upto if _reusable(r, False) and not _reusable(r, rerun_effects)
    }
    policy = _ReplayPolicy(
        runtime.effect_policy, run_id, reuse=reuse, rerun=rerun, done=lambda: not (reuse or rerun or answers)
    )
    return _replay(runtime, spec, policy, fork_id=fork_id, answers=answers)


def _replay(
    runtime: Any,
    spec: WorkflowSpec,
    policy: _ReplayPolicy,
    *,
    fork_id: str,
    answers: list[dict[str, Any]],
) -> RunState:
    base = runtime.effect_policy
    runtime.set_effect_policy(policy)
    try:
        state: RunState = runtime.run_store.load(fork_id)
        for _ in range(MAX_REPLAY_STEPS):
            if state.status == RunStatus.RUNNING:
                try:
                    state = runtime.tick(workflow=spec, run_id=fork_id, max_steps=1)
                except _ReachedSeq:
                    return runtime.run_store.load(fork_id)  # type: ignore[no-any-return]
                continue
            wait = state.waiting
            if state.status != RunStatus.WAITING or wait is None or not answers:
                break
            reason = WaitReason(wait.reason).value
            if reason == WaitReason.SUBWORKFLOW.value or answers[0].get("wait_reason") != reason:
                break
            answer = answers.pop(0)
            state = runtime.resume(
                workflow=spec,
                run_id=fork_id,
                wait_key=wait.wait_key,
                payload=answer.get("payload"),
                max_steps=0,
            )
        return state
    finally:
        runtime.set_effect_policy(base)
