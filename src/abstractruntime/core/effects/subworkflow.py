"""START_SUBWORKFLOW (SPEC §4.10): start a child run, synchronously or not, and track it.

Modes: sync (default; the child is ticked once with 100 steps and the parent waits on
``subworkflow:<child_id>`` if the child waits), ``async`` (the caller drives the child), and
``async`` + ``wait`` (the parent waits at once).  The kernel never resumes a waiting parent by itself:
the host calls ``Runtime.resume`` or ``Scheduler.resume_subworkflow_parent`` when the child ends.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ...errors import HostOwnedVarError
from ..engine.resume_payload import subworkflow_tool_result
from ..host_vars import WORKSPACE_KEYS, child_workspace_vars
from ..models import Effect, RunState, RunStatus, WaitReason, WaitState
from ..outcome import EffectOutcome
from .kernel import Kernel

__all__ = ["WORKSPACE_KEYS", "make_start_subworkflow_handler"]

_SYNC_MAX_STEPS = 100


def _child_vars(parent: RunState, payload: dict[str, Any]) -> dict[str, Any]:
    """The child's vars: the payload's, with the workspace policy inherited and never widened.

    Raises:
        HostOwnedVarError: the payload's workspace keys are wider than the parent's.
    """
    given = payload.get("vars")
    child = dict(given) if isinstance(given, dict) else {}
    workspace = child_workspace_vars(parent.vars, child)
    for key in WORKSPACE_KEYS:
        child.pop(key, None)
    child.update(copy.deepcopy(workspace))
    return child


class _Call:
    """The parsed payload of one START_SUBWORKFLOW effect."""

    def __init__(self, effect: Effect, default_next_node: str | None) -> None:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        self.payload = payload
        self.workflow_id = payload.get("workflow_id")
        self.is_async = bool(payload.get("async", False))
        self.wait = bool(payload.get("wait", False))
        self.include_traces = bool(payload.get("include_traces", False))
        self.resume_to_node = payload.get("resume_to_node") or default_next_node
        self.result_key = effect.result_key
        self.wrap = bool(payload.get("wrap_as_tool_result", False))
        self.tool_name = str(payload.get("tool_name") or payload.get("toolName") or "start_subworkflow")
        self.call_id = str(payload.get("call_id") or payload.get("callId") or "subworkflow")

    def fail(self, message: str, *, sub_run_id: str | None = None) -> EffectOutcome:
        """A failure; with tool wrapping it completes with a failed tool result instead."""
        if self.wrap:
            return EffectOutcome.completed(
                subworkflow_tool_result(
                    output=None,
                    sub_run_id=sub_run_id,
                    tool_name=self.tool_name,
                    call_id=self.call_id,
                    failed_error=message,
                )
            )
        return EffectOutcome.failed(message)

    def done(self, child: RunState, traces: dict[str, Any] | None) -> EffectOutcome:
        if self.wrap:
            return EffectOutcome.completed(
                subworkflow_tool_result(
                    output=child.output,
                    sub_run_id=child.run_id,
                    tool_name=self.tool_name,
                    call_id=self.call_id,
                )
            )
        result: dict[str, Any] = {"sub_run_id": child.run_id, "output": child.output}
        if traces is not None:
            result["node_traces"] = traces
        return EffectOutcome.completed(result)

    def wait_for(
        self, child_id: str, *, is_async: bool, sub_waiting: dict[str, Any] | None = None
    ) -> EffectOutcome:
        details: dict[str, Any] = {
            "sub_run_id": child_id,
            "sub_workflow_id": self.workflow_id,
            "async": is_async,
            "include_traces": self.include_traces,
        }
        if sub_waiting is not None:
            details["sub_waiting"] = sub_waiting
        if self.wrap:
            details.update(
                {"wrap_as_tool_result": True, "tool_name": self.tool_name, "call_id": self.call_id}
            )
        wait = WaitState(
            reason=WaitReason.SUBWORKFLOW,
            wait_key=f"subworkflow:{child_id}",
            resume_to_node=self.resume_to_node,
            result_key=self.result_key,
            details=details,
        )
        return EffectOutcome.waiting(wait)


def make_start_subworkflow_handler(kernel: Kernel) -> Callable[[RunState, Effect, str | None], EffectOutcome]:
    """A START_SUBWORKFLOW handler bound to ``kernel``.

    Payload: ``workflow_id`` (required), ``vars``, ``async``, ``wait``, ``include_traces``,
    ``resume_to_node``, ``session_id``/``sessionId``, ``wrap_as_tool_result`` with
    ``tool_name``/``toolName`` and ``call_id``/``callId``.
    """

    def start_subworkflow(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        call = _Call(effect, default_next_node)
        if not call.workflow_id:
            return call.fail("start_subworkflow requires payload.workflow_id")
        registry = kernel.workflow_registry
        if registry is None:
            return call.fail("start_subworkflow requires a workflow_registry")
        spec = registry.get(str(call.workflow_id))
        if spec is None:
            return call.fail(
                f"Subworkflow '{call.workflow_id}' not found: it is not registered in the workflow registry"
            )
        session_id = call.payload.get("session_id") or call.payload.get("sessionId") or run.session_id
        try:
            child_vars = _child_vars(run, call.payload)
        except HostOwnedVarError as exc:
            return EffectOutcome.failed(f"HostOwnedVarError: {exc}")
        child_id = kernel.start(
            workflow=spec,
            vars=child_vars,
            actor_id=run.actor_id,
            session_id=session_id,
            parent_run_id=run.run_id,
        )
        if call.is_async:
            if call.wait:
                return call.wait_for(child_id, is_async=True)
            return EffectOutcome.completed({"sub_run_id": child_id, "async": True})
        try:
            child = kernel.tick(workflow=spec, run_id=child_id, max_steps=_SYNC_MAX_STEPS)
        except Exception as exc:  # noqa: BLE001 - reported as the effect's failure, as documented
            return call.fail(f"Subworkflow '{call.workflow_id}' failed: {exc}", sub_run_id=child_id)
        if child.status == RunStatus.COMPLETED:
            traces = _node_traces(child) if call.include_traces else None
            return call.done(child, traces)
        if child.status == RunStatus.FAILED:
            return call.fail(child.error or "Subworkflow failed", sub_run_id=child_id)
        if child.status == RunStatus.WAITING and child.waiting is not None:
            sub_waiting = {
                "reason": WaitReason(child.waiting.reason).value,
                "wait_key": child.waiting.wait_key,
            }
            return call.wait_for(child_id, is_async=False, sub_waiting=sub_waiting)
        return call.fail(
            f"Unexpected subworkflow status: {RunStatus(child.status).value}", sub_run_id=child_id
        )

    return start_subworkflow


def _node_traces(run: RunState) -> dict[str, Any]:
    runtime_ns = run.vars.get("_runtime")
    traces = runtime_ns.get("node_traces") if isinstance(runtime_ns, dict) else None
    return copy.deepcopy(traces) if isinstance(traces, dict) else {}
