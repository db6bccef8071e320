"""SPEC §14 conformance scenarios 1-10, with the record shapes of §4.5, traces of §5.3 and §6 keys."""

from __future__ import annotations

from typing import Any

import pytest

from abstractruntime import (
    Effect,
    EffectType,
    RetryPolicy,
    RunStatus,
    StepPlan,
    WaitReason,
    WaitState,
    WorkflowSpec,
)
from abstractruntime.core.policy import compute_idempotency_key
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.errors import RunPausedError

WAIT_FIELDS = {
    "reason",
    "wait_key",
    "until",
    "resume_to_node",
    "result_key",
    "prompt",
    "choices",
    "allow_free_text",
    "details",
}
TRACE_BASE_KEYS = {"ts", "node_id", "status", "idempotency_key", "reused_prior_result", "effect"}


def effect_dict(effect: Effect) -> dict[str, Any]:
    return {"type": effect.type.value, "payload": effect.payload, "result_key": effect.result_key}


def assert_status_event(record: dict[str, Any], status: str) -> None:
    """The best-effort terminal status event record of SPEC §4.5 (last row)."""
    assert record["status"] == "completed"
    assert record["effect"]["type"] == "emit_event"
    assert record["effect"]["payload"] == {
        "name": "abstract.status",
        "scope": "session",
        "payload": {"text": status},
    }
    assert record["effect"].get("result_key") is None
    assert record["result"] == {"emitted": True, "name": "abstract.status", "payload": {"text": status}}
    assert record["idempotency_key"] == f"system:terminal_status:{status}"


def assert_effect_pair(
    started: dict[str, Any],
    ended: dict[str, Any],
    *,
    effect: Effect,
    key: str,
    end_status: str,
    attempt: int = 1,
) -> None:
    """An executed attempt: two lines with the same step_id, STARTED then its end status (SPEC §4.4)."""
    assert started["status"] == "started"
    assert ended["status"] == end_status
    assert started["step_id"] == ended["step_id"]
    for record in (started, ended):
        assert record["effect"] == effect_dict(effect)
        assert record["idempotency_key"] == key
        assert record["attempt"] == attempt
    assert started["result"] is None
    assert started["error"] is None


def complete_node(node_id: str, output_fn=None):
    def handler(run, ctx):
        output = output_fn(run) if output_fn else {"done": True}
        return StepPlan(node_id=node_id, complete_output=output)

    return handler


