"""Pause on a question, resume with the answer (in memory).

Run: python examples/quickstart.py
"""

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore


def confirm(run, ctx):
    return StepPlan(
        node_id="confirm",
        effect=Effect(type=EffectType.ASK_USER, payload={"prompt": "Ship it?"}, result_key="reply"),
        next_node="finish",
    )


def finish(run, ctx):
    reply = run.vars.get("reply") or {}
    return StepPlan(node_id="finish", complete_output={"shipped": reply.get("text") == "yes"})


def main() -> None:
    flow = WorkflowSpec(
        workflow_id="ship", entry_node="confirm", nodes={"confirm": confirm, "finish": finish}
    )
    runtime = Runtime(run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore())

    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)
    print(f"run {run_id} is {state.status.value}: {state.waiting.prompt!r} (key {state.waiting.wait_key})")

    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=state.waiting.wait_key, payload={"text": "yes"}
    )
    print(f"after the answer: {state.status.value}, output {state.output}")
    for record in runtime.get_ledger(run_id):
        status = str(getattr(record["status"], "value", record["status"]))
        effect = (record["effect"] or {}).get("type", "-")
        print(f"  ledger: {status:<10} node={record['node_id']:<8} effect={effect}")


if __name__ == "__main__":
    main()
