"""A durable approval workflow on SQLite, surviving a restart between the question and the answer.

Run: python examples/durable_approval.py [path/to/runs.db]

1. A first "process" starts an expense-approval run: a host effect drafts the request (an LLM call in a
   real app), then the run parks on ASK_USER.  The process then forgets everything.
2. A second "process" opens the same database with new store and runtime objects, finds the waiting
   run by query, and resumes it with the approver's answer.  The drafting effect is not executed again:
   its completed result is in the ledger.
"""

from __future__ import annotations

import sys
from pathlib import Path

from abstractruntime import Effect, EffectType, RunStatus, Runtime, StepPlan, WaitReason, WorkflowSpec
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.storage import open_stores

DRAFTS: list[str] = []  # how many times the host effect really ran, across both "processes"


def draft_request(run, effect, default_next_node):
    """Host effect handler (stands in for an LLM call): writes the approval request text."""
    DRAFTS.append(run.run_id)
    amount = effect.payload["amount"]
    return EffectOutcome.completed({"text": f"Please approve an expense of {amount:.2f} EUR."})


def draft(run, ctx):
    effect = Effect(EffectType.LLM_CALL, {"amount": run.vars["amount"]}, result_key="draft")
    return StepPlan(node_id="draft", effect=effect, next_node="ask")


def ask(run, ctx):
    prompt = run.vars["draft"]["text"]
    effect = Effect(
        EffectType.ASK_USER, {"prompt": prompt, "choices": ["approve", "reject"]}, result_key="decision"
    )
    return StepPlan(node_id="ask", effect=effect, next_node="book")


def book(run, ctx):
    approved = run.vars["decision"].get("text") == "approve"
    return StepPlan(node_id="book", complete_output={"approved": approved, "amount": run.vars["amount"]})


FLOW = WorkflowSpec(
    workflow_id="expense", entry_node="draft", nodes={"draft": draft, "ask": ask, "book": book}
)
HANDLERS = {EffectType.LLM_CALL: draft_request}


def first_process(url: str) -> str:
    stores = open_stores(url)
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store, effect_handlers=HANDLERS)
    run_id = runtime.start(workflow=FLOW, vars={"amount": 42.5})
    state = runtime.tick(workflow=FLOW, run_id=run_id)
    print(f"[process 1] run {run_id[:8]} is {state.status.value}: {state.waiting.prompt}")
    stores.close()
    return run_id


def second_process(url: str) -> None:
    stores = open_stores(url)
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store, effect_handlers=HANDLERS)
    for waiting in stores.run_store.list_runs(status=RunStatus.WAITING, wait_reason=WaitReason.USER):
        key = waiting.waiting.wait_key
        state = runtime.resume(
            workflow=FLOW, run_id=waiting.run_id, wait_key=key, payload={"text": "approve"}
        )
        print(f"[process 2] resumed {waiting.run_id[:8]}: {state.status.value}, output {state.output}")
        for record in runtime.get_ledger(waiting.run_id):
            kind = (record["effect"] or {}).get("type", "-")
            print(f"            ledger: {record['status']:<9} {record['node_id']:<6} {kind}")
    stores.close()


def main() -> None:
    db_path = Path(sys.argv[1] if len(sys.argv) > 1 else "runs.db").resolve()
    url = f"sqlite:///{db_path}"
    run_id = first_process(url)
    second_process(url)
    print(f"the drafting effect ran {DRAFTS.count(run_id)} time(s); database: {db_path}")


if __name__ == "__main__":
    main()
