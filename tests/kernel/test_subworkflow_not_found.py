"""START_SUBWORKFLOW with a workflow id the registry does not know (SPEC §4.10 preconditions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunStatus, Runtime, StepPlan, WorkflowSpec


def spawner(payload: dict[str, Any]) -> WorkflowSpec:
    effect = Effect(type=EffectType.START_SUBWORKFLOW, payload=payload, result_key="sub")
    return WorkflowSpec(
        workflow_id="parent",
        entry_node="spawn",
        nodes={
            "spawn": lambda run, ctx: StepPlan(node_id="spawn", effect=effect, next_node="end"),
            "end": lambda run, ctx: StepPlan(node_id="end", complete_output={"sub": run.vars["sub"]}),
        },
    )


@pytest.mark.parametrize("mode", [{}, {"async": True}, {"async": True, "wait": True}])
def test_an_unregistered_subworkflow_fails_with_not_found(
    make_runtime: Callable[..., Runtime], registry: Any, mode: dict[str, Any]
) -> None:
    runtime = make_runtime(workflow_registry=registry)  # an empty registry
    flow = spawner({"workflow_id": "missing_flow", **mode})
    run = runtime.tick(workflow=flow, run_id=runtime.start(workflow=flow))

    assert run.status == RunStatus.FAILED
    assert run.error is not None and "not found" in run.error and "missing_flow" in run.error
    assert [r.run_id for r in runtime.run_store.list_runs()] == [run.run_id]  # no child was created


def test_with_tool_wrapping_the_not_found_failure_is_a_tool_result(
    make_runtime: Callable[..., Runtime], registry: Any
) -> None:
    runtime = make_runtime(workflow_registry=registry)  # an empty registry
    flow = spawner(
        {"workflow_id": "missing_flow", "wrap_as_tool_result": True, "tool_name": "delegate", "call_id": "c9"}
    )
    run = runtime.tick(workflow=flow, run_id=runtime.start(workflow=flow))

    assert run.status == RunStatus.COMPLETED
    (result,) = run.output["sub"]["results"]
    assert (result["name"], result["call_id"], result["success"]) == ("delegate", "c9", False)
    assert "not found" in result["error"] and "missing_flow" in result["error"]