# -- 1 -------------------------------------------------------------------------------------------
def test_1_ask_user_waits_and_resume_continues(runtime, statuses) -> None:
    ask_effect = Effect(
        type=EffectType.ASK_USER,
        payload={"prompt": "Pick one", "choices": ["red", "blue"], "allow_free_text": False},
        result_key="answer",
    )
    later = Effect(type=EffectType.ANSWER_USER, payload={"message": "thanks"}, result_key="said")
    flow = WorkflowSpec(
        workflow_id="ask_flow",
        entry_node="ask",
        nodes={
            "ask": lambda run, ctx: StepPlan(node_id="ask", effect=ask_effect, next_node="reply"),
            "reply": lambda run, ctx: StepPlan(node_id="reply", effect=later, next_node="done"),
            "done": complete_node("done", lambda run: {"color": run.vars["answer"]["choice"]}),
        },
    )
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)

    assert state.status == RunStatus.WAITING
    assert state.current_node == "ask"
    assert state.waiting == WaitState(
        reason=WaitReason.USER,
        wait_key=f"user:{run_id}:ask",
        resume_to_node="reply",
        result_key="answer",
        prompt="Pick one",
        choices=["red", "blue"],
        allow_free_text=False,
    )
    key = compute_idempotency_key(run_id=run_id, node_id="ask", effect=ask_effect)
    ledger = runtime.get_ledger(run_id)
    assert statuses(ledger) == ["started", "waiting"]
    assert_effect_pair(ledger[0], ledger[1], effect=ask_effect, key=key, end_status="waiting")
    assert set(ledger[1]["result"]) == {"wait"}
    wait_dict = ledger[1]["result"]["wait"]
    assert set(wait_dict) == WAIT_FIELDS
    assert wait_dict["reason"] == "user"
    assert wait_dict["wait_key"] == f"user:{run_id}:ask"
    assert wait_dict["resume_to_node"] == "reply"
    assert wait_dict["result_key"] == "answer"
    assert wait_dict["prompt"] == "Pick one"
    assert wait_dict["choices"] == ["red", "blue"]
    assert wait_dict["allow_free_text"] is False

    trace = runtime.get_node_trace(run_id, "ask")
    assert trace["node_id"] == "ask"
    assert "updated_at" in trace
    [entry] = trace["steps"]
    assert TRACE_BASE_KEYS | {"wait"} <= set(entry)
    assert "result" not in entry
    assert "error" not in entry
    assert entry["node_id"] == "ask"
    assert entry["status"] == "waiting"
    assert entry["idempotency_key"] == key
    assert entry["reused_prior_result"] is False
    assert entry["effect"] == effect_dict(ask_effect)
    assert entry["wait"] == wait_dict

    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=f"user:{run_id}:ask", payload={"choice": "blue"}
    )
    assert state.status == RunStatus.COMPLETED
    assert state.waiting is None
    assert state.vars["answer"] == {"choice": "blue"}
    assert state.vars["said"] == {"message": "thanks", "level": "message"}
    assert state.output == {"color": "blue"}

    ledger = runtime.get_ledger(run_id)
    assert [(r["node_id"], r["status"]) for r in ledger] == [
        ("ask", "started"),
        ("ask", "waiting"),
        ("ask", "completed"),
        ("reply", "started"),
        ("reply", "completed"),
        ("done", "completed"),
        ("done", "completed"),
    ]
    resumed = ledger[2]
    assert resumed["effect"] == {
        "type": "resume",
        "payload": {
            "wait_reason": "user",
            "wait_key": f"user:{run_id}:ask",
            "resume_to_node": "reply",
            "result_key": "answer",
            "payload": {"choice": "blue"},
        },
        "result_key": None,
    }
    assert resumed["result"] == {"resumed": True}
    assert resumed["idempotency_key"] is None
    reply_key = compute_idempotency_key(run_id=run_id, node_id="reply", effect=later)
    assert_effect_pair(ledger[3], ledger[4], effect=later, key=reply_key, end_status="completed")
    assert ledger[4]["result"] == {"message": "thanks", "level": "message"}
    assert ledger[5]["effect"] is None
    assert ledger[5]["result"] == {"completed": True, "output": {"color": "blue"}}
    assert ledger[5]["idempotency_key"] is None
    assert_status_event(ledger[6], "completed")


# -- 2 -------------------------------------------------------------------------------------------
def test_2_terminal_ask_user_completes_on_resume(runtime, statuses) -> None:
    calls: list[str] = []
    ask_effect = Effect(type=EffectType.ASK_USER, payload={"prompt": "Last words?"}, result_key="last")

    def ask(run, ctx):
        calls.append(run.current_node)
        return StepPlan(node_id="ask", effect=ask_effect)

    flow = WorkflowSpec(workflow_id="terminal_ask", entry_node="ask", nodes={"ask": ask})
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.status == RunStatus.WAITING
    assert state.waiting.resume_to_node is None
    wait_key = f"user:{run_id}:ask"
    assert state.waiting.wait_key == wait_key

    payload = {"text": "goodbye"}
    state = runtime.resume(workflow=flow, run_id=run_id, wait_key=wait_key, payload=payload)

    assert state.status == RunStatus.COMPLETED
    assert state.waiting is None
    assert state.output == {"success": True, "result": payload}
    assert state.vars["last"] == payload
    assert calls == ["ask"], "a terminal wait must not re-enter the waiting node"
    assert runtime.get_state(run_id).status == RunStatus.COMPLETED

    ledger = runtime.get_ledger(run_id)
    assert statuses(ledger) == ["started", "waiting", "completed", "completed", "completed"]
    resumed, completion, status_event = ledger[2:]
    assert resumed["node_id"] == "ask"
    assert resumed["effect"]["type"] == "resume"
    assert resumed["effect"]["payload"] == {
        "wait_reason": "user",
        "wait_key": wait_key,
        "resume_to_node": None,
        "result_key": "last",
        "payload": payload,
    }
    assert resumed["result"] == {"resumed": True}
    assert completion["effect"] is None
    assert completion["idempotency_key"] is None
    assert completion["result"] == {
        "completed": True,
        "via": "resume",
        "wait_reason": "user",
        "wait_key": wait_key,
        "output": {"success": True, "result": payload},
    }
    assert_status_event(status_event, "completed")


