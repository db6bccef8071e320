"""Tools listed by name in an LLM_CALL reach the model as full function definitions."""

from __future__ import annotations

from typing import Optional

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.models import RunStatus
from abstractruntime.integrations.abstractcore.effect_handlers import build_effect_handlers
from abstractruntime.integrations.abstractcore.llm_client import RemoteAbstractCoreLLMClient
from abstractruntime.integrations.abstractcore.tool_executor import ApprovalToolExecutor, MappingToolExecutor
from abstractruntime.integrations.abstractcore.tool_specs import (
    executor_tool_specs,
    resolve_tool_specs,
    tool_spec,
)
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.testing.openai_stub import OpenAIStubServer


def lookup(query: str, limit: int = 5, exact: Optional[bool] = None) -> list:  # noqa: UP045 - the Optional form is what tools are written with
    """Look a term up in the index.

    More text that is not part of the summary.
    """
    return [query] * limit


def test_tool_spec_from_a_function() -> None:
    spec = tool_spec(lookup)
    assert spec == {
        "name": "lookup",
        "description": "Look a term up in the index.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "limit": {"type": "integer"},
                "exact": {"type": "boolean"},
            },
            "required": ["query"],
        },
    }


def test_specs_come_through_wrapping_executors_and_unknown_names_still_go_out() -> None:
    executor = ApprovalToolExecutor(delegate=MappingToolExecutor({"lookup": lookup}))
    specs = executor_tool_specs(executor)
    assert list(specs) == ["lookup"]
    resolved = resolve_tool_specs(["lookup", "mystery", {"name": "given"}], specs)
    assert resolved is not None
    assert resolved[0]["parameters"]["required"] == ["query"]
    assert resolved[1] == {"name": "mystery", "parameters": {"type": "object", "properties": {}}}
    assert resolved[2] == {"name": "given"}
    assert executor_tool_specs(None) == {}


def test_named_tools_reach_the_server_as_definitions() -> None:
    def ask(run, ctx):  # type: ignore[no-untyped-def]
        payload = {"prompt": "find x", "tools": ["lookup"]}
        return StepPlan(node_id="ask", effect=Effect(EffectType.LLM_CALL, payload, "llm"), next_node="end")

    def end(run, ctx):  # type: ignore[no-untyped-def]
        return StepPlan(node_id="end", complete_output={"content": run.vars["llm"]["content"]})

    flow = WorkflowSpec(workflow_id="named_tools", entry_node="ask", nodes={"ask": ask, "end": end})
    with OpenAIStubServer(["ok"]) as server:
        client = RemoteAbstractCoreLLMClient(server_base_url=server.base_url, model="m")
        handlers = build_effect_handlers(llm=client, tools=MappingToolExecutor({"lookup": lookup}))
        runtime = Runtime(
            run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore(), effect_handlers=handlers
        )
        run_id = runtime.start(workflow=flow)
        state = runtime.tick(workflow=flow, run_id=run_id)
        client.close()
        sent = server.chat_requests[0].json["tools"]
    assert state.status == RunStatus.COMPLETED
    assert sent == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look a term up in the index.",
                "parameters": tool_spec(lookup)["parameters"],
            },
        }
    ]
