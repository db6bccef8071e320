"""A run budget over the real LLM_CALL handler against the loopback OpenAI stub (``core/budget.py``).

The token cap sums input + output tokens from the handler's ``usage``; when it is reached the next
LLM_CALL never reaches the server: the run parks until the host raises the budget and resumes.
"""

from __future__ import annotations

from pathlib import Path

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.models import RunState, RunStatus
from abstractruntime.integrations.abstractcore import build_effect_handlers
from abstractruntime.integrations.abstractcore.llm_client import RemoteAbstractCoreLLMClient
from abstractruntime.storage.urls import open_stores
from abstractruntime.testing.openai_stub import OpenAIStubServer


def _ask(i: int, nxt: str):  # type: ignore[no-untyped-def]
    def node(run: RunState, ctx: object) -> StepPlan:
        effect = Effect(EffectType.LLM_CALL, {"prompt": f"question {i}"}, f"answer{i}")
        return StepPlan(node_id=f"ask{i}", effect=effect, next_node=nxt)

    return node


FLOW = WorkflowSpec(
    workflow_id="budget_llm",
    entry_node="ask0",
    nodes={
        "ask0": _ask(0, "ask1"),
        "ask1": _ask(1, "ask2"),
        "ask2": _ask(2, "end"),
        "end": lambda run, ctx: StepPlan(node_id="end", complete_output={"done": True}),
    },
)


def _runtime(server: OpenAIStubServer, url: str) -> tuple[Runtime, RemoteAbstractCoreLLMClient]:
    llm = RemoteAbstractCoreLLMClient(server_base_url=server.base_url, model="m", timeout_s=5)
    stores = open_stores(url)
    runtime = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        effect_handlers=build_effect_handlers(llm=llm),
    )
    return runtime, llm


def test_token_budget_parks_before_the_request_and_resumes_after_a_raise(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with OpenAIStubServer(["one", "two", "three"]) as server:
        runtime, llm = _runtime(server, url)
        run_id = runtime.start(workflow=FLOW, budget={"max_tokens": 30})
        state = runtime.tick(workflow=FLOW, run_id=run_id)
        llm.close()
        assert state.status == RunStatus.WAITING and state.current_node == "ask2"
        assert len(server.chat_requests) == 2  # 2 x (10 prompt + 5 completion) tokens reached the cap
        assert state.waiting is not None
        assert state.waiting.prompt == "Budget exhausted (max_tokens: 30/30). Raise the budget or stop."
        assert state.vars["_runtime"]["budget_used"] == {"llm_calls": 2, "tool_calls": 0, "tokens": 30}

        # A new runtime over the same SQLite store (another process would do the same).
        other, llm2 = _runtime(server, url)
        other.update_budget(run_id, max_tokens=45)
        state = other.resume(
            workflow=FLOW, run_id=run_id, wait_key=f"budget:{run_id}:ask2", payload={"text": "raise"}
        )
        llm2.close()
    assert state.status == RunStatus.COMPLETED
    assert len(server.chat_requests) == 3
    assert state.vars["answer2"]["content"] == "three"
    assert state.vars["_runtime"]["budget_used"]["tokens"] == 45