# -- 3 -------------------------------------------------------------------------------------------
def test_3_terminal_effect_node_output(runtime, statuses) -> None:
    effect = Effect(
        type=EffectType.ANSWER_USER, payload={"message": "bye", "level": "warn"}, result_key="msg"
    )
    flow = WorkflowSpec(
        workflow_id="terminal_effect",
        entry_node="say",
        nodes={"say": lambda run, ctx: StepPlan(node_id="say", effect=effect)},
    )
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)

    result = {"message": "bye", "level": "warning"}
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"success": True, "result": result}
    assert state.vars["msg"] == result
    assert state.error is None

    ledger = runtime.get_ledger(run_id)
    assert statuses(ledger) == ["started", "completed", "completed"]
    key = compute_idempotency_key(run_id=run_id, node_id="say", effect=effect)
    assert_effect_pair(ledger[0], ledger[1], effect=effect, key=key, end_status="completed")
    assert ledger[1]["result"] == result
    assert ledger[1]["ended_at"] is not None
    assert_status_event(ledger[2], "completed")
    assert not any(isinstance(r["result"], dict) and r["result"].get("completed") is True for r in ledger)


# -- 4 -------------------------------------------------------------------------------------------
def test_4_same_effect_in_a_loop_runs_once(make_runtime, statuses) -> None:
    handler_calls: list[dict[str, Any]] = []

    def llm(run, effect, default_next_node):
        handler_calls.append(dict(effect.payload))
        return EffectOutcome.completed({"content": f"answer #{len(handler_calls)}"})

    runtime = make_runtime(effect_handlers={EffectType.LLM_CALL: llm})
    work_effect = Effect(type=EffectType.LLM_CALL, payload={"prompt": "same"}, result_key="out")

    def check(run, ctx):
        run.vars["visits"] = run.vars.get("visits", 0) + 1
        if run.vars["visits"] < 3:
            return StepPlan(node_id="check", next_node="work")
        return StepPlan(node_id="check", complete_output={"out": run.vars["out"]})

    flow = WorkflowSpec(
        workflow_id="loop",
        entry_node="work",
        nodes={
            "work": lambda run, ctx: StepPlan(node_id="work", effect=work_effect, next_node="check"),
            "check": check,
        },
    )
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)

    assert state.status == RunStatus.COMPLETED
    assert handler_calls == [{"prompt": "same"}]
    assert state.vars["visits"] == 3
    assert state.output == {"out": {"content": "answer #1"}}

    key = compute_idempotency_key(run_id=run_id, node_id="work", effect=work_effect)
    ledger = runtime.get_ledger(run_id)
    assert statuses(ledger) == ["started", "completed", "completed", "completed"]
    assert_effect_pair(ledger[0], ledger[1], effect=work_effect, key=key, end_status="completed")
    assert [r["idempotency_key"] for r in ledger].count(key) == 2

    steps = runtime.get_node_trace(run_id, "work")["steps"]
    assert [s["reused_prior_result"] for s in steps] == [False, True, True]
    assert [s["status"] for s in steps] == ["completed"] * 3
    assert [s["idempotency_key"] for s in steps] == [key] * 3
    assert [s["result"] for s in steps] == [{"content": "answer #1"}] * 3
    assert all(s["effect"] == effect_dict(work_effect) for s in steps)


