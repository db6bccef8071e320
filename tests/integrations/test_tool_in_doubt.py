"""In-doubt tool calls (docs/llm.md, "In-doubt calls"): a TOOL_CALLS batch whose STARTED intent has no
end (the driver died mid-batch) re-runs only idempotent calls and parks the others for approval.

The crash is simulated deterministically: the intent the dead driver wrote is appended to the ledger,
then a new Runtime drives the run (in memory, files and SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunStatus, Runtime, StepPlan, WaitReason, WorkflowSpec
from abstractruntime.core.engine.tool_calls import IN_DOUBT_KEY, normalize_tool_calls_payload
from abstractruntime.core.models import StepRecord
from abstractruntime.core.policy import compute_idempotency_key
from abstractruntime.integrations.abstractcore.tool_executor import ApprovalToolExecutor, MappingToolExecutor
from abstractruntime.integrations.abstractcore.tool_handler import make_tool_calls_handler
from abstractruntime.storage.in_memory import InMemoryRunStore
from abstractruntime.storage.urls import Stores, open_stores

CALLS = [
    {"id": "c1", "name": "read", "arguments": {"path": "a"}},
    {"id": "c2", "name": "write", "arguments": {"path": "b", "text": "x"}},
]


class Tools:
    """Counts executions of each tool; ``read`` is idempotent (declared on the executor)."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def executor(self, **kwargs: Any) -> MappingToolExecutor:
        def read(path: str) -> str:
            self.ran.append("read")
            return f"content of {path}"

        def write(path: str, text: str) -> str:
            self.ran.append("write")
            return f"wrote {path}"

        return MappingToolExecutor({"read": read, "write": write}, **kwargs)


def flow(calls: list[dict[str, Any]], **extra: Any) -> WorkflowSpec:
    effect = Effect(EffectType.TOOL_CALLS, {"tool_calls": calls, **extra}, result_key="tools")

    def tools(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(node_id="tools", effect=effect, next_node="done")

    def done(run: Any, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"tools": run.vars["tools"]})

    return WorkflowSpec(workflow_id="doubt", entry_node="tools", nodes={"tools": tools, "done": done})


