"""Argument edits at approval (docs/llm.md, "Answering an approval"): edited calls are re-checked like fresh
calls (allowlist, workspace policy), refused edits fail only that call, malformed edits are refused before
anything is claimed, and the ledger shows the original and the edited arguments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_tool_in_doubt import crashed_run
from test_tool_in_doubt import flow as tool_flow

from abstractruntime import EffectType, RunStatus, Runtime, WorkflowSpec
from abstractruntime.core.engine.resume_payload import APPROVAL_CLAIM_KEY
from abstractruntime.errors import InvalidResumePayloadError, ResumeError
from abstractruntime.integrations.abstractcore.tool_executor import ApprovalToolExecutor, MappingToolExecutor
from abstractruntime.integrations.abstractcore.tool_handler import make_tool_calls_handler
from abstractruntime.storage.urls import Stores, open_stores

KEY = "tool_approval:k1"


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'runs.db'}"
    opened = open_stores(url)
    yield opened
    opened.close()


class Files:
    """``write_file`` / ``read_file`` / ``deploy`` tools recording the arguments they ran with."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []

    def delegate(self) -> MappingToolExecutor:
        def write_file(file_path: str, content: str = "") -> str:
            self.ran.append(("write_file", {"file_path": file_path, "content": content}))
            return "written"

        def read_file(file_path: str) -> str:
            self.ran.append(("read_file", {"file_path": file_path}))
            return "read"

        def deploy(target: str = "prod") -> str:
            self.ran.append(("deploy", {"target": target}))
            return "deployed"

        return MappingToolExecutor.from_tools([write_file, read_file, deploy])


def make_runtime(stores: Stores, executor: Any, resume_executor: Any = None) -> Runtime:
    runtime = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        effect_handlers={EffectType.TOOL_CALLS: make_tool_calls_handler(tools=executor)},
    )
    runtime.set_tool_executor_for_resume(executor if resume_executor is None else resume_executor)
    return runtime


def approval(files: Files) -> ApprovalToolExecutor:
    return ApprovalToolExecutor(delegate=files.delegate(), wait_key_factory=lambda: KEY)


CALLS = [
    {"name": "write_file", "call_id": "w1", "arguments": {"file_path": "a.txt", "content": "hi"}},
    {"name": "deploy", "call_id": "d1", "arguments": {"target": "prod"}},
    {"name": "read_file", "call_id": "r1", "arguments": {"file_path": "in.txt"}},
]


def waiting_run(runtime: Runtime, wf: WorkflowSpec, root: Path) -> str:
    run_id = runtime.start(workflow=wf, vars={"workspace_root": str(root)})
    state = runtime.tick(workflow=wf, run_id=run_id)
    assert state.status == RunStatus.WAITING and state.waiting is not None
    assert state.waiting.wait_key == KEY
    return run_id


Resume = Callable[[dict[str, Any]], Any]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return workspace.resolve()


def test_edited_call_runs_with_the_rechecked_arguments(stores: Stores, root: Path) -> None:
    files = Files()
    runtime = make_runtime(stores, approval(files))
    wf = tool_flow(CALLS[:1], allowed_tools=["write_file", "read_file", "deploy"])
    run_id = waiting_run(runtime, wf, root)
    assert runtime.get_state(run_id).waiting.details["allowed_tools"] == ["deploy", "read_file", "write_file"]
    edited = {"file_path": "notes/b.txt", "content": "edited"}
    done = runtime.resume(
        workflow=wf, run_id=run_id, wait_key=KEY, payload={"approved": True, "arguments": {"w1": edited}}
    )
    assert done.status == RunStatus.COMPLETED
    assert files.ran == [("write_file", {"file_path": str(root / "notes/b.txt"), "content": "edited"})]
    (result,) = done.output["tools"]["results"]
    assert result["success"] is True and result["call_id"] == "w1"
    assert result["metadata"]["argument_edit"] == {
        "original_arguments": {"file_path": str(root / "a.txt"), "content": "hi"},
        "edited_arguments": edited,
        "arguments_run": {"file_path": str(root / "notes/b.txt"), "content": "edited"},
        "refused": None,
    }