# -- 5 -------------------------------------------------------------------------------------------
def test_5_retry_policy_three_failed_attempts(make_runtime, clock, statuses) -> None:
    attempts: list[int] = []

    def flaky_llm(run, effect, default_next_node):
        attempts.append(len(attempts) + 1)
        raise RuntimeError("model offline")

    runtime = make_runtime(
        effect_handlers={EffectType.LLM_CALL: flaky_llm}, effect_policy=RetryPolicy(llm_max_attempts=3)
    )
    effect = Effect(type=EffectType.LLM_CALL, payload={"prompt": "hi"}, result_key="llm")
    flow = WorkflowSpec(
        workflow_id="retry",
        entry_node="llm",
        nodes={
            "llm": lambda run, ctx: StepPlan(node_id="llm", effect=effect, next_node="never"),
            "never": complete_node("never"),
        },
    )
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)

    per_attempt = "Effect handler raised exception: model offline"
    final_error = f"Effect failed after 3 attempts: {per_attempt}"
    assert attempts == [1, 2, 3]
    assert clock.sleeps == [1.0, 2.0]
    assert state.status == RunStatus.FAILED
    assert state.error == final_error
    assert state.current_node == "llm"
    assert "llm" not in state.vars
    assert runtime.get_state(run_id).status == RunStatus.FAILED

    key = compute_idempotency_key(run_id=run_id, node_id="llm", effect=effect)
    ledger = runtime.get_ledger(run_id)
    assert statuses(ledger) == ["started", "failed"] * 3 + ["completed"]
    for index, attempt in enumerate((1, 2, 3)):
        started, failed = ledger[2 * index], ledger[2 * index + 1]
        assert_effect_pair(started, failed, effect=effect, key=key, end_status="failed", attempt=attempt)
        assert failed["error"] == per_attempt
        assert failed["result"] is None
        assert failed["ended_at"] is not None
    assert len({ledger[i]["step_id"] for i in (0, 2, 4)}) == 3
    assert_status_event(ledger[6], "failed")

    [entry] = runtime.get_node_trace(run_id, "llm")["steps"]
    assert entry["status"] == "failed"
    assert entry["error"] == final_error
    assert entry["reused_prior_result"] is False
    assert entry["idempotency_key"] == key


# -- 6 -------------------------------------------------------------------------------------------
def test_6_node_handler_raising_propagates_and_run_stays_running(runtime) -> None:
    class Boom(Exception):
        pass

    def explode(run, ctx):
        raise Boom("node blew up")

    flow = WorkflowSpec(
        workflow_id="boom",
        entry_node="start",
        nodes={"start": lambda run, ctx: StepPlan(node_id="start", next_node="explode"), "explode": explode},
    )
    run_id = runtime.start(workflow=flow)
    with pytest.raises(Boom, match="node blew up"):
        runtime.tick(workflow=flow, run_id=run_id)

    state = runtime.get_state(run_id)
    assert state.status == RunStatus.RUNNING
    assert state.current_node == "explode"
    assert state.error is None
    assert runtime.get_ledger(run_id) == []


# -- 7 -------------------------------------------------------------------------------------------
def _timer_flow(until: str) -> WorkflowSpec:
    effect = Effect(type=EffectType.WAIT_UNTIL, payload={"until": until}, result_key="timer")
    return WorkflowSpec(
        workflow_id="timer",
        entry_node="sleep",
        nodes={
            "sleep": lambda run, ctx: StepPlan(node_id="sleep", effect=effect, next_node="after"),
            "after": complete_node("after", lambda run: {"timer": run.vars.get("timer")}),
        },
    )


