"""Attack replays: a flow file may not raise its own run budget (``_limits.budget``, ``core/budget.py``).

The budget is host-owned: ``set_var``/``set_vars``/``set_var_property`` on ``_limits.budget`` (or on
``_limits`` as a whole, which would drop it) fail the run with ``HostOwnedVarError`` and the budget stays
what the host set.  Other ``_limits`` keys stay writable by flows.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from abstractruntime import Runtime
from abstractruntime.core.host_vars import check_flow_write, is_host_owned_path
from abstractruntime.core.models import RunStatus
from abstractruntime.errors import HostOwnedVarError
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.visualflow_compiler import compile_visualflow_tree

EXEC = {"id": "exec-in", "type": "execution"}
OUT = {"id": "exec-out", "type": "execution"}


def pin(pin_id: str) -> dict[str, Any]:
    return {"id": pin_id, "type": "any"}


def node(node_id: str, node_type: str, inputs: list[Any], outputs: list[Any], **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "data": {"inputs": inputs, "outputs": outputs, **data}}


def linear(flow_id: str, middle: list[dict[str, Any]]) -> dict[str, Any]:
    nodes = [node("start", "on_flow_start", [], [OUT]), *middle, node("end", "on_flow_end", [EXEC], [])]
    ids = [n["id"] for n in nodes]
    edges = [
        {"source": a, "sourceHandle": "exec-out", "target": b, "targetHandle": "exec-in"}
        for a, b in itertools.pairwise(ids)
    ]
    return {"id": flow_id, "name": flow_id, "nodes": nodes, "edges": edges, "entryNode": "start"}


def set_var(node_id: str, name: str, value: Any) -> dict[str, Any]:
    return node(
        node_id,
        "set_var",
        [EXEC, pin("name"), pin("value")],
        [OUT],
        pinDefaults={"name": name, "value": value},
    )


def run_flows(flows: dict[str, dict[str, Any]], root: str, vars: dict[str, Any]) -> tuple[Runtime, Any]:
    specs = compile_visualflow_tree(root_id=root, flows_by_id=flows)
    registry = WorkflowRegistry()
    for spec in specs.values():
        registry.register(spec)
    runtime = Runtime(
        run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore(), workflow_registry=registry
    )
    run_id = runtime.start(workflow=specs[root], vars=copy.deepcopy(vars))
    return runtime, runtime.tick(workflow=specs[root], run_id=run_id, max_steps=200)


BUDGET = {"_limits": {"max_iterations": 5, "budget": {"max_llm_calls": 2}}}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_limits.budget.max_llm_calls", 1000),
        ("_limits.budget", {}),
        (" _limits . budget ", None),
        ("_limits", {"max_iterations": 5}),
    ],
)
def test_set_var_on_the_budget_fails_the_run(name: str, value: Any) -> None:
    doc = linear("attack", [set_var("evil", name, value), set_var("after", "reached", True)])
    runtime, state = run_flows({"attack": doc}, "attack", BUDGET)
    assert state.status == RunStatus.FAILED
    assert "HostOwnedVarError" in (state.error or "")
    stored = runtime.get_state(state.run_id)
    assert stored.vars["_limits"]["budget"] == {"max_llm_calls": 2}
    assert "reached" not in stored.vars


def test_set_vars_and_set_var_property_on_the_budget_are_refused() -> None:
    set_vars = node(
        "evil", "set_vars", [EXEC, pin("updates")], [OUT],
        pinDefaults={"updates": {"harmless": 1, "_limits.budget.max_tokens": 10**9}},
    )  # fmt: skip
    _, state = run_flows({"a": linear("a", [set_vars])}, "a", BUDGET)
    assert state.status == RunStatus.FAILED and "_limits.budget" in (state.error or "")
    assert "harmless" not in state.vars
    assert state.vars["_limits"]["budget"] == {"max_llm_calls": 2}

    prop = node(
        "evil", "set_var_property", [EXEC, pin("name"), pin("key"), pin("value")], [OUT],
        pinDefaults={"name": "_limits", "key": "budget", "value": {}},
    )  # fmt: skip
    _, state = run_flows({"b": linear("b", [prop])}, "b", BUDGET)
    assert state.status == RunStatus.FAILED
    assert state.vars["_limits"]["budget"] == {"max_llm_calls": 2}


def test_other_limits_stay_writable_by_flows() -> None:
    doc = linear("ok", [set_var("n", "_limits.max_iterations", 9)])
    _, state = run_flows({"ok": doc}, "ok", BUDGET)
    assert state.status == RunStatus.COMPLETED
    assert state.vars["_limits"] == {"max_iterations": 9, "budget": {"max_llm_calls": 2}}
    check_flow_write("_limits.max_tokens")
    check_flow_write("_limits.budgets")  # a different key, not the budget
    assert not is_host_owned_path("_limits")
    assert is_host_owned_path("_limits.budget.max_wall_s")
    with pytest.raises(HostOwnedVarError):
        check_flow_write("_limits.budget.max_wall_s")
