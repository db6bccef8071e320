"""The execution environment handed to every node runner, with routing and the control stack.

A runner is ``(ExecEnv) -> StepPlan``.  The env resolves the node's data inputs, persists its outputs in
``_temp.node_outputs`` (so data edges survive restarts), records ``_temp.prev_exec_handle`` on every
transition and picks the next node: the exec edge of the chosen handle, else the scheduler node on top of
the control stack (``_temp._control``), else the run completes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...core.host_vars import check_flow_write
from ...core.models import Effect, EffectType, RunState, StepPlan
from ...core.spec import RunContext
from ...core.vars import set_vars_path
from ..flow import Flow, FlowNode

__all__ = ["EFFECTS_KEY", "ExecEnv", "Runner", "finish_output"]

EFFECTS_KEY = "_temp.effects"


def finish_output(result: Any) -> dict[str, Any]:
    """A terminal result as run output: a dict gets ``success: True`` by default, anything else is wrapped."""
    if isinstance(result, dict):
        out = dict(result)
        out.setdefault("success", True)
        return out
    return {"response": result, "success": True}


@dataclass
class ExecEnv:
    """What a runner sees: the flow, its node, the run and the context."""

    flow: Flow
    node: FlowNode
    run: RunState
    ctx: RunContext
    routes: dict[str, dict[str, str]]

    @property
    def node_id(self) -> str:
        return self.node.node_id

    @property
    def data(self) -> dict[str, Any]:
        return self.node.data

    @property
    def vars(self) -> dict[str, Any]:
        return self.run.vars

    def temp(self) -> dict[str, Any]:
        temp = self.run.vars.get("_temp")
        if not isinstance(temp, dict):
            temp = {}
            self.run.vars["_temp"] = temp
        return temp

    def temp_dict(self, key: str) -> dict[str, Any]:
        temp = self.temp()
        value = temp.get(key)
        if not isinstance(value, dict):
            value = {}
            temp[key] = value
        return value

    def inputs(self) -> dict[str, Any]:
        """The node's data inputs (connected pins, then pinDefaults)."""
        graph = self.flow.data_graph
        if graph is None:
            return {}
        result: dict[str, Any] = graph.inputs_for(self.node_id, self.run.vars)
        return result

    def warn(self, message: str) -> None:
        warnings = self.run.vars.setdefault("_flow_warnings", [])
        if isinstance(warnings, list):
            warnings.append(message)

    # -- control stack -------------------------------------------------------------------------------
    def control(self) -> dict[str, Any]:
        ctl = self.temp_dict("_control")
        if not isinstance(ctl.get("stack"), list):
            ctl["stack"] = []
        if not isinstance(ctl.get("frames"), dict):
            ctl["frames"] = {}
        ctl.setdefault("return_to", None)
        return ctl

    def active_frame(self) -> dict[str, Any] | None:
        """This node's frame when it is the scheduler on top of the stack (a re-entry), else None."""
        ctl = self.control()
        if ctl["stack"] and ctl["stack"][-1] == self.node_id:
            frame = ctl["frames"].get(self.node_id)
            return frame if isinstance(frame, dict) else None
        return None

    def push_frame(self, frame: dict[str, Any]) -> dict[str, Any]:
        ctl = self.control()
        if not (ctl["stack"] and ctl["stack"][-1] == self.node_id):
            ctl["stack"].append(self.node_id)
        ctl["frames"][self.node_id] = frame
        return frame

    def pop_frame(self) -> None:
        ctl = self.control()
        if ctl["stack"] and ctl["stack"][-1] == self.node_id:
            ctl["stack"].pop()
        ctl["frames"].pop(self.node_id, None)

    # -- transitions ---------------------------------------------------------------------------------
    def route(self, handle: str) -> str | None:
        target = self.routes.get(self.node_id, {}).get(handle)
        if target is not None:
            return target
        stack = self.control()["stack"]
        if stack:
            self.control()["return_to"] = stack[-1]
            return str(stack[-1])
        return None

    def save_outputs(self, outputs: dict[str, Any]) -> None:
        """Persist the node's outputs (and at its ``outputKey``, which may not be host-owned)."""
        if self.node.output_key:
            check_flow_write(self.node.output_key, what=f"the outputKey of node '{self.node_id}'")
        self.temp_dict("node_outputs")[self.node_id] = outputs
        self.run.vars["_last_output"] = outputs
        if self.node.output_key:
            set_vars_path(self.run.vars, self.node.output_key, outputs)

    def go(self, handle: str, outputs: dict[str, Any] | None = None, *, result: Any = None) -> StepPlan:
        """Persist ``outputs`` (when given) and move on through ``handle`` (or complete the run)."""
        if outputs is not None:
            self.save_outputs(outputs)
        self.temp()["prev_exec_handle"] = handle
        target = self.route(handle)
        if target is not None:
            return StepPlan(node_id=self.node_id, next_node=target)
        final = result if result is not None else (outputs if outputs is not None else {})
        return StepPlan(node_id=self.node_id, complete_output=finish_output(copy.deepcopy(final)))

    def effect(
        self,
        effect_type: EffectType,
        payload: dict[str, Any],
        *,
        result_key: str | None = None,
        handle: str = "exec-out",
    ) -> StepPlan:
        """Request an effect whose result lands at ``_temp.effects.<node_id>`` (or ``result_key``)."""
        self.temp()["prev_exec_handle"] = handle
        self.temp_dict("node_outputs").pop(self.node_id, None)
        if self.count_visit() > 1:
            # The kernel reuses a completed result with the same (run, node, effect) key: a node that runs
            # again (loops) must request a distinct effect, so later visits carry their visit number.
            payload = {**payload, "flow_visit": self.temp_dict("visits")[self.node_id]}
        key = result_key or f"{EFFECTS_KEY}.{self.node_id}"
        target = self.route(handle)
        return StepPlan(node_id=self.node_id, effect=Effect(effect_type, payload, key), next_node=target)

    def count_visit(self) -> int:
        """Count one more visit of this node (``_temp.visits``) and return the new count."""
        visits = self.temp_dict("visits")
        visits[self.node_id] = int(visits.get(self.node_id, 0)) + 1
        return int(visits[self.node_id])

    def prelude(self, effect_type: EffectType, payload: dict[str, Any], *, result_key: str) -> StepPlan:
        """Request an effect this node needs *before* its own work, then run this node again.

        The result lands at ``result_key``; the node must remember (in ``_temp``) that it is waiting for
        it.  Like :meth:`effect`, a later visit of the node (loops) carries ``flow_visit`` so the kernel
        does not hand back an earlier visit's result.
        """
        visit = int(self.temp_dict("visits").get(self.node_id, 0)) + 1
        if visit > 1:
            payload = {**payload, "flow_visit": visit}
        return StepPlan(
            node_id=self.node_id, effect=Effect(effect_type, payload, result_key), next_node=self.node_id
        )

    def complete(self, output: dict[str, Any]) -> StepPlan:
        return StepPlan(node_id=self.node_id, complete_output=output)

    def fail(self, error: BaseException | str) -> StepPlan:
        """A node error completes the run with ``success: False`` (it does not fail the run)."""
        message = str(error) if not isinstance(error, BaseException) else f"{type(error).__name__}: {error}"
        self.run.vars["_flow_error"] = message
        self.run.vars["_flow_error_node"] = self.node_id
        return self.complete({"error": message, "success": False, "node": self.node_id})


Runner = Callable[[ExecEnv], StepPlan]