def test_7_wait_until_in_the_future(runtime, clock) -> None:
    until = "2026-01-01T00:01:00+00:00"
    assert clock.iso() < until
    flow = _timer_flow(until)
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)

    assert state.status == RunStatus.WAITING
    assert state.waiting == WaitState(
        reason=WaitReason.UNTIL, wait_key=None, until=until, resume_to_node="after", result_key="timer"
    )
    ledger_before = runtime.get_ledger(run_id)
    assert [r["status"] for r in ledger_before] == ["started", "waiting"]

    clock.advance(30)
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.status == RunStatus.WAITING
    assert len(runtime.get_ledger(run_id)) == 2

    clock.advance(30)  # now == until: due
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"timer": None}
    assert "timer" not in state.vars
    ledger = runtime.get_ledger(run_id)
    assert not any(isinstance(r["effect"], dict) and r["effect"]["type"] == "resume" for r in ledger)
    assert [r["node_id"] for r in ledger] == ["sleep", "sleep", "after", "after"]


def test_7_wait_until_in_the_past_completes_at_once(runtime) -> None:
    until = "2025-12-31T23:59:00+00:00"
    flow = _timer_flow(until)
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)

    assert state.status == RunStatus.COMPLETED
    assert state.vars["timer"] == {"until": until, "ready": True}
    assert state.output == {"timer": {"until": until, "ready": True}}
    ledger = runtime.get_ledger(run_id)
    assert [r["status"] for r in ledger[:2]] == ["started", "completed"]
    assert ledger[1]["result"] == {"until": until, "ready": True}


# -- 8 -------------------------------------------------------------------------------------------
def _listener_flow(handled: list[str], *, wait_payload: dict[str, Any]) -> WorkflowSpec:
    wait = Effect(type=EffectType.WAIT_EVENT, payload=wait_payload, result_key="event")

    def handle(run, ctx):
        handled.append(run.run_id)
        return StepPlan(node_id="handle", complete_output={"got": run.vars["event"]["payload"]})

    return WorkflowSpec(
        workflow_id="listener",
        entry_node="listen",
        nodes={
            "listen": lambda run, ctx: StepPlan(node_id="listen", effect=wait, next_node="handle"),
            "handle": handle,
        },
    )


def _emitter_flow(payload: dict[str, Any]) -> WorkflowSpec:
    emit = Effect(type=EffectType.EMIT_EVENT, payload=payload, result_key="report")
    return WorkflowSpec(
        workflow_id="emitter",
        entry_node="emit",
        nodes={
            "emit": lambda run, ctx: StepPlan(node_id="emit", effect=emit, next_node="done"),
            "done": complete_node("done", lambda run: {"report": run.vars["report"]}),
        },
    )


