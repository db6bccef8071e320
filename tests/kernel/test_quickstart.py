"""QUICKSTART.md, first snippet ("Pause on a question, resume with the answer"), run verbatim."""

from __future__ import annotations

from abstractruntime import Effect, EffectType
from abstractruntime.core.policy import compute_idempotency_key

# Copied character for character from QUICKSTART.md; executed as is, so formatting cannot alter it.
QUICKSTART_SNIPPET = """\
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


flow = WorkflowSpec(workflow_id="ship", entry_node="confirm", nodes={"confirm": confirm, "finish": finish})
runtime = Runtime(run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore())

run_id = runtime.start(workflow=flow)
state = runtime.tick(workflow=flow, run_id=run_id)
assert state.status.value == "waiting"
assert state.waiting.wait_key == f"user:{run_id}:confirm"

state = runtime.resume(workflow=flow, run_id=run_id, wait_key=state.waiting.wait_key, payload={"text": "yes"})
assert state.status.value == "completed"
assert state.output == {"shipped": True}
"""


def test_quickstart_snippet_runs_verbatim() -> None:
    namespace: dict = {"__name__": "quickstart"}
    exec(compile(QUICKSTART_SNIPPET, "QUICKSTART.md", "exec"), namespace)
    runtime, run_id, state = namespace["runtime"], namespace["run_id"], namespace["state"]

    # The snippet's own asserts, restated so they also hold under ``python -O``.
    assert state.status.value == "completed"
    assert state.output == {"shipped": True}
    assert state.vars["reply"] == {"text": "yes"}
    ledger = runtime.get_ledger(run_id)
    assert [(r["node_id"], r["status"]) for r in ledger] == [
        ("confirm", "started"),
        ("confirm", "waiting"),
        ("confirm", "completed"),  # resume
        ("finish", "completed"),  # complete_output
        ("finish", "completed"),  # terminal status event
    ]
    started, waiting, resumed, completion, status_event = ledger

    effect = {"type": "ask_user", "payload": {"prompt": "Ship it?"}, "result_key": "reply"}
    key = compute_idempotency_key(
        run_id=run_id,
        node_id="confirm",
        effect=Effect(type=EffectType.ASK_USER, payload={"prompt": "Ship it?"}, result_key="reply"),
    )
    assert started["effect"] == effect
    assert started["idempotency_key"] == key
    assert started["attempt"] == 1
    assert waiting["step_id"] == started["step_id"]
    assert waiting["effect"] == effect
    assert waiting["idempotency_key"] == key
    assert waiting["result"]["wait"]["wait_key"] == f"user:{run_id}:confirm"

    assert resumed["effect"] == {
        "type": "resume",
        "payload": {
            "wait_reason": "user",
            "wait_key": f"user:{run_id}:confirm",
            "resume_to_node": "finish",
            "result_key": "reply",
            "payload": {"text": "yes"},
        },
        "result_key": None,
    }
    assert resumed["result"] == {"resumed": True}
    assert resumed["idempotency_key"] is None

    assert completion["effect"] is None
    assert completion["result"] == {"completed": True, "output": {"shipped": True}}
    assert completion["idempotency_key"] is None

    assert status_event["effect"]["type"] == "emit_event"
    assert status_event["effect"]["payload"] == {
        "name": "abstract.status",
        "scope": "session",
        "payload": {"text": "completed"},
    }
    assert status_event["effect"].get("result_key") is None
    assert status_event["result"] == {
        "emitted": True,
        "name": "abstract.status",
        "payload": {"text": "completed"},
    }
    assert status_event["idempotency_key"] == "system:terminal_status:completed"
