"""The TOOL_CALLS effect handler (SPEC §11.3 handler flow, §11.4 workspace policy).

``make_tool_calls_handler(tools=executor)`` returns a handler for ``Runtime(effect_handlers={
EffectType.TOOL_CALLS: handler})``.  For one batch (the kernel already gave every call a ``call_id`` and a
``runtime_call_id``, SPEC §4.12):

1. ``payload.tool_calls`` must be a list and an executor configured, else the effect fails.
2. Calls are blocked before anything runs: a call not in ``allowed_tools`` (when given) gets
   ``Tool '<n>' is not allowed at this node`` (its arguments are not echoed anywhere: not in the result,
   not in the wait details); a file-tool call whose path the run's workspace policy refuses gets
   ``Workspace policy refused ...`` (:mod:`._tool_workspace`; accepted paths are made absolute).
3. The allowed calls are sent to the executor once (no calls left: nothing is sent).  The mode of that
   answer decides (SPEC's empty-batch probe is not made: with no runtime-side calls it changes nothing).
4. ``{"mode": "executed"}`` → the results are merged with the blocked ones in input order.  Any other mode
   → the run waits: reason = the executor's ``wait_reason`` (else JOB for ``delegated``, else EVENT),
   key = ``payload.wait_key``, else the executor's, else ``tool_calls:<run_id>:<node>``; ``details`` =
   ``{mode, tool_calls, executor?, original_call_count, original_count, blocked_by_index,
   tool_calls_for_evidence, allowed_tools}`` plus the executor's own details (``allowed_tools``: the
   node's allowlist or None, kept so calls edited at approval are re-checked like fresh ones,
   :mod:`abstractruntime.core.engine.approval_edits`).  Resuming merges the supplied results
   with the blocked ones (SPEC §4.6); an approval wait (mode ``approval_required``) is resumed with
   ``{"approved": ...}`` and runs the calls through the executor given to
   ``Runtime.set_tool_executor_for_resume``.
5. The result always has one entry per input call, in order; a missing one is ``Missing tool result``.
6. An *in-doubt* batch (the engine marked the payload with ``_in_doubt``: a driver died after the
   batch's STARTED intent and before its commit, so the calls may already have run — ``docs/llm.md``,
   "In-doubt calls"): calls to tools the executor declares idempotent (``is_idempotent(name)``) run
   again now; every other call parks the run in an approval wait (reason USER, mode
   ``approval_required``, key ``tool_in_doubt:<run_id>:<node>``) whose details carry ``in_doubt: true``,
   ``in_doubt_since`` (the interrupted intent's ``started_at``/``attempt``/``step_id``), a ``message``
   and the doubtful ``tool_calls``; the re-run results sit in ``blocked_by_index``.  Approving runs the
   calls once (the approval claim of ``core/engine/resume.py``); denying records them as failed.
   When the re-run itself is deferred by the executor (an approval policy), every call is parked.

Not done here (SPEC §11.3 steps 3 and 6): ``open_attachment`` runtime calls and registering ``read_file``
outputs as session attachments; ``artifact_store`` and ``run_store`` are accepted for signature
compatibility and unused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from ...core.engine.tool_calls import IN_DOUBT_KEY
from ...core.models import Effect, RunState, WaitReason, WaitState
from ...core.outcome import EffectOutcome
from ._tool_checks import check_call
from ._tool_workspace import WorkspaceError, run_policy
from .tool_executor import ToolExecutor, tool_result

__all__ = ["make_tool_calls_handler", "merge_results"]

_log = logging.getLogger("abstractruntime.integrations.tools")
_PROMPT_ARG_CHARS = 200


def merge_results(
    count: int, fixed: Mapping[int, dict[str, Any]], calls: list[dict[str, Any]], results: Any
) -> list[dict[str, Any]]:
    """``count`` results in input order: ``fixed[i]`` where given, else the next executor result.

    An executor result missing for a call becomes ``{success: False, error: "Missing tool result"}``
    carrying the call's ids and name.
    """
    supplied = iter(results if isinstance(results, list) else [])
    sent = iter(calls)
    merged: list[dict[str, Any]] = []
    for index in range(count):
        if index in fixed:
            merged.append(fixed[index])
            continue
        call = next(sent, {})
        result = next(supplied, None)
        if not isinstance(result, dict):
            merged.append(tool_result(call, success=False, error="Missing tool result"))
            continue
        shaped = dict(result)
        for key in ("call_id", "runtime_call_id", "name"):
            if shaped.get(key) is None and call.get(key) is not None:
                shaped[key] = call[key]
        merged.append(shaped)
    return merged


class _Batch:
    """One TOOL_CALLS batch split into the calls to send and the blocked results, by input index."""

    def __init__(self, run: RunState, payload: dict[str, Any], calls: list[Any]) -> None:
        self.count = len(calls)
        self.blocked: dict[int, dict[str, Any]] = {}
        self.sendable: list[dict[str, Any]] = []
        self.sendable_index: list[int] = []  # the input index of each sendable call
        allowed = payload.get("allowed_tools")
        self.allowed_tools: list[str] | None = (
            sorted({n for n in allowed if isinstance(n, str)}) if isinstance(allowed, list) else None
        )
        policy = run_policy(run.vars)
        for index, call in enumerate(calls):
            checked, refusal = check_call(call, self.allowed_tools, policy)
            if refusal is not None:
                self.blocked[index] = tool_result(checked, success=False, error=refusal)
                continue
            self.sendable.append(checked)
            self.sendable_index.append(index)


def _run_executor(executor: ToolExecutor, calls: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        out = executor.execute(tool_calls=calls)
    except Exception as exc:  # noqa: BLE001 - reported as failed tool results, not a crashed step
        _log.warning("tool executor raised: %s", exc, exc_info=True)
        message = f"Tool execution failed: {exc}"
        return {"mode": "executed", "results": [tool_result(c, success=False, error=message) for c in calls]}
    if not isinstance(out, dict):
        message = f"Tool execution failed: executor returned {type(out).__name__}, expected dict"
        return {"mode": "executed", "results": [tool_result(c, success=False, error=message) for c in calls]}
    return out


_EXECUTOR_REASONS = frozenset({WaitReason.USER, WaitReason.EVENT, WaitReason.JOB})


def _wait_reason(out: dict[str, Any]) -> WaitReason:
    """The executor's ``wait_reason`` when it is user/event/job, else JOB (``delegated``) or EVENT."""
    try:
        reason = WaitReason(str(out.get("wait_reason")))
    except ValueError:
        reason = None
    if reason in _EXECUTOR_REASONS:
        return reason
    return WaitReason.JOB if out.get("mode") == "delegated" else WaitReason.EVENT