@pytest.fixture(params=["memory", "file", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    url = {
        "memory": "memory://",
        "file": (tmp_path / "store").as_uri(),
        "sqlite": f"sqlite:///{tmp_path / 'runs.db'}",
    }[request.param]
    opened = open_stores(url)
    yield opened
    opened.close()


def runtime(stores: Stores, executor: Any) -> Runtime:
    rt = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        effect_handlers={EffectType.TOOL_CALLS: make_tool_calls_handler(tools=executor)},
    )
    rt.set_tool_executor_for_resume(executor)
    return rt


def crashed_run(stores: Stores, wf: WorkflowSpec) -> tuple[str, StepRecord]:
    """Start a run and append the STARTED intent a driver killed inside the batch left behind."""
    rt = runtime(stores, None)
    run_id = rt.start(workflow=wf)
    run = rt.get_state(run_id)
    effect = wf.nodes["tools"](run, None).effect
    assert effect is not None
    key = compute_idempotency_key(run_id=run_id, node_id="tools", effect=effect)
    normalized = Effect(
        effect.type, normalize_tool_calls_payload(effect.payload, idempotency_key=key), "tools"
    )
    intent = StepRecord.start(run=run, node_id="tools", effect=normalized, attempt=1, idempotency_key=key)
    stores.ledger_store.append(intent)
    return run_id, intent


Drive = Callable[[Runtime, str], Any]


def test_in_doubt_batch_reruns_idempotent_calls_and_parks_the_others(stores: Stores) -> None:
    wf = flow(CALLS)
    run_id, intent = crashed_run(stores, wf)
    tools = Tools()
    rt = runtime(stores, tools.executor(idempotent_tools={"read"}))
    state = rt.tick(workflow=wf, run_id=run_id)
    assert state.status == RunStatus.WAITING and state.waiting is not None
    assert tools.ran == ["read"]  # the idempotent call ran again; the other did not
    wait = state.waiting
    assert wait.reason == WaitReason.USER and wait.wait_key == f"tool_in_doubt:{run_id}:tools"
    details = wait.details or {}
    assert details["in_doubt"] is True and details["mode"] == "approval_required"
    assert details["in_doubt_since"] == {
        "started_at": intent.started_at,
        "attempt": 1,
        "step_id": intent.step_id,
    }
    assert [c["name"] for c in details["tool_calls"]] == ["write"]
    assert "may already have run before a crash" in details["message"]
    assert "may already have run before a crash" in (wait.prompt or "")
    waiting = [r for r in rt.get_ledger(run_id) if r["status"] == "waiting"]
    assert waiting and waiting[-1]["result"]["wait"]["details"]["in_doubt"] is True
    assert waiting[-1]["effect"]["payload"][IN_DOUBT_KEY]["step_id"] == intent.step_id
    # a second driver (or a second crash before the commit) changes nothing: still waiting, nothing re-run
    assert runtime(stores, tools.executor()).tick(workflow=wf, run_id=run_id).status == RunStatus.WAITING
    assert tools.ran == ["read"]

    done = rt.resume(workflow=wf, run_id=run_id, wait_key=wait.wait_key, payload={"approved": True})
    assert done.status == RunStatus.COMPLETED
    assert tools.ran == ["read", "write"]  # approved: the doubtful call ran exactly once
    results = done.output["tools"]["results"] if done.output else []
    assert [(r["call_id"], r["success"]) for r in results] == [("c1", True), ("c2", True)]
    assert results[0]["output"] == "content of a" and results[1]["output"] == "wrote b"


def test_denied_in_doubt_calls_are_recorded_as_failed(stores: Stores) -> None:
    wf = flow(CALLS)
    run_id, _ = crashed_run(stores, wf)
    tools = Tools()
    rt = runtime(stores, tools.executor(idempotent_tools={"read"}))
    wait = rt.tick(workflow=wf, run_id=run_id).waiting
    assert wait is not None
    done = rt.resume(
        workflow=wf,
        run_id=run_id,
        wait_key=wait.wait_key,
        payload={"approved": False, "reason": "already ran"},
    )
    assert done.status == RunStatus.COMPLETED and tools.ran == ["read"]
    results = done.output["tools"]["results"] if done.output else []
    assert [(r["call_id"], r["success"], r["error"]) for r in results] == [
        ("c1", True, None),
        ("c2", False, "already ran"),
    ]


def test_in_doubt_batch_of_idempotent_tools_runs_again_without_asking(stores: Stores) -> None:
    wf = flow(CALLS)
    run_id, _ = crashed_run(stores, wf)
    tools = Tools()
    executor = tools.executor()
    for func in executor._tools.values():  # the function-attribute way to declare it
        func.idempotent = True  # type: ignore[attr-defined]
    state = runtime(stores, executor).tick(workflow=wf, run_id=run_id)
    assert state.status == RunStatus.COMPLETED and tools.ran == ["read", "write"]


def test_no_idempotent_declaration_parks_every_call(stores: Stores) -> None:
    wf = flow(CALLS)
    run_id, _ = crashed_run(stores, wf)
    tools = Tools()
    state = runtime(stores, tools.executor()).tick(workflow=wf, run_id=run_id)
    assert state.waiting is not None and tools.ran == []
    assert [c["call_id"] for c in (state.waiting.details or {})["tool_calls"]] == ["c1", "c2"]


def test_an_approval_executor_defers_the_rerun_too(stores: Stores) -> None:
    wf = flow(CALLS)
    run_id, _ = crashed_run(stores, wf)
    tools = Tools()
    executor = ApprovalToolExecutor(delegate=tools.executor(idempotent_tools={"read"}))
    state = runtime(stores, executor).tick(workflow=wf, run_id=run_id)
    assert state.waiting is not None and tools.ran == []
    assert (state.waiting.details or {})["in_doubt"] is True
    assert [c["name"] for c in (state.waiting.details or {})["tool_calls"]] == ["read", "write"]


def test_a_batch_without_an_open_intent_runs_normally_and_a_flow_cannot_fake_the_mark(stores: Stores) -> None:
    wf = flow(CALLS, **{IN_DOUBT_KEY: {"started_at": "x", "attempt": 1}})
    tools = Tools()
    rt = runtime(stores, tools.executor())
    run_id = rt.start(workflow=wf)
    state = rt.tick(workflow=wf, run_id=run_id)
    assert state.status == RunStatus.COMPLETED and tools.ran == ["read", "write"]
    assert all(IN_DOUBT_KEY not in (r["effect"] or {}).get("payload", {}) for r in rt.get_ledger(run_id))


def test_a_failed_attempt_is_not_in_doubt(stores: Stores) -> None:
    wf = flow(CALLS)
    run_id, intent = crashed_run(stores, wf)
    stores.ledger_store.append(intent.snapshot().finish_failure("handler said no"))
    tools = Tools()
    state = runtime(stores, tools.executor()).tick(workflow=wf, run_id=run_id)
    assert state.status == RunStatus.COMPLETED and tools.ran == ["read", "write"]


class _ForeignLedger:
    """A duck-typed ledger with only ``append`` and ``list``: the engine falls back to scanning."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def append(self, record: StepRecord) -> None:
        self.records.append(record.to_dict())

    def list(self, run_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["run_id"] == run_id]


def test_a_foreign_ledger_without_find_started_is_scanned() -> None:
    ledger = _ForeignLedger()
    stores = Stores(url="memory://", run_store=InMemoryRunStore(), ledger_store=ledger, command_store=None)  # type: ignore[arg-type]
    wf = flow(CALLS)
    run_id, _ = crashed_run(stores, wf)
    tools = Tools()
    state = runtime(stores, tools.executor(idempotent_tools={"read"})).tick(workflow=wf, run_id=run_id)
    assert state.waiting is not None and (state.waiting.details or {})["in_doubt"] is True
    assert tools.ran == ["read"]


def test_the_read_only_default_tools_are_declared_idempotent(tmp_path: Path) -> None:
    from abstractruntime.integrations.abstractcore.default_tools import build_default_tool_map

    executor = MappingToolExecutor(build_default_tool_map(workspace_root=str(tmp_path)))
    declared = {name: executor.is_idempotent(name) for name in executor.tool_names}
    assert declared == {"list_files": True, "read_file": True, "search_files": True, "write_file": False}
    approval = ApprovalToolExecutor(delegate=executor)
    assert approval.is_idempotent("read_file") and not approval.is_idempotent("write_file")
