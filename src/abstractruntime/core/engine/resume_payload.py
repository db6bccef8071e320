"""How a resume payload is shaped before it is stored at the wait's ``result_key`` (SPEC §4.6 step 2).

Three shapes are recognised from the wait's ``details``:

* a subworkflow wait with ``wrap_as_tool_result``: the child's output becomes a tool result;
* a tool-approval wait (``mode == "approval_required"``): ``{"approved": bool}`` runs or denies the
  calls through the executor set with ``Runtime.set_tool_executor_for_resume``; ``approved`` may also
  decide per call (``{call_id: bool}`` or a list of approved call ids): only those calls run, the others
  get the denial error.  Only the boolean ``True`` approves a whole batch (``"yes"``, ``1`` or
  ``"false"`` approve nothing).  ``arguments`` may replace the arguments of approved calls; edited calls
  are re-checked before they run (:mod:`.approval_edits`);
* a partially blocked / pre-computed tool batch: results are merged back in the original call order.
"""

from __future__ import annotations

import json
from typing import Any

from ..models import WaitReason, WaitState
from .approval_edits import call_ids, mark_edited, parse_argument_edits, recheck_edited_call

__all__ = [
    "APPROVAL_CLAIM_KEY",
    "approval_runs_calls",
    "is_tool_shaped",
    "shape_resume_payload",
    "subworkflow_tool_result",
    "validate_approval_payload",
]

_MAX_REPORT_CHARS = 4000


def is_tool_shaped(payload: Any) -> bool:
    """True when ``payload`` already has the standard tool result shape (``mode`` and ``results``)."""
    return isinstance(payload, dict) and "mode" in payload and "results" in payload


def subworkflow_tool_result(
    *, output: Any, sub_run_id: str | None, tool_name: str, call_id: str, failed_error: str | None = None
) -> dict[str, Any]:
    """A child run's output as a one-call tool result ``{"mode": "executed", "results": [...]}``.

    The answer is ``output["answer"]``, else the output when it is a string, else its JSON.  An output
    with ``success`` False (or ``failed_error``) marks the call as failed.
    """
    answer: Any
    if isinstance(output, dict) and output.get("answer") is not None:
        answer = output["answer"]
    elif isinstance(output, str):
        answer = output
    else:
        answer = json.dumps(output, ensure_ascii=False, sort_keys=True, default=str)
    answer_text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False, default=str)
    success = failed_error is None and not (isinstance(output, dict) and output.get("success") is False)
    error = None
    if not success:
        error = (
            failed_error
            or (output.get("error") if isinstance(output, dict) else None)
            or "Subworkflow failed"
        )
    tool_output: dict[str, Any] = {"rendered": answer_text, "answer": answer, "sub_run_id": sub_run_id}
    report = output.get("report") if isinstance(output, dict) else None
    if isinstance(report, str) and len(report) <= _MAX_REPORT_CHARS:
        tool_output["report"] = report
    result = {
        "call_id": call_id,
        "name": tool_name,
        "success": success,
        "output": tool_output,
        "error": error,
    }
    return {"mode": "executed", "results": [result]}


APPROVAL_CLAIM_KEY = "approval_claimed_at"
"""Key in an approval wait's ``details`` set (and committed) before approved calls run (see ``resume``)."""

_INTERRUPTED = "Approval was claimed by an earlier resume that did not finish; the calls may have run"


def _is_approval(details: dict[str, Any], payload: Any) -> bool:
    return (
        details.get("mode") == "approval_required"
        and isinstance(details.get("tool_calls"), list)
        and isinstance(payload, dict)
        and "approved" in payload
        and not is_tool_shaped(payload)
    )


def approval_runs_calls(wait: WaitState, payload: Any) -> bool:
    """True when resuming ``wait`` with ``payload`` would run tool calls (an unclaimed approval wait and a
    payload approving at least one call)."""
    details = wait.details if isinstance(wait.details, dict) else {}
    if details.get(APPROVAL_CLAIM_KEY) or not _is_approval(details, payload):
        return False
    calls = [c for c in details["tool_calls"] if isinstance(c, dict)]
    return bool(_approved_indexes(calls, payload.get("approved")))


def validate_approval_payload(wait: WaitState, payload: Any, *, run_id: str | None = None) -> None:
    """Check the argument edits of an approval payload before anything is claimed or run.

    Raises:
        InvalidResumePayloadError: see :func:`.approval_edits.parse_argument_edits`.
    """
    details = wait.details if isinstance(wait.details, dict) else {}
    if not _is_approval(details, payload):
        return
    calls = [c for c in details["tool_calls"] if isinstance(c, dict)]
    parse_argument_edits(calls, payload, _approved_indexes(calls, payload.get("approved")), run_id=run_id)


def shape_resume_payload(
    wait: WaitState, payload: Any, *, tool_executor: Any, run_vars: dict[str, Any] | None = None
) -> Any:
    """The value stored at ``wait.result_key`` for a resume with ``payload``.

    An approval wait already claimed by an earlier resume (``details[APPROVAL_CLAIM_KEY]``) never runs
    its calls again: they get an error result saying they may have run (at most once).  ``run_vars``
    (the run's vars) is handed to the executor's ``recheck_call`` for edited calls.

    Raises:
        InvalidResumePayloadError: malformed argument edits (see :func:`validate_approval_payload`).
    """
    details = wait.details if isinstance(wait.details, dict) else {}
    if details.get(APPROVAL_CLAIM_KEY) and _is_approval(details, payload):
        calls = [c for c in details["tool_calls"] if isinstance(c, dict)]
        payload = {"mode": "executed", "results": [_call_error(c, _INTERRUPTED) for c in calls]}
    if (
        wait.reason == WaitReason.SUBWORKFLOW
        and details.get("wrap_as_tool_result")
        and not is_tool_shaped(payload)
    ):
        body = payload if isinstance(payload, dict) else {"output": payload}
        return subworkflow_tool_result(
            output=body.get("output"),
            sub_run_id=body.get("sub_run_id") or details.get("sub_run_id"),
            tool_name=str(details.get("tool_name") or "start_subworkflow"),
            call_id=str(details.get("call_id") or "subworkflow"),
        )
    if _is_approval(details, payload):
        payload = _approval_results(details, payload, tool_executor, run_vars)
    return _merge_partial_batch(details, payload)


