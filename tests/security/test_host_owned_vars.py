"""Attack replays: a flow file may not write host-owned vars (``_runtime``, the workspace policy).

Each test is a hostile VisualFlow that tries to change what the host decided: how the CLI reloads the run
(``_runtime.cli_target``), where file nodes may write (``workspace_root`` / ``workspace_access_mode``),
through ``set_var``/``set_vars``/``set_var_property``, a node's ``outputKey``, a start pin default, a
subflow's inputs, or a resume payload.  Each is refused: the run fails with ``HostOwnedVarError`` and the
host-owned values are what the host set.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.models import RunStatus
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.visualflow_compiler import compile_visualflow_tree

EXEC = {"id": "exec-in", "type": "execution"}
OUT = {"id": "exec-out", "type": "execution"}


def pin(pin_id: str) -> dict[str, Any]:
    return {"id": pin_id, "type": "any"}


def node(node_id: str, node_type: str, inputs: list[Any], outputs: list[Any], **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "data": {"inputs": inputs, "outputs": outputs, **data}}


def edge(source: str, handle: str, target: str, target_handle: str = "exec-in") -> dict[str, Any]:
    return {"source": source, "sourceHandle": handle, "target": target, "targetHandle": target_handle}


def start(*outs: str, **defaults: Any) -> dict[str, Any]:
    return node("start", "on_flow_start", [], [OUT, *(pin(o) for o in outs)], pinDefaults=defaults)


def end() -> dict[str, Any]:
    return node("end", "on_flow_end", [EXEC], [])


def linear(flow_id: str, middle: list[dict[str, Any]], first: dict[str, Any] | None = None) -> dict[str, Any]:
    nodes = [first or start(), *middle, end()]
    ids = [n["id"] for n in nodes]
    edges = [edge(a, "exec-out", b) for a, b in itertools.pairwise(ids)]
    return {"id": flow_id, "name": flow_id, "nodes": nodes, "edges": edges, "entryNode": "start"}


def set_var(node_id: str, name: str, value: Any) -> dict[str, Any]:
    return node(
        node_id,
        "set_var",
        [EXEC, pin("name"), pin("value")],
        [OUT],
        pinDefaults={"name": name, "value": value},
    )


def run_flows(
    flows: dict[str, dict[str, Any]], root: str, vars: dict[str, Any] | None = None
) -> tuple[Runtime, Any]:
    specs = compile_visualflow_tree(root_id=root, flows_by_id=flows)
    registry = WorkflowRegistry()
    for spec in specs.values():
        registry.register(spec)
    runtime = Runtime(
        run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore(), workflow_registry=registry
    )
    run_id = runtime.start(workflow=specs[root], vars=dict(vars or {}))
    return runtime, runtime.tick(workflow=specs[root], run_id=run_id, max_steps=200)


HOST_VARS = {"workspace_root": "", "workspace_access_mode": "workspace_only"}


@pytest.fixture
def host_vars(tmp_path: Path) -> dict[str, Any]:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return {**HOST_VARS, "workspace_root": str(workspace), "_runtime": {"cli_target": "/trusted/flow.json"}}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_runtime.cli_target", "/tmp/evil.py:flow"),
        ("_runtime", {"cli_target": "/tmp/evil.py:flow"}),
        ("workspace_root", "/"),
        ("workspace_access_mode", "all_except_ignored"),
        ("workspace_allowed_paths", ["/"]),
        (" workspace_root ", "/"),
    ],
)
def test_set_var_on_a_host_owned_path_fails_the_run(host_vars: dict[str, Any], name: str, value: Any) -> None:
    doc = linear("attack", [set_var("evil", name, value), set_var("after", "reached", True)])
    runtime, state = run_flows({"attack": doc}, "attack", host_vars)
    assert state.status == RunStatus.FAILED
    assert "HostOwnedVarError" in (state.error or "")
    stored = runtime.get_state(state.run_id)
    assert stored.status == RunStatus.FAILED
    assert stored.vars["workspace_root"] == host_vars["workspace_root"]
    assert stored.vars["workspace_access_mode"] == "workspace_only"
    assert stored.vars["_runtime"]["cli_target"] == "/trusted/flow.json"
    assert "reached" not in stored.vars


def test_set_vars_and_set_var_property_are_refused(host_vars: dict[str, Any]) -> None:
    set_vars = node(
        "evil", "set_vars", [EXEC, pin("updates")], [OUT],
        pinDefaults={"updates": {"harmless": 1, "workspace_access_mode": "all_except_ignored"}},
    )  # fmt: skip
    _, state = run_flows({"a": linear("a", [set_vars])}, "a", host_vars)
    assert state.status == RunStatus.FAILED and "workspace_access_mode" in (state.error or "")
    assert "harmless" not in state.vars  # refused before anything was written

    prop = node(
        "evil", "set_var_property", [EXEC, pin("name"), pin("key"), pin("value")], [OUT],
        pinDefaults={"name": "_runtime", "key": "cli_target", "value": "/tmp/x.py:f"},
    )  # fmt: skip
    _, state = run_flows({"b": linear("b", [prop])}, "b", host_vars)
    assert state.status == RunStatus.FAILED and state.vars["_runtime"]["cli_target"] == "/trusted/flow.json"


def test_output_key_cannot_target_runtime(host_vars: dict[str, Any]) -> None:
    code = node(
        "evil", "code", [EXEC, pin("input")], [OUT, pin("output")],
        code="def transform(input):\n    return '/tmp/evil.py:flow'\n", functionName="transform",
        outputKey="_runtime.cli_target",
    )  # fmt: skip
    _, state = run_flows({"c": linear("c", [code])}, "c", host_vars)
    assert state.status == RunStatus.FAILED
    assert state.vars["_runtime"]["cli_target"] == "/trusted/flow.json"


def test_flow_may_still_write_limits_and_its_own_vars(host_vars: dict[str, Any]) -> None:
    doc = linear("ok", [set_var("a", "_limits.max_iterations", 7), set_var("b", "scratchpad.note", "hi")])
    _, state = run_flows({"ok": doc}, "ok", host_vars)
    assert state.status == RunStatus.COMPLETED
    assert state.vars["_limits"]["max_iterations"] == 7
    assert state.vars["scratchpad"]["note"] == "hi"


def test_start_pin_default_cannot_set_the_workspace(tmp_path: Path) -> None:
    doc = linear("p", [], first=start("workspace_root", "workspace_access_mode", workspace_root="/"))
    _, state = run_flows({"p": doc}, "p", {})
    assert state.status == RunStatus.FAILED and "workspace_root" in (state.error or "")
    assert "workspace_root" not in state.vars

    blank = linear("q", [], first=start("workspace_root", workspace_root=""))
    _, state = run_flows({"q": blank}, "q", {})
    assert state.status == RunStatus.COMPLETED and "workspace_root" not in state.vars

    given = linear("r", [], first=start("workspace_root", workspace_root="/"))
    _, state = run_flows({"r": given}, "r", {"workspace_root": str(tmp_path)})
    assert state.status == RunStatus.COMPLETED and state.vars["workspace_root"] == str(tmp_path)


def _parent_calling_child(inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sub = node(
        "call", "subflow", [EXEC, *(pin(k) for k in inputs)], [OUT, pin("output")],
        subflowId="child", pinDefaults=inputs,
    )  # fmt: skip
    child = linear("child", [], first=start("workspace_root", "workspace_access_mode"))
    return {"parent": linear("parent", [sub]), "child": child}


def test_subflow_inputs_cannot_widen_the_child_workspace(host_vars: dict[str, Any]) -> None:
    flows = _parent_calling_child({"workspace_root": "/", "workspace_access_mode": "all_except_ignored"})
    runtime, state = run_flows(flows, "parent", host_vars)
    assert state.status == RunStatus.FAILED and "HostOwnedVarError" in (state.error or "")
    children = [r for r in runtime.run_store.list_runs(limit=10) if r.parent_run_id == state.run_id]  # type: ignore[attr-defined]
    assert children == []  # the child was never started


def test_subflow_inputs_repeating_the_parent_policy_are_fine(host_vars: dict[str, Any]) -> None:
    flows = _parent_calling_child({"workspace_root": host_vars["workspace_root"]})
    runtime, state = run_flows(flows, "parent", host_vars)
    assert state.status == RunStatus.COMPLETED
    children = [r for r in runtime.run_store.list_runs(limit=10) if r.parent_run_id == state.run_id]  # type: ignore[attr-defined]
    assert [c.vars["workspace_root"] for c in children] == [host_vars["workspace_root"]]
    assert children[0].vars["workspace_access_mode"] == "workspace_only"


def _kernel_parent(child_vars: dict[str, Any]) -> tuple[WorkflowSpec, WorkflowSpec]:
    child = WorkflowSpec(
        workflow_id="k_child",
        entry_node="done",
        nodes={"done": lambda run, ctx: StepPlan(node_id="done", complete_output={"ok": True})},
    )

    def call(run: Any, ctx: Any) -> StepPlan:
        payload = {"workflow_id": "k_child", "vars": child_vars}
        return StepPlan(
            node_id="call", effect=Effect(EffectType.START_SUBWORKFLOW, payload, "out"), next_node="fin"
        )

    parent = WorkflowSpec(
        workflow_id="k_parent",
        entry_node="call",
        nodes={"call": call, "fin": lambda run, ctx: StepPlan(node_id="fin", complete_output={"done": True})},
    )
    return parent, child


@pytest.mark.parametrize(
    ("given", "allowed"),
    [
        ({"workspace_root": "/"}, False),
        ({"workspace_access_mode": "all_except_ignored"}, False),
        ({"workspace_access_mode": "workspace_or_allowed", "workspace_allowed_paths": ["/etc"]}, False),
        ({"workspace_root": "sub"}, True),  # relative to the parent's root: a narrower root
        ({"workspace_access_mode": "read_only"}, True),
        ({}, True),
    ],
)
def test_a_child_run_never_widens_the_policy_it_inherits(
    host_vars: dict[str, Any], given: dict[str, Any], allowed: bool
) -> None:
    if given.get("workspace_root") == "sub":
        given = {"workspace_root": str(Path(host_vars["workspace_root"]) / "sub")}
    parent, child = _kernel_parent(given)
    registry = WorkflowRegistry()
    registry.register(parent)
    registry.register(child)
    runtime = Runtime(
        run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore(), workflow_registry=registry
    )
    run_id = runtime.start(workflow=parent, vars={**host_vars, "workspace_ignored_paths": ["secret"]})
    state = runtime.tick(workflow=parent, run_id=run_id)
    if not allowed:
        assert state.status == RunStatus.FAILED and "widen" in (state.error or "")
        return
    assert state.status == RunStatus.COMPLETED
    kids = [r for r in runtime.run_store.list_runs(limit=10) if r.parent_run_id == run_id]  # type: ignore[attr-defined]
    assert len(kids) == 1
    ignored = kids[0].vars["workspace_ignored_paths"]
    assert str(Path(host_vars["workspace_root"]).resolve() / "secret") in ignored or ignored == ["secret"]


def test_resume_payload_cannot_reach_host_owned_vars(host_vars: dict[str, Any]) -> None:
    ask = node(
        "ask",
        "ask_user",
        [EXEC, pin("prompt")],
        [OUT, pin("response")],
        pinDefaults={"prompt": "Say anything"},
    )
    doc = linear("resume_attack", [ask])
    specs = compile_visualflow_tree(root_id="resume_attack", flows_by_id={"resume_attack": doc})
    spec = specs["resume_attack"]
    runtime = Runtime(run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore())
    run_id = runtime.start(workflow=spec, vars=host_vars)
    state = runtime.tick(workflow=spec, run_id=run_id)
    assert state.status == RunStatus.WAITING and state.waiting is not None
    hostile = {
        "text": "hi",
        "workspace_root": "/",
        "workspace_access_mode": "all_except_ignored",
        "_runtime": {"cli_target": "/tmp/evil.py:flow"},
    }
    state = runtime.resume(workflow=spec, run_id=run_id, wait_key=state.waiting.wait_key, payload=hostile)
    assert state.status == RunStatus.COMPLETED
    assert state.vars["workspace_root"] == host_vars["workspace_root"]
    assert state.vars["workspace_access_mode"] == "workspace_only"
    assert state.vars["_runtime"]["cli_target"] == "/trusted/flow.json"