def _approval_prompt(calls: list[dict[str, Any]]) -> str:
    lines = [
        'Approve these tool calls? Resume with {"approved": true} or {"approved": false, "reason": ...}; '
        'per call {"approved": {"<call_id>": true}}, with new arguments in {"arguments": {"<call_id>": {...}}}.'
    ]
    for call in calls:
        args = json.dumps(call.get("arguments"), ensure_ascii=False, sort_keys=True, default=str)
        if len(args) > _PROMPT_ARG_CHARS:
            args = args[:_PROMPT_ARG_CHARS] + "…"
        lines.append(f"- [{call.get('call_id')}] {call.get('name')}({args})")
    return "\n".join(lines)


def _wait_outcome(
    *,
    run: RunState,
    effect: Effect,
    payload: dict[str, Any],
    batch: _Batch,
    out: dict[str, Any],
    next_node: str | None,
) -> EffectOutcome:
    calls = out.get("tool_calls")
    pending = [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else batch.sendable
    details: dict[str, Any] = dict(out["details"]) if isinstance(out.get("details"), dict) else {}
    details.update(
        {
            "mode": out.get("mode"),
            "tool_calls": pending,
            "original_call_count": batch.count,
            "original_count": batch.count,
            "tool_calls_for_evidence": batch.sendable,
            "allowed_tools": batch.allowed_tools,  # re-checks calls edited at approval
        }
    )
    if out.get("executor") is not None:
        details["executor"] = out["executor"]
    # always present (maybe empty) so that a resume supplying too few results is padded (SPEC §4.6)
    details["blocked_by_index"] = {str(i): r for i, r in sorted(batch.blocked.items())}
    wait_key = payload.get("wait_key") or out.get("wait_key") or f"tool_calls:{run.run_id}:{run.current_node}"
    approval = out.get("mode") == "approval_required"
    return EffectOutcome.waiting(
        WaitState(
            reason=_wait_reason(out),
            wait_key=str(wait_key),
            resume_to_node=payload.get("resume_to_node") or next_node,
            result_key=effect.result_key,
            prompt=_approval_prompt(pending) if approval else None,
            details=details,
        )
    )


IN_DOUBT_MESSAGE = (
    "This call may already have run before a crash; approve to run it again, deny to record it as failed."
)


def _is_idempotent(tools: ToolExecutor, call: dict[str, Any]) -> bool:
    check = getattr(tools, "is_idempotent", None)
    name = call.get("name")
    return callable(check) and isinstance(name, str) and check(name) is True


def _in_doubt_outcome(
    *,
    run: RunState,
    effect: Effect,
    tools: ToolExecutor,
    batch: _Batch,
    marker: dict[str, Any],
    next_node: str | None,
) -> EffectOutcome | None:
    """Re-run the idempotent calls of an in-doubt batch and park the others; None when all are idempotent."""
    rerun = [i for i, c in enumerate(batch.sendable) if _is_idempotent(tools, c)]
    if len(rerun) == len(batch.sendable):
        return None
    fixed = dict(batch.blocked)
    if rerun:
        out = _run_executor(tools, [batch.sendable[i] for i in rerun])
        if out.get("mode", "executed") == "executed":
            supplied = out.get("results")
            results: list[Any] = supplied if isinstance(supplied, list) else []
            for position, i in enumerate(rerun):
                call = batch.sendable[i]
                got = results[position] if position < len(results) else None
                fixed[batch.sendable_index[i]] = (
                    got
                    if isinstance(got, dict)
                    else tool_result(call, success=False, error="Missing tool result")
                )
    doubtful = [c for i, c in enumerate(batch.sendable) if batch.sendable_index[i] not in fixed]
    _log.warning(
        "run %s: %d tool call(s) in doubt after a crash; waiting for approval", run.run_id, len(doubtful)
    )
    details = {
        "kind": "tool_in_doubt",
        "mode": "approval_required",
        "in_doubt": True,
        "in_doubt_since": dict(marker),
        "message": IN_DOUBT_MESSAGE,
        "tool_calls": doubtful,
        "original_call_count": batch.count,
        "original_count": batch.count,
        "tool_calls_for_evidence": batch.sendable,
        "allowed_tools": batch.allowed_tools,
        "blocked_by_index": {str(i): r for i, r in sorted(fixed.items())},
    }
    payload = effect.payload if isinstance(effect.payload, dict) else {}
    return EffectOutcome.waiting(
        WaitState(
            reason=WaitReason.USER,
            wait_key=f"tool_in_doubt:{run.run_id}:{run.current_node}",
            resume_to_node=payload.get("resume_to_node") or next_node,
            result_key=effect.result_key,
            prompt=IN_DOUBT_MESSAGE + "\n" + _approval_prompt(doubtful),
            details=details,
        )
    )


def make_tool_calls_handler(
    *, tools: ToolExecutor | None = None, artifact_store: Any = None, run_store: Any = None
) -> Any:
    """The TOOL_CALLS effect handler running calls through ``tools`` (see the module docstring).

    Args:
        tools: the executor (``MappingToolExecutor``, ``PassthroughToolExecutor``, ``ApprovalToolExecutor``,
            or anything with ``execute(*, tool_calls)``).
        artifact_store: accepted for compatibility; session attachments are not implemented.
        run_store: accepted for compatibility; unused.

    Returns:
        ``handler(run, effect, default_next_node) -> EffectOutcome``.
    """
    del artifact_store, run_store

    def handle(run: RunState, effect: Effect, default_next_node: str | None = None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        calls = payload.get("tool_calls")
        if not isinstance(calls, list):
            return EffectOutcome.failed("TOOL_CALLS requires payload.tool_calls (a list)")
        if tools is None:
            return EffectOutcome.failed("No ToolExecutor configured for TOOL_CALLS")
        try:
            batch = _Batch(run, payload, calls)
        except WorkspaceError as exc:
            return EffectOutcome.failed(f"Invalid workspace policy: {exc}")
        if not batch.sendable:
            return EffectOutcome.completed(
                {"mode": "executed", "results": merge_results(batch.count, batch.blocked, [], [])}
            )
        marker = payload.get(IN_DOUBT_KEY)
        if isinstance(marker, dict):
            parked = _in_doubt_outcome(
                run=run, effect=effect, tools=tools, batch=batch, marker=marker, next_node=default_next_node
            )
            if parked is not None:
                return parked
        out = _run_executor(tools, batch.sendable)
        if out.get("mode", "executed") != "executed":
            return _wait_outcome(
                run=run, effect=effect, payload=payload, batch=batch, out=out, next_node=default_next_node
            )
        results = merge_results(batch.count, batch.blocked, batch.sendable, out.get("results"))
        return EffectOutcome.completed({"mode": "executed", "results": results})

    return handle
