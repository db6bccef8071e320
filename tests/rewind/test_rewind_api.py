"""``Runtime.retry_run`` and ``Runtime.fork_run`` (core/rewind.py) on in-memory and SQLite stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunStatus, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.core.rewind import RewindError
from abstractruntime.storage import open_stores

LLM = EffectType.LLM_CALL


class CountingLLM:
    """An LLM_CALL handler answering ``"reply N"`` and counting its calls; fails while ``broken``."""

    def __init__(self) -> None:
        self.calls = 0
        self.broken = False

    def __call__(self, run: Any, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        if self.broken:
            return EffectOutcome.failed("model down")
        self.calls += 1
        return EffectOutcome.completed({"content": f"reply {self.calls}"})


def _flow() -> WorkflowSpec:
    def llm(node: str, nxt: str) -> Any:
        def plan(run: Any, ctx: Any) -> StepPlan:
            effect = Effect(type=LLM, payload={"prompt": f"{node}:{run.vars.get('topic')}"}, result_key=node)
            return StepPlan(node_id=node, effect=effect, next_node=nxt)

        return plan

    ask = Effect(type=EffectType.ASK_USER, payload={"prompt": "Go on?"}, result_key="answer")
    return WorkflowSpec(
        workflow_id="chain",
        entry_node="first",
        nodes={
            "first": llm("first", "ask"),
            "ask": lambda run, ctx: StepPlan(node_id="ask", effect=ask, next_node="second"),
            "second": llm("second", "done"),
            "done": lambda run, ctx: StepPlan(
                node_id="done",
                complete_output={
                    "first": run.vars["first"]["content"],
                    "answer": run.vars["answer"],
                    "second": run.vars["second"]["content"],
                },
            ),
        },
    )


@pytest.fixture(params=["memory", "sqlite"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'runs.db'}"
    stores = open_stores(url)
    llm = CountingLLM()
    runtime = Runtime(
        run_store=stores.run_store, ledger_store=stores.ledger_store, effect_handlers={LLM: llm}
    )
    yield runtime, llm
    stores.close()


def _run_to_wait(runtime: Runtime) -> str:
    start = {"topic": "tea"}
    run_id = runtime.start(workflow=_flow(), vars={**start, "_runtime": {"start_vars": start}})
    state = runtime.tick(workflow=_flow(), run_id=run_id)
    assert state.status == RunStatus.WAITING
    return run_id


def test_retry_reruns_the_failed_node_and_reuses_what_came_before(setup: Any) -> None:
    runtime, llm = setup
    run_id = _run_to_wait(runtime)
    llm.broken = True
    state = runtime.resume(workflow=_flow(), run_id=run_id, wait_key=None, payload={"text": "yes"})
    assert state.status == RunStatus.FAILED and state.current_node == "second"
    llm.broken = False
    done = runtime.retry_run(run_id, workflow=_flow())
    assert done.status == RunStatus.COMPLETED
    assert done.output == {"first": "reply 1", "answer": {"text": "yes"}, "second": "reply 2"}
    assert llm.calls == 2  # "first" was not called again
    retry = [r for r in runtime.ledger_store.list(run_id) if (r.get("effect") or {}).get("type") == "retry"]
    assert retry[0]["effect"]["payload"]["from_node"] == "second"
    assert retry[0]["effect"]["payload"]["previous_status"] == "failed"
    with pytest.raises(RewindError):
        runtime.retry_run(run_id, workflow=_flow())  # completed: nothing to retry


def test_fork_reuses_recorded_results_and_leaves_the_origin_alone(setup: Any) -> None:
    runtime, llm = setup
    run_id = _run_to_wait(runtime)
    origin = runtime.resume(workflow=_flow(), run_id=run_id, wait_key=None, payload={"text": "yes"})
    assert origin.status == RunStatus.COMPLETED and llm.calls == 2
    before = runtime.ledger_store.list(run_id)
    resume_seq = next(i for i, r in enumerate(before) if (r.get("effect") or {}).get("type") == "resume")
    fork = runtime.fork_run(run_id, at_seq=resume_seq, workflow=_flow())
    assert fork.run_id != run_id and fork.status == RunStatus.RUNNING and fork.current_node == "second"
    assert fork.vars["_runtime"]["forked_from"] == {
        "run_id": run_id,
        "at_seq": resume_seq,
        "rerun_effects": False,
    }
    assert llm.calls == 2  # "first" came from the origin's ledger
    done = runtime.tick(workflow=_flow(), run_id=fork.run_id)
    assert done.output == {"first": "reply 1", "answer": {"text": "yes"}, "second": "reply 3"}
    assert runtime.ledger_store.list(run_id) == before
    assert runtime.run_store.load(run_id).output["second"] == "reply 2"
    fork_ledger = runtime.ledger_store.list(fork.run_id)
    assert fork_ledger[0]["effect"]["type"] == "fork"


def test_fork_with_rerun_effects_calls_the_llm_again(setup: Any) -> None:
    runtime, llm = setup
    run_id = _run_to_wait(runtime)
    fork = runtime.fork_run(
        run_id, at_seq=len(runtime.ledger_store.list(run_id)) - 1, rerun_effects=True, workflow=_flow()
    )
    assert llm.calls == 2 and fork.vars["first"]["content"] == "reply 2"
    assert fork.status == RunStatus.RUNNING and fork.current_node == "ask"  # stopped before the next effect
    assert runtime.tick(workflow=_flow(), run_id=fork.run_id).status == RunStatus.WAITING


def test_fork_refuses_a_seq_outside_the_ledger_and_missing_start_vars(setup: Any) -> None:
    runtime, _ = setup
    run_id = _run_to_wait(runtime)
    with pytest.raises(RewindError):
        runtime.fork_run(run_id, at_seq=999, workflow=_flow())
    bare = runtime.start(workflow=_flow(), vars={"topic": "x"})
    runtime.tick(workflow=_flow(), run_id=bare)
    with pytest.raises(RewindError, match="start vars"):
        runtime.fork_run(bare, at_seq=0, workflow=_flow())
    assert runtime.fork_run(bare, at_seq=0, workflow=_flow(), vars={"topic": "x"}).run_id != bare


def test_retry_of_a_cancelled_run_asks_again(setup: Any) -> None:
    runtime, llm = setup
    run_id = _run_to_wait(runtime)
    runtime.cancel_run(run_id, reason="oops")
    again = runtime.retry_run(run_id, workflow=_flow())
    assert again.status == RunStatus.WAITING and again.current_node == "ask" and llm.calls == 1
    done = runtime.resume(workflow=_flow(), run_id=run_id, wait_key=None, payload={"text": "ok"})
    assert done.status == RunStatus.COMPLETED and done.output["first"] == "reply 1"