@pytest.mark.parametrize(
    "edited",
    [
        {"file_path": "../escape.txt"},
        {"file_path": "/etc/passwd"},
        {"arguments": {"path": "../../x"}},  # nested arguments and a synonym are flattened like fresh calls
    ],
)
def test_edit_refused_by_the_workspace_fails_only_that_call(
    stores: Stores, root: Path, edited: dict[str, Any]
) -> None:
    files = Files()
    runtime = make_runtime(stores, approval(files))
    wf = tool_flow(CALLS)
    run_id = waiting_run(runtime, wf, root)
    payload = {"approved": True, "arguments": {"w1": edited}}
    done = runtime.resume(workflow=wf, run_id=run_id, wait_key=KEY, payload=payload)
    results = done.output["tools"]["results"]
    assert [(r["call_id"], r["success"]) for r in results] == [("w1", False), ("d1", True), ("r1", True)]
    assert results[0]["error"].startswith("Workspace policy refused write_file")
    assert [name for name, _ in files.ran] == ["deploy", "read_file"]  # the refused edit never ran
    edit = results[0]["metadata"]["argument_edit"]
    assert edit["edited_arguments"] == edited and edit["arguments_run"] is None
    assert edit["refused"] == results[0]["error"]


class Renaming:
    """An executor whose approval wait names another tool than the one the node asked for (a wait that
    no longer matches the node's allowlist): an edit of that call is refused by the allowlist."""

    def __init__(self, files: Files) -> None:
        self.inner = approval(files)

    def execute(self, *, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
        out = self.inner.execute(tool_calls=tool_calls)
        return {**out, "tool_calls": [{**c, "name": "deploy"} for c in out["tool_calls"]]}

    def execute_approved(self, *, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
        return self.inner.execute_approved(tool_calls=tool_calls)

    def recheck_call(self, call: dict[str, Any], **kwargs: Any) -> tuple[dict[str, Any], str | None]:
        return self.inner.recheck_call(call, **kwargs)


def test_edit_refused_by_the_node_allowlist(stores: Stores, root: Path) -> None:
    files = Files()
    runtime = make_runtime(stores, Renaming(files))
    wf = tool_flow(CALLS[:1], allowed_tools=["write_file"])
    run_id = waiting_run(runtime, wf, root)
    payload = {"approved": True, "arguments": {"w1": {"target": "staging"}}}
    done = runtime.resume(workflow=wf, run_id=run_id, wait_key=KEY, payload=payload)
    (result,) = done.output["tools"]["results"]
    assert result["success"] is False and result["error"] == "Tool 'deploy' is not allowed at this node"
    assert result["metadata"]["argument_edit"]["refused"] == result["error"]
    assert files.ran == []


def test_edits_need_the_recorded_allowlist_and_a_rechecking_executor(stores: Stores, root: Path) -> None:
    files = Files()
    runtime = make_runtime(stores, approval(files), resume_executor=files.delegate())  # no recheck_call
    wf = tool_flow(CALLS[:1])
    run_id = waiting_run(runtime, wf, root)
    payload = {"approved": True, "arguments": {"w1": {"file_path": "c.txt"}}}
    done = runtime.resume(workflow=wf, run_id=run_id, wait_key=KEY, payload=payload)
    (result,) = done.output["tools"]["results"]
    assert result["success"] is False and "cannot re-check edited calls" in result["error"]
    assert files.ran == []

    # a wait written before edits existed has no allowed_tools: its edits are refused
    run_id = waiting_run(runtime := make_runtime(stores, approval(files)), wf, root)
    state = runtime.get_state(run_id)
    del state.waiting.details["allowed_tools"]
    stores.run_store.save(state)
    done = runtime.resume(workflow=wf, run_id=run_id, wait_key=KEY, payload=payload)
    (result,) = done.output["tools"]["results"]
    assert "does not record the node's allowlist" in result["error"] and files.ran == []


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        (["w1"], "'arguments' must be an object"),
        ({"w1": "file_path=b.txt"}, "must be a JSON object, got str"),
        ({"w1": ["b.txt"]}, "must be a JSON object, got list"),
        ({"nope": {}}, "names no single waiting call; the calls are: d1, r1"),
        ({"d1": {"target": "staging"}}, "not approved by this payload"),
        ({"w1": {"size": float("nan")}}, "is not JSON"),
        ({"w1": {"blob": object()}}, "is not JSON"),
        ({"w1": {1: "x"}}, "must have string keys"),
        ({"w1": {}, "rtcall_w1_placeholder": {}}, None),
    ],
)
def test_malformed_edits_are_refused_before_anything_is_claimed(
    stores: Stores, root: Path, edits: Any, message: str | None
) -> None:
    files = Files()
    runtime = make_runtime(stores, approval(files))
    wf = tool_flow(CALLS)
    run_id = waiting_run(runtime, wf, root)
    if message is None:  # one call edited under two of its ids
        runtime_id = runtime.get_state(run_id).waiting.details["tool_calls"][0]["runtime_call_id"]
        edits = {"w1": {}, runtime_id: {}}
        message = "already edited under another of its ids"
    payload = {"approved": {"w1": True, "r1": True}, "arguments": edits}
    with pytest.raises(InvalidResumePayloadError, match=message.replace("(", r"\(")) as raised:
        runtime.resume(workflow=wf, run_id=run_id, wait_key=KEY, payload=payload)
    assert isinstance(raised.value, ResumeError) and raised.value.field == "arguments"
    assert raised.value.run_id == run_id
    state = runtime.get_state(run_id)
    assert state.status == RunStatus.WAITING and APPROVAL_CLAIM_KEY not in state.waiting.details
    assert files.ran == []
    # the run can still be answered
    done = runtime.resume(workflow=wf, run_id=run_id, wait_key=KEY, payload={"approved": False})
    assert done.status == RunStatus.COMPLETED and files.ran == []