def test_8_emit_event_delivers_to_one_listener(make_runtime, registry, clock) -> None:
    handled: list[str] = []
    listener = registry.add(_listener_flow(handled, wait_payload={"name": "ping"}))
    emitter = registry.add(_emitter_flow({"name": "ping", "payload": {"n": 1}}))
    runtime = make_runtime(workflow_registry=registry)

    listener_id = runtime.start(workflow=listener, session_id="s1")
    waiting = runtime.tick(workflow=listener, run_id=listener_id)
    assert waiting.status == RunStatus.WAITING
    assert waiting.waiting.reason == WaitReason.EVENT
    assert waiting.waiting.wait_key == "evt:session:s1:ping"

    emitter_id = runtime.start(workflow=emitter, session_id="s1")
    state = runtime.tick(workflow=emitter, run_id=emitter_id)

    assert state.status == RunStatus.COMPLETED
    assert state.vars["report"] == {
        "wait_key": "evt:session:s1:ping",
        "name": "ping",
        "scope": "session",
        "delivered": 1,
        "delivered_to": [listener_id],
        "resumed": [{"run_id": listener_id, "status": "running"}],
    }

    listened = runtime.get_state(listener_id)
    assert listened.status == RunStatus.RUNNING
    assert listened.current_node == "handle"
    assert listened.waiting is None
    assert handled == [], "max_steps defaults to 0: the listener is not executed"
    envelope = listened.vars["event"]
    assert set(envelope) == {"event_id", "name", "scope", "session_id", "payload", "emitted_at", "emitter"}
    assert isinstance(envelope["event_id"], str)
    assert envelope["event_id"]
    assert envelope["name"] == "ping"
    assert envelope["scope"] == "session"
    assert envelope["session_id"] == "s1"
    assert envelope["payload"] == {"n": 1}
    assert envelope["emitted_at"] == clock.iso()
    assert envelope["emitter"] == {"run_id": emitter_id, "workflow_id": "emitter", "node_id": "emit"}

    resumed = runtime.get_ledger(listener_id)[-1]
    assert resumed["effect"]["type"] == "resume"
    assert resumed["effect"]["payload"]["wait_reason"] == "event"
    assert resumed["effect"]["payload"]["wait_key"] == "evt:session:s1:ping"
    assert resumed["effect"]["payload"]["payload"] == envelope

    done = runtime.tick(workflow=listener, run_id=listener_id)
    assert done.status == RunStatus.COMPLETED
    assert done.output == {"got": {"n": 1}}
    assert handled == [listener_id]


def test_8_emit_event_without_listeners_or_registry(runtime) -> None:
    other = _listener_flow([], wait_payload={"name": "pong"})
    other_id = runtime.start(workflow=other, session_id="s2")
    runtime.tick(workflow=other, run_id=other_id)

    emitter = _emitter_flow({"name": "ping"})
    emitter_id = runtime.start(workflow=emitter, session_id="s2")
    state = runtime.tick(workflow=emitter, run_id=emitter_id)

    assert runtime.workflow_registry is None
    assert state.status == RunStatus.COMPLETED
    assert state.vars["report"] == {
        "wait_key": "evt:session:s2:ping",
        "name": "ping",
        "scope": "session",
        "delivered": 0,
        "delivered_to": [],
        "resumed": [],
        "available_listeners_in_session": ["pong"],
    }
    assert runtime.get_state(other_id).status == RunStatus.WAITING


