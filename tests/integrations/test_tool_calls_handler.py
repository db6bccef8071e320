"""The TOOL_CALLS handler on a real Runtime (SPEC §11.3, §11.4, §4.6): in memory and over SQLite."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunStatus, Runtime, StepPlan, WaitReason, WorkflowSpec
from abstractruntime.integrations.abstractcore.tool_executor import (
    ApprovalToolExecutor,
    MappingToolExecutor,
    PassthroughToolExecutor,
)
from abstractruntime.integrations.abstractcore.tool_handler import make_tool_calls_handler
from abstractruntime.storage.in_memory import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLedgerStore, SqliteRunStore

MakeRuntime = Callable[[Any], Runtime]


@pytest.fixture(params=["memory", "sqlite"])
def make_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeRuntime]:
    """``make_runtime(executor)``: a Runtime whose TOOL_CALLS handler uses ``executor``; SQLite runtimes
    made by one fixture share one database file (a new Runtime reopens the same store)."""
    dbs: list[SqliteDatabase] = []
    memory = (InMemoryRunStore(), InMemoryLedgerStore())

    def make(executor: Any) -> Runtime:
        if request.param == "memory":
            run_store, ledger_store = memory
        else:
            db = SqliteDatabase(tmp_path / "runs.db")
            dbs.append(db)
            run_store, ledger_store = SqliteRunStore(db), SqliteLedgerStore(db)  # type: ignore[assignment]
        runtime = Runtime(
            run_store=run_store,
            ledger_store=ledger_store,
            effect_handlers={EffectType.TOOL_CALLS: make_tool_calls_handler(tools=executor)},
        )
        runtime.set_tool_executor_for_resume(executor)
        return runtime

    yield make
    for db in dbs:
        db.close()


def tool_flow(calls: list[dict[str, Any]], **payload: Any) -> WorkflowSpec:
    effect = Effect(type=EffectType.TOOL_CALLS, payload={"tool_calls": calls, **payload}, result_key="tools")

    def tools(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(node_id="tools", effect=effect, next_node="done")

    def done(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"tools": run.vars["tools"]})

    return WorkflowSpec(workflow_id="tool_flow", entry_node="tools", nodes={"tools": tools, "done": done})


def call(name: str, call_id: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "call_id": call_id, "arguments": arguments}


def run_flow(runtime: Runtime, flow: WorkflowSpec, **vars: Any) -> tuple[str, Any]:
    run_id = runtime.start(workflow=flow, vars=vars or None)
    return run_id, runtime.tick(workflow=flow, run_id=run_id)


class Counting:
    """A tool map that counts how often each tool ran."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []

    def executor(self) -> MappingToolExecutor:
        def record(name: str) -> Callable[..., Any]:
            def tool(**kwargs: Any) -> str:
                self.ran.append((name, kwargs))
                return f"{name} ok"

            tool.__name__ = name
            return tool

        return MappingToolExecutor.from_tools(
            [record(n) for n in ("add", "write_file", "read_file", "list_files", "deploy")]
        )