def test_partial_approval_with_edits_and_the_ledger_shows_both_arguments(stores: Stores, root: Path) -> None:
    files = Files()
    runtime = make_runtime(stores, approval(files))
    wf = tool_flow(CALLS)
    run_id = waiting_run(runtime, wf, root)
    payload = {
        "approved": {"w1": True, "d1": False, "r1": True},
        "arguments": {"w1": {"file_path": "b.txt", "content": "v2"}},
        "reason": "no deploys today",
    }
    done = runtime.resume(workflow=wf, run_id=run_id, wait_key=KEY, payload=payload)
    results = done.output["tools"]["results"]
    assert [(r["call_id"], r["success"], r["error"]) for r in results] == [
        ("w1", True, None),
        ("d1", False, "no deploys today"),
        ("r1", True, None),
    ]
    assert files.ran == [
        ("write_file", {"file_path": str(root / "b.txt"), "content": "v2"}),
        ("read_file", {"file_path": str(root / "in.txt")}),
    ]
    assert "metadata" not in results[2]  # an approved call left as it was is not marked

    ledger = runtime.get_ledger(run_id)
    completed = [
        r for r in ledger if r["status"] == "completed" and (r["effect"] or {}).get("type") == "tool_calls"
    ]
    (record,) = completed
    edit = record["result"]["results"][0]["metadata"]["argument_edit"]
    assert edit["original_arguments"] == {"file_path": str(root / "a.txt"), "content": "hi"}
    assert edit["edited_arguments"] == {"file_path": "b.txt", "content": "v2"}
    assert edit["arguments_run"] == {"file_path": str(root / "b.txt"), "content": "v2"}
    (resume,) = [r for r in ledger if (r["effect"] or {}).get("type") == "resume"]
    assert resume["effect"]["payload"]["payload"] == payload  # what the approver sent, as sent