# -- 9 -------------------------------------------------------------------------------------------
def test_9_sync_subworkflow_whose_child_waits(make_runtime, registry, statuses) -> None:
    child_ask = Effect(type=EffectType.ASK_USER, payload={"prompt": "Child question?"}, result_key="answer")
    child = registry.add(
        WorkflowSpec(
            workflow_id="child",
            entry_node="ask",
            nodes={
                "ask": lambda run, ctx: StepPlan(node_id="ask", effect=child_ask, next_node="end"),
                "end": complete_node("end", lambda run: {"answer": run.vars["answer"]["text"]}),
            },
        )
    )
    spawn = Effect(
        type=EffectType.START_SUBWORKFLOW,
        payload={"workflow_id": "child", "vars": {"x": 1}},
        result_key="sub",
    )
    parent = WorkflowSpec(
        workflow_id="parent",
        entry_node="spawn",
        nodes={
            "spawn": lambda run, ctx: StepPlan(node_id="spawn", effect=spawn, next_node="after"),
            "after": complete_node("after", lambda run: {"sub": run.vars["sub"]}),
        },
    )
    runtime = make_runtime(workflow_registry=registry)
    parent_id = runtime.start(workflow=parent, session_id="sess", actor_id="actor-1")
    state = runtime.tick(workflow=parent, run_id=parent_id)

    assert state.status == RunStatus.WAITING
    wait = state.waiting
    child_id = wait.details["sub_run_id"]
    assert wait.reason == WaitReason.SUBWORKFLOW
    assert wait.wait_key == f"subworkflow:{child_id}"
    assert wait.resume_to_node == "after"
    assert wait.result_key == "sub"
    assert wait.details["sub_workflow_id"] == "child"
    assert wait.details["include_traces"] is False
    assert wait.details["sub_waiting"] == {"reason": "user", "wait_key": f"user:{child_id}:ask"}

    child_state = runtime.get_state(child_id)
    assert child_state.status == RunStatus.WAITING
    assert child_state.parent_run_id == parent_id
    assert child_state.session_id == "sess"
    assert child_state.actor_id == "actor-1"
    assert child_state.workflow_id == "child"
    assert child_state.vars["x"] == 1

    parent_ledger = runtime.get_ledger(parent_id)
    assert statuses(parent_ledger) == ["started", "waiting"]
    assert parent_ledger[0]["effect"] == effect_dict(spawn)

    child_done = runtime.resume(
        workflow=child, run_id=child_id, wait_key=f"user:{child_id}:ask", payload={"text": "ok"}
    )
    assert child_done.status == RunStatus.COMPLETED
    assert child_done.output == {"answer": "ok"}

    # The kernel never resumes the parent by itself.
    assert runtime.get_state(parent_id).status == RunStatus.WAITING
    assert runtime.tick(workflow=parent, run_id=parent_id).status == RunStatus.WAITING
    assert statuses(runtime.get_ledger(parent_id)) == ["started", "waiting"]

    payload = {"sub_run_id": child_id, "output": child_done.output}
    state = runtime.resume(
        workflow=parent, run_id=parent_id, wait_key=f"subworkflow:{child_id}", payload=payload
    )
    assert state.status == RunStatus.COMPLETED
    assert state.vars["sub"] == payload
    assert state.output == {"sub": payload}
    resumed = runtime.get_ledger(parent_id)[2]
    assert resumed["effect"]["payload"]["wait_reason"] == "subworkflow"
    assert resumed["effect"]["payload"]["wait_key"] == f"subworkflow:{child_id}"


# -- 10 ------------------------------------------------------------------------------------------
def test_10_pause_and_resume_run(runtime, clock) -> None:
    entered: list[str] = []

    def first(run, ctx):
        entered.append("first")
        return StepPlan(node_id="first", complete_output={"ok": True})

    flow = WorkflowSpec(workflow_id="pausable", entry_node="first", nodes={"first": first})
    run_id = runtime.start(workflow=flow)
    paused_at = clock.iso()

    state = runtime.pause_run(run_id, reason="maintenance")
    assert state.status == RunStatus.WAITING
    assert state.waiting == WaitState(
        reason=WaitReason.USER,
        wait_key=f"pause:{run_id}",
        resume_to_node="first",
        prompt="Paused",
        allow_free_text=False,
        details={"kind": "pause"},
    )
    control = state.vars["_runtime"]["control"]
    assert control["paused"] is True
    assert control["paused_at"] == paused_at
    assert control["pause_reason"] == "maintenance"

    ticked = runtime.tick(workflow=flow, run_id=run_id)
    assert ticked.status == RunStatus.WAITING
    assert entered == []

    with pytest.raises(RunPausedError) as excinfo:
        runtime.resume(workflow=flow, run_id=run_id, wait_key=f"pause:{run_id}", payload={})
    assert isinstance(excinfo.value, ValueError)
    assert str(excinfo.value) == "Run is paused"
    assert runtime.get_state(run_id).status == RunStatus.WAITING

    clock.advance(5)
    state = runtime.resume_run(run_id)
    assert state.status == RunStatus.RUNNING
    assert state.current_node == "first"
    assert state.waiting is None
    control = state.vars["_runtime"]["control"]
    assert "paused" not in control
    assert "pause_reason" not in control
    assert control["resumed_at"] == clock.iso()
    assert entered == [], "resume_run does not tick"

    done = runtime.tick(workflow=flow, run_id=run_id)
    assert done.status == RunStatus.COMPLETED
    assert entered == ["first"]