def test_executes_and_records_results_in_order(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(MappingToolExecutor({"add": lambda a, b: a + b}))
    flow = tool_flow([call("add", "c1", a=1, b=2), call("nope", "c2"), call("add", "c3", a=2, b=2)])
    run_id, state = run_flow(runtime, flow)
    assert state.status == RunStatus.COMPLETED
    results = state.output["tools"]["results"]
    assert [r["call_id"] for r in results] == ["c1", "c2", "c3"]
    assert [r["output"] for r in results] == [3, None, 4]
    assert results[1]["error"] == "Tool 'nope' not found"
    assert all(r["runtime_call_id"].startswith("rtcall_") for r in results)
    completed = [r for r in runtime.get_ledger(run_id) if r["status"] == "completed" and r["effect"]]
    assert completed[0]["result"]["results"] == results


def test_allowed_tools_block_without_echoing_arguments(make_runtime: MakeRuntime) -> None:
    tools = Counting()
    runtime = make_runtime(tools.executor())
    flow = tool_flow(
        [call("add", "c1"), call("deploy", "c2", secret="hunter2"), {"call_id": "c3", "arguments": {}}],
        allowed_tools=["add"],
    )
    _, state = run_flow(runtime, flow)
    results = state.output["tools"]["results"]
    assert [r["success"] for r in results] == [True, False, False]
    assert results[1]["error"] == "Tool 'deploy' is not allowed at this node"
    assert "hunter2" not in repr(results)
    assert [name for name, _ in tools.ran] == ["add"]


def test_workspace_policy_blocks_and_confines_paths(make_runtime: MakeRuntime, tmp_path: Path) -> None:
    tools = Counting()
    runtime = make_runtime(tools.executor())
    root = tmp_path / "ws"
    flow = tool_flow(
        [
            call("read_file", "ok", file_path="notes/a.txt"),
            call("read_file", "up", file_path="../secret.txt"),
            call("read_file", "abs", path="/etc/passwd"),
            call("list_files", "root", directory="."),
            call("add", "other", path="/etc/passwd"),  # not a file tool: not checked
        ]
    )
    _, state = run_flow(runtime, flow, workspace_root=str(root))
    results = state.output["tools"]["results"]
    assert [r["success"] for r in results] == [True, False, False, True, True]
    assert results[1]["error"].startswith("Workspace policy refused read_file")
    assert "absolute" in results[2]["error"]
    ran = dict(tools.ran)
    assert ran["read_file"] == {"file_path": str(root.resolve() / "notes" / "a.txt")}
    assert ran["list_files"] == {"directory": str(root.resolve())}

    read_only = tool_flow([call("write_file", "w", file_path="x.txt", content="x")])
    _, state = run_flow(runtime, read_only, workspace_root=str(root), workspace_access_mode="read_only")
    assert "read-only" in state.output["tools"]["results"][0]["error"]
    bad_mode = tool_flow([call("read_file", "r", file_path="x.txt")])
    _, state = run_flow(runtime, bad_mode, workspace_root=str(root), workspace_access_mode="anything")
    assert state.status == RunStatus.FAILED and "workspace_access_mode" in (state.error or "")


def test_passthrough_waits_and_resumes_with_results(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(PassthroughToolExecutor())
    flow = tool_flow(
        [call("add", "c1", a=1), call("blocked", "c2"), call("add", "c3")], allowed_tools=["add"]
    )
    run_id, state = run_flow(runtime, flow)
    assert state.status == RunStatus.WAITING
    wait = state.waiting
    assert wait.reason == WaitReason.EVENT
    assert wait.wait_key == f"tool_calls:{run_id}:tools"
    assert wait.resume_to_node == "done" and wait.result_key == "tools"
    assert [c["call_id"] for c in wait.details["tool_calls"]] == ["c1", "c3"]
    assert wait.details["original_call_count"] == 3 and "1" in wait.details["blocked_by_index"]
    supplied = [{"call_id": "c1", "name": "add", "success": True, "output": 1, "error": None}]
    done = runtime.resume(workflow=flow, run_id=run_id, wait_key=wait.wait_key, payload={"results": supplied})
    assert done.status == RunStatus.COMPLETED
    results = done.output["tools"]["results"]
    assert [r.get("call_id") for r in results] == ["c1", "c2", None]
    assert results[1]["error"] == "Tool 'blocked' is not allowed at this node"
    assert results[2] == {"success": False, "error": "Missing tool result"}


def test_custom_wait_key_and_delegated_reason(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(PassthroughToolExecutor(mode="delegated"))
    _, state = run_flow(runtime, tool_flow([call("add", "c1")], wait_key="my-key"))
    assert state.waiting.reason == WaitReason.JOB and state.waiting.wait_key == "my-key"


def _approval_runtime(make_runtime: MakeRuntime, tools: Counting) -> Runtime:
    executor = ApprovalToolExecutor(delegate=tools.executor(), wait_key_factory=lambda: "tool_approval:k1")
    return make_runtime(executor)


APPROVAL_CALLS = [
    call("write_file", "w1", file_path="out.txt"),
    call("deploy", "d1"),
    call("read_file", "r1"),
]


def test_safe_batch_runs_without_approval(make_runtime: MakeRuntime) -> None:
    tools = Counting()
    runtime = _approval_runtime(make_runtime, tools)
    _, state = run_flow(runtime, tool_flow([call("read_file", "r1"), call("list_files", "l1")]))
    assert state.status == RunStatus.COMPLETED
    assert [name for name, _ in tools.ran] == ["read_file", "list_files"]


def test_approval_wait_then_approve_runs_exactly_once(make_runtime: MakeRuntime) -> None:
    tools = Counting()
    runtime = _approval_runtime(make_runtime, tools)
    flow = tool_flow(APPROVAL_CALLS, allowed_tools=["write_file", "read_file"])
    run_id, state = run_flow(runtime, flow)
    assert state.status == RunStatus.WAITING and tools.ran == []
    wait = state.waiting
    assert wait.reason == WaitReason.USER and wait.wait_key == "tool_approval:k1"
    assert wait.details["mode"] == "approval_required" and wait.details["kind"] == "tool_approval"
    assert "write_file" in (wait.prompt or "") and "[w1]" in (wait.prompt or "")
    assert "deploy" not in repr(wait.details["tool_calls"])

    resumed = make_runtime(ApprovalToolExecutor(delegate=tools.executor()))  # a new Runtime, same store
    done = resumed.resume(
        workflow=flow, run_id=run_id, wait_key="tool_approval:k1", payload={"approved": True}
    )
    assert done.status == RunStatus.COMPLETED
    assert [name for name, _ in tools.ran] == ["write_file", "read_file"]
    results = done.output["tools"]["results"]
    assert [r["call_id"] for r in results] == ["w1", "d1", "r1"]
    assert [r["success"] for r in results] == [True, False, True]
    # the kernel recorded the results under the step's key: ticking again never re-runs the tools
    again = resumed.tick(workflow=flow, run_id=run_id)
    assert again.status == RunStatus.COMPLETED and len(tools.ran) == 2


def test_approval_denied(make_runtime: MakeRuntime) -> None:
    tools = Counting()
    runtime = _approval_runtime(make_runtime, tools)
    flow = tool_flow(APPROVAL_CALLS[:1])
    run_id, _ = run_flow(runtime, flow)
    payload = {"approved": False, "reason": "not today"}
    done = runtime.resume(workflow=flow, run_id=run_id, wait_key="tool_approval:k1", payload=payload)
    assert done.status == RunStatus.COMPLETED and tools.ran == []
    assert done.output["tools"]["results"][0]["error"] == "not today"


def test_missing_executor_and_bad_payload_fail() -> None:
    runtime = Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        effect_handlers={EffectType.TOOL_CALLS: make_tool_calls_handler()},
    )
    _, state = run_flow(runtime, tool_flow([call("add", "c1")]))
    assert state.status == RunStatus.FAILED and "No ToolExecutor configured" in (state.error or "")
    runtime = Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        effect_handlers={EffectType.TOOL_CALLS: make_tool_calls_handler(tools=PassthroughToolExecutor())},
    )
    bad = Effect(type=EffectType.TOOL_CALLS, payload={"tool_calls": "nope"}, result_key="tools")
    flow = WorkflowSpec(
        workflow_id="bad",
        entry_node="t",
        nodes={"t": lambda run, ctx: StepPlan(node_id="t", effect=bad, next_node=None)},
    )
    _, state = run_flow(runtime, flow)
    assert state.status == RunStatus.FAILED and "tool_calls" in (state.error or "")


def test_executor_returning_too_few_results_gets_missing_entries(make_runtime: MakeRuntime) -> None:
    class Short:
        def execute(self, *, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
            return {"mode": "executed", "results": [{"success": True, "output": "first", "error": None}]}

    runtime = make_runtime(Short())
    _, state = run_flow(runtime, tool_flow([call("a", "c1"), call("b", "c2")]))
    results = state.output["tools"]["results"]
    assert results[0]["call_id"] == "c1" and results[0]["output"] == "first"
    assert results[1]["call_id"] == "c2" and results[1]["error"] == "Missing tool result"


@pytest.mark.parametrize(
    "decision",
    [{"w1": True, "w2": False}, ["w1"], {"w1": True}],
    ids=["dict", "list", "dict-missing-is-denied"],
)
def test_partial_approval_runs_only_approved_calls(make_runtime: MakeRuntime, decision: Any) -> None:
    tools = Counting()
    runtime = _approval_runtime(make_runtime, tools)
    flow = tool_flow(
        [call("write_file", "w1", n=1), call("deploy", "x", n=9), call("write_file", "w2", n=2)],
        allowed_tools=["write_file"],
    )
    run_id, _ = run_flow(runtime, flow)
    payload = {"approved": decision, "reason": "only the first"}
    done = runtime.resume(workflow=flow, run_id=run_id, wait_key="tool_approval:k1", payload=payload)
    assert tools.ran == [("write_file", {"n": 1})]
    results = done.output["tools"]["results"]
    assert [r["call_id"] for r in results] == ["w1", "x", "w2"]
    assert [r["success"] for r in results] == [True, False, False]
    assert results[2]["error"] == "only the first"


@pytest.mark.parametrize("decision", ["yes", "false", 1, None, {"w1": "true"}])
def test_non_boolean_approval_approves_nothing(make_runtime: MakeRuntime, decision: Any) -> None:
    tools = Counting()
    runtime = _approval_runtime(make_runtime, tools)
    flow = tool_flow([call("write_file", "w1")])
    run_id, _ = run_flow(runtime, flow)
    done = runtime.resume(
        workflow=flow, run_id=run_id, wait_key="tool_approval:k1", payload={"approved": decision}
    )
    assert tools.ran == []
    assert done.output["tools"]["results"][0]["error"] == "Denied by user"


def test_workspace_check_sees_what_the_executor_sees(make_runtime: MakeRuntime, tmp_path: Path) -> None:
    """Synonyms, nested ``arguments`` and JSON strings cannot carry a path past the check."""
    seen: list[str] = []

    def read_file(file_path: str) -> str:
        seen.append(file_path)
        return "read"

    runtime = make_runtime(MappingToolExecutor.from_tools([read_file]))
    root = tmp_path / "ws"
    flow = tool_flow(
        [
            call("read_file", "syn", fname="/etc/passwd"),
            call("read_file", "nested", arguments={"file_path": "/etc/passwd"}, other=1),
            {"name": "read_file", "call_id": "json", "arguments": '{"arguments": {"FilePath": "../x"}}'},
            call("read_file", "list", paths=["ok.txt", "../x"]),
            call("read_file", "abs_inside", file_path=str(root.resolve() / "in.txt")),
        ]
    )
    _, state = run_flow(runtime, flow, workspace_root=str(root))
    results = state.output["tools"]["results"]
    assert [r["success"] for r in results] == [False, False, False, False, True]
    assert all(r["error"].startswith("Workspace policy refused read_file") for r in results[:4])
    assert seen == [str(root.resolve() / "in.txt")]


def test_executor_errors_become_failed_results(make_runtime: MakeRuntime) -> None:
    class Broken:
        def execute(self, *, tool_calls: list[dict[str, Any]]) -> Any:
            raise ConnectionError("worker gone")

    class Odd:
        def execute(self, *, tool_calls: list[dict[str, Any]]) -> Any:
            return {"mode": "later", "wait_reason": "until"}  # a wait reason an executor may not pick

    _, state = run_flow(make_runtime(Broken()), tool_flow([call("a", "c1")]))
    assert state.output["tools"]["results"][0]["error"] == "Tool execution failed: worker gone"
    _, state = run_flow(make_runtime(Odd()), tool_flow([call("a", "c1")]))
    assert state.waiting.reason == WaitReason.EVENT
    assert state.waiting.details["tool_calls"] == [call("a", "c1") | {"runtime_call_id": ANY_ID}]


class _AnyId:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith("rtcall_")

    __hash__ = None  # type: ignore[assignment]


ANY_ID: Any = _AnyId()


def test_second_approval_is_refused_and_tools_ran_once(make_runtime: MakeRuntime) -> None:
    from abstractruntime.errors import RunNotWaitingError

    tools = Counting()
    runtime = _approval_runtime(make_runtime, tools)
    flow = tool_flow([call("write_file", "w1")])
    run_id, _ = run_flow(runtime, flow)
    runtime.resume(workflow=flow, run_id=run_id, wait_key="tool_approval:k1", payload={"approved": True})
    other = make_runtime(ApprovalToolExecutor(delegate=tools.executor()))
    with pytest.raises(RunNotWaitingError):
        other.resume(workflow=flow, run_id=run_id, wait_key="tool_approval:k1", payload={"approved": True})
    assert len(tools.ran) == 1
    completed = [r for r in other.get_ledger(run_id) if r["status"] == "completed" and r["effect"]]
    assert sum(1 for r in completed if r["effect"].get("type") == "tool_calls") == 1


class _Crash(BaseException):
    """Stands in for the process dying while an approved tool runs."""


def test_crash_after_approval_claim_never_reruns_the_calls(make_runtime: MakeRuntime) -> None:
    ran: list[str] = []

    def write_file(file_path: str = "") -> str:
        ran.append(file_path)
        raise _Crash

    executor = ApprovalToolExecutor(
        delegate=MappingToolExecutor.from_tools([write_file]), wait_key_factory=lambda: "tool_approval:k1"
    )
    runtime = make_runtime(executor)
    flow = tool_flow([call("write_file", "w1", file_path="a.txt")])
    run_id, _ = run_flow(runtime, flow)
    with pytest.raises(_Crash):
        runtime.resume(workflow=flow, run_id=run_id, wait_key="tool_approval:k1", payload={"approved": True})
    assert runtime.get_state(run_id).status == RunStatus.WAITING
    again = make_runtime(executor)  # a new driver over the same store
    done = again.resume(workflow=flow, run_id=run_id, wait_key="tool_approval:k1", payload={"approved": True})
    assert ran == ["a.txt"]
    (result,) = done.output["tools"]["results"]
    assert result["success"] is False and "may have run" in result["error"]


def test_concurrent_approvals_run_the_calls_once(tmp_path: Path) -> None:
    from abstractruntime.errors import ConcurrencyError

    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def write_file() -> str:
        ran.append("w")
        started.set()
        release.wait(10)
        return "written"

    executor = ApprovalToolExecutor(
        delegate=MappingToolExecutor.from_tools([write_file]), wait_key_factory=lambda: "tool_approval:k1"
    )
    dbs = [SqliteDatabase(tmp_path / "runs.db") for _ in range(2)]
    runtimes = []
    for db in dbs:
        rt = Runtime(
            run_store=SqliteRunStore(db),
            ledger_store=SqliteLedgerStore(db),
            effect_handlers={EffectType.TOOL_CALLS: make_tool_calls_handler(tools=executor)},
        )
        rt.set_tool_executor_for_resume(executor)
        runtimes.append(rt)
    flow = tool_flow([call("write_file", "w1")])
    run_id, _ = run_flow(runtimes[0], flow)
    errors: list[BaseException] = []

    def first() -> None:
        try:
            runtimes[0].resume(
                workflow=flow, run_id=run_id, wait_key="tool_approval:k1", payload={"approved": True}
            )
        except BaseException as exc:  # inspected below
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(10)
    second = runtimes[1].resume(
        workflow=flow, run_id=run_id, wait_key="tool_approval:k1", payload={"approved": True}
    )
    release.set()
    thread.join(10)
    for db in dbs:
        db.close()
    assert ran == ["w"]  # the approved call ran exactly once
    assert "may have run" in second.output["tools"]["results"][0]["error"]
    assert len(errors) == 1 and isinstance(errors[0], ConcurrencyError)