def _approved_indexes(calls: list[dict[str, Any]], decision: Any) -> set[int]:
    """The indexes of ``calls`` approved by a resume payload's ``approved`` value.

    ``True`` approves every call; a dict ``{call_id: bool}`` approves the calls mapped to ``True``; a list
    of call ids approves the calls listed (a call is named by its ``call_id``, ``id`` or
    ``runtime_call_id``).  Anything else (``False``, None, strings, numbers) approves nothing.
    """
    if decision is True:
        return set(range(len(calls)))
    if isinstance(decision, dict):
        chosen = {str(k) for k, v in decision.items() if v is True}
    elif isinstance(decision, list):
        chosen = {v for v in decision if isinstance(v, str)}
    else:
        return set()
    return {i for i, call in enumerate(calls) if call_ids(call) & chosen}


def _approval_results(
    details: dict[str, Any], payload: dict[str, Any], executor: Any, run_vars: dict[str, Any] | None
) -> dict[str, Any]:
    dict_calls = [c for c in details["tool_calls"] if isinstance(c, dict)]
    approved = _approved_indexes(dict_calls, payload.get("approved"))
    edits = parse_argument_edits(dict_calls, payload, approved)
    reason = str(payload.get("reason") or "Denied by user")
    fixed = {i: _call_error(c, reason) for i, c in enumerate(dict_calls) if i not in approved}
    to_run: dict[int, dict[str, Any]] = {}
    for i in sorted(approved):
        if i not in edits:
            to_run[i] = dict_calls[i]
            continue
        checked, refusal = recheck_edited_call(
            dict_calls[i], edits[i], details=details, run_vars=run_vars, executor=executor
        )
        if refusal is None:
            to_run[i] = checked
        else:
            fixed[i] = _call_error(checked, refusal)
    outcome: dict[str, Any] = {"mode": "executed"}
    ran: dict[int, Any] = {}
    if to_run:
        outcome = _run_approved(list(to_run.values()), executor)
        supplied = iter(outcome.get("results") or [])
        ran = {i: next(supplied, None) for i in to_run}
    results: list[Any] = []
    for i, call in enumerate(dict_calls):
        result = fixed[i] if i in fixed else ran.get(i)
        if result is None:
            result = _call_error(call, "Missing tool result")
        if i in edits:
            result = mark_edited(
                result,
                original=call,
                edited=edits[i],
                ran=to_run.get(i),
                refusal=fixed[i]["error"] if i in fixed else None,
            )
        results.append(result)
    return {**outcome, "results": results}


def _run_approved(dict_calls: list[dict[str, Any]], executor: Any) -> dict[str, Any]:
    if executor is None:
        message = "ToolExecutor is not configured for approval resumes"
        return {"mode": "executed", "results": [_call_error(c, message) for c in dict_calls]}
    run_calls = getattr(executor, "execute_approved", None) or getattr(executor, "execute", None)
    try:
        if run_calls is None:
            raise TypeError(f"{type(executor).__name__} has no execute method")
        outcome = run_calls(tool_calls=dict_calls)
        if not isinstance(outcome, dict):
            raise TypeError(f"executor returned {type(outcome).__name__}, expected dict")
        if outcome.get("mode", "executed") != "executed":
            raise ValueError(f"executor returned mode {outcome.get('mode')!r}")
        return outcome
    except Exception as exc:  # noqa: BLE001 - reported to the workflow as failed tool results
        message = f"Tool execution failed: {exc}"
        return {"mode": "executed", "results": [_call_error(c, message) for c in dict_calls]}


def _call_error(call: dict[str, Any], error: str) -> dict[str, Any]:
    return {
        "call_id": call.get("call_id") or call.get("id"),
        "runtime_call_id": call.get("runtime_call_id"),
        "name": call.get("name"),
        "success": False,
        "output": None,
        "error": error,
    }


def _merge_partial_batch(details: dict[str, Any], payload: Any) -> Any:
    blocked = details.get("blocked_by_index")
    precomputed = details.get("pre_results_by_index")
    count = details.get("original_count")
    if not (isinstance(blocked, dict) or isinstance(precomputed, dict)):
        return payload
    if not isinstance(count, int) or isinstance(count, bool) or count <= 0 or not isinstance(payload, dict):
        return payload
    supplied = payload.get("results")
    supplied = supplied if isinstance(supplied, list) else []
    if len(supplied) == count:
        return payload
    fixed: dict[str, Any] = {}
    for table in (precomputed, blocked):
        if isinstance(table, dict):
            fixed.update({str(k): v for k, v in table.items()})
    external = iter(supplied)
    merged: list[Any] = []
    for index in range(count):
        if str(index) in fixed:
            merged.append(fixed[str(index)])
            continue
        merged.append(next(external, {"success": False, "error": "Missing tool result"}))
    shaped = dict(payload)
    shaped["results"] = merged
    shaped.setdefault("mode", "executed")
    return shaped
