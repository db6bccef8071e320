"""``create_remote_runtime`` / ``create_remote_file_runtime`` (SPEC §11.1) against the loopback stub server."""

from __future__ import annotations

from pathlib import Path

from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec
from abstractruntime.core.models import RunStatus
from abstractruntime.integrations.abstractcore import create_remote_file_runtime, create_remote_runtime
from abstractruntime.integrations.abstractcore.tool_executor import PassthroughToolExecutor
from abstractruntime.storage.observable import ObservableLedgerStore
from abstractruntime.testing.openai_stub import OpenAIStubServer, chat_completion


def _ask(run, ctx):  # type: ignore[no-untyped-def]
    return StepPlan(
        node_id="ask", effect=Effect(EffectType.LLM_CALL, {"prompt": "hi"}, "llm"), next_node="act"
    )


def _act(run, ctx):  # type: ignore[no-untyped-def]
    calls = run.vars["llm"]["tool_calls"] or []
    return StepPlan(
        node_id="act", effect=Effect(EffectType.TOOL_CALLS, {"tool_calls": calls}, "tools"), next_node="end"
    )


def _end(run, ctx):  # type: ignore[no-untyped-def]
    return StepPlan(node_id="end", complete_output={"results": run.vars["tools"]["results"]})


FLOW = WorkflowSpec(
    workflow_id="factory_flow", entry_node="ask", nodes={"ask": _ask, "act": _act, "end": _end}
)


def test_remote_runtime_calls_the_server_and_passes_tools_to_the_host() -> None:
    answer = chat_completion(None, tool_calls=[{"name": "lookup", "arguments": {"q": "x"}, "id": "c1"}])
    with OpenAIStubServer([answer]) as server:
        runtime = create_remote_runtime(
            server_base_url=server.base_url, model="m1", headers={"Authorization": "Bearer t"}
        )
        assert isinstance(runtime.ledger_store, ObservableLedgerStore)
        run_id = runtime.start(workflow=FLOW)
        state = runtime.tick(workflow=FLOW, run_id=run_id)
        runtime._abstractcore_llm_client.close()  # type: ignore[attr-defined]
        assert server.chat_requests[0].headers["authorization"] == "Bearer t"
        assert server.chat_requests[0].json["model"] == "m1"
    # the passthrough executor parks the run until the host brings the results
    assert state.status == RunStatus.WAITING and state.waiting is not None
    results = {
        "mode": "executed",
        "results": [{"call_id": "c1", "name": "lookup", "success": True, "output": 42, "error": None}],
    }
    state = runtime.resume(workflow=FLOW, run_id=run_id, wait_key=state.waiting.wait_key, payload=results)
    assert state.status == RunStatus.COMPLETED
    assert state.output["results"][0]["output"] == 42


def test_remote_file_runtime_keeps_runs_on_disk(tmp_path: Path) -> None:
    with OpenAIStubServer(["hello there"]) as server:
        runtime = create_remote_file_runtime(base_dir=tmp_path, server_base_url=server.base_url, model="m")
        run_id = runtime.start(workflow=FLOW)
        state = runtime.tick(workflow=FLOW, run_id=run_id)
        runtime._abstractcore_llm_client.close()  # type: ignore[attr-defined]
    assert state.status == RunStatus.COMPLETED and state.output == {"results": []}
    assert (tmp_path / f"run_{run_id}.json").is_file()
    assert runtime._tool_executor.__class__ is PassthroughToolExecutor  # registered for resumes