class _Crash(BaseException):
    """Stands in for the process dying while the edited call runs."""


def test_an_edited_call_runs_at_most_once(stores: Stores, root: Path) -> None:
    ran: list[str] = []

    def write_file(file_path: str) -> str:
        ran.append(file_path)
        raise _Crash

    executor = ApprovalToolExecutor(
        delegate=MappingToolExecutor.from_tools([write_file]), wait_key_factory=lambda: KEY
    )
    runtime = make_runtime(stores, executor)
    wf = tool_flow(CALLS[:1])
    run_id = waiting_run(runtime, wf, root)
    payload = {"approved": ["w1"], "arguments": {"w1": {"file_path": "b.txt"}}}
    with pytest.raises(_Crash):
        runtime.resume(workflow=wf, run_id=run_id, wait_key=KEY, payload=payload)
    done = make_runtime(stores, executor).resume(workflow=wf, run_id=run_id, wait_key=KEY, payload=payload)
    assert ran == [str(root / "b.txt")]
    (result,) = done.output["tools"]["results"]
    assert result["success"] is False and "may have run" in result["error"]


def test_in_doubt_wait_accepts_rechecked_edits(stores: Stores, root: Path) -> None:
    calls = [{"id": "c1", "name": "write_file", "arguments": {"file_path": "a.txt"}}]
    wf = tool_flow(calls, allowed_tools=["write_file"])
    run_id, _ = crashed_run(stores, wf)
    state = stores.run_store.load(run_id)
    state.vars["workspace_root"] = str(root)
    stores.run_store.save(state)
    files = Files()
    runtime = make_runtime(stores, approval(files))
    waiting = runtime.tick(workflow=wf, run_id=run_id)
    wait = waiting.waiting
    assert wait.details["in_doubt"] is True and wait.details["allowed_tools"] == ["write_file"]
    refused = runtime.resume(
        workflow=wf,
        run_id=run_id,
        wait_key=wait.wait_key,
        payload={"approved": True, "arguments": {"c1": {"file_path": "../x"}}},
    )
    (result,) = refused.output["tools"]["results"]
    assert result["success"] is False and "Workspace policy refused" in result["error"] and files.ran == []


def test_evidence_of_an_edited_call_shows_the_arguments_it_ran_with(root: Path) -> None:
    from abstractruntime.integrations.abstractcore.tool_executor import ToolApprovalPolicy
    from abstractruntime.storage.artifacts import InMemoryArtifactStore

    fetched: list[str] = []

    def fetch_url(url: str) -> dict[str, Any]:
        fetched.append(url)
        return {"success": True, "url": url, "final_url": url, "content": "page"}

    executor = ApprovalToolExecutor(
        delegate=MappingToolExecutor.from_tools([fetch_url]),
        policy=ToolApprovalPolicy(auto_approve_tools=()),
        wait_key_factory=lambda: KEY,
    )
    stores = open_stores("memory://")
    runtime = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        artifact_store=InMemoryArtifactStore(),
        effect_handlers={EffectType.TOOL_CALLS: make_tool_calls_handler(tools=executor)},
    )
    runtime.set_tool_executor_for_resume(executor)
    wf = tool_flow([{"name": "fetch_url", "call_id": "f1", "arguments": {"url": "https://a.example"}}])
    run_id = waiting_run(runtime, wf, root)
    payload = {"approved": True, "arguments": {"f1": {"url": "https://b.example"}}}
    runtime.resume(workflow=wf, run_id=run_id, wait_key=KEY, payload=payload)
    assert fetched == ["https://b.example"]
    (span,) = runtime.list_evidence(run_id)
    record = runtime.load_evidence(span["artifact_id"])
    assert record is not None and record["arguments"] == {"url": "https://b.example"}
