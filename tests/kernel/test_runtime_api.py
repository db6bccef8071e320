"""Runtime facade behaviour (SPEC §4.1-§4.12, §5): start, tick, resume, control, queries, built-in effects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from abstractruntime import (
    Effect,
    EffectType,
    InMemoryLedgerStore,
    ObservableLedgerStore,
    RunStatus,
    StepPlan,
    WaitReason,
    WaitState,
    WorkflowSpec,
)
from abstractruntime.core.config import RuntimeConfig
from abstractruntime.core.models import LimitWarning
from abstractruntime.core.policy import compute_idempotency_key
from abstractruntime.core.runtime import EffectOutcome


# -- small workflow builders ---------------------------------------------------------------------
def effect_node(node_id: str, effect: Effect, next_node: str | None = None):
    def handler(run, ctx):
        return StepPlan(node_id=node_id, effect=effect, next_node=next_node)

    return handler


def goto(node_id: str, next_node: str):
    def handler(run, ctx):
        return StepPlan(node_id=node_id, next_node=next_node)

    return handler


def finish(node_id: str = "finish", output=None):
    def handler(run, ctx):
        return StepPlan(node_id=node_id, complete_output=output(run) if callable(output) else (output or {}))

    return handler


def one_effect_flow(
    effect: Effect, *, workflow_id: str = "one", next_node: str | None = "end"
) -> WorkflowSpec:
    nodes = {"act": effect_node("act", effect, next_node)}
    if next_node:
        nodes[next_node] = finish(next_node, {"ok": True})
    return WorkflowSpec(workflow_id=workflow_id, entry_node="act", nodes=nodes)


def run_effect(runtime, effect: Effect, *, next_node: str | None = "end", **start_kwargs):
    flow = one_effect_flow(effect, next_node=next_node)
    run_id = runtime.start(workflow=flow, **start_kwargs)
    return flow, run_id, runtime.tick(workflow=flow, run_id=run_id)


# -- start() ----------------------------------------------------------------------------------------
def test_start_seeds_limits_from_default_config_and_writes_no_ledger(runtime) -> None:
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    given = {"task": "x"}
    run_id = runtime.start(workflow=flow, vars=given, actor_id="me", session_id="s", parent_run_id="p")
    state = runtime.get_state(run_id)

    assert state.status == RunStatus.RUNNING
    assert state.current_node == "a"
    assert state.workflow_id == "w"
    assert (state.actor_id, state.session_id, state.parent_run_id) == ("me", "s", "p")
    assert state.vars["task"] == "x"
    assert state.vars["_limits"] == RuntimeConfig().to_limits_dict()
    assert state.vars["_limits"] == {
        "max_iterations": 50,
        "current_iteration": 0,
        "max_tokens": 32768,
        "max_output_tokens": None,
        "max_input_tokens": None,
        "estimated_tokens_used": 0,
        "max_history_messages": -1,
        "warn_iterations_pct": 80,
        "warn_tokens_pct": 80,
    }
    assert state.vars["_runtime"] == {}
    for lazy in ("context", "scratchpad", "_temp"):
        assert lazy not in state.vars
    assert given == {"task": "x"}, "vars are shallow-copied"
    assert runtime.get_ledger(run_id) == []


def test_start_seeds_runtime_metadata_from_config(make_runtime) -> None:
    config = RuntimeConfig(
        provider="ollama", model="qwen3", max_iterations=7, model_capabilities={"tool_support": "native"}
    )
    runtime = make_runtime(config=config)
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    state = runtime.get_state(runtime.start(workflow=flow))
    assert state.vars["_runtime"] == {
        "provider": "ollama",
        "model": "qwen3",
        "tool_support": "native",
        "supports_native_tools": True,
    }
    assert state.vars["_limits"]["max_iterations"] == 7

    caller = {"_runtime": {"provider": "mine", "tool_support": "native", "extra": 1}}
    state = runtime.get_state(runtime.start(workflow=flow, vars=caller))
    assert state.vars["_runtime"] == {
        "provider": "mine",
        "model": "qwen3",
        "tool_support": "native",
        "supports_native_tools": True,
        "extra": 1,
    }


def test_start_supports_native_tools_false_for_prompted_tools(make_runtime) -> None:
    runtime = make_runtime(config=RuntimeConfig(model_capabilities={"tool_support": "prompted"}))
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    state = runtime.get_state(runtime.start(workflow=flow))
    assert state.vars["_runtime"] == {"tool_support": "prompted", "supports_native_tools": False}


def test_start_keeps_caller_limits(make_runtime) -> None:
    runtime = make_runtime(config=RuntimeConfig(max_iterations=3))
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    assert runtime.get_state(runtime.start(workflow=flow, vars={"_limits": {}})).vars["_limits"] == {}
    custom = {"max_iterations": 99}
    assert runtime.get_state(runtime.start(workflow=flow, vars={"_limits": custom})).vars["_limits"] == custom


# -- tick() -----------------------------------------------------------------------------------------
def test_dotted_result_key_replaces_non_dict_intermediates(runtime) -> None:
    effect = Effect(type=EffectType.ANSWER_USER, payload={"message": "m"}, result_key="a.b.c")
    flow = one_effect_flow(effect)
    run_id = runtime.start(workflow=flow, vars={"a": 5})
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.vars["a"] == {"b": {"c": {"message": "m", "level": "message"}}}

    run_id = runtime.start(workflow=flow, vars={"a": {"keep": 1, "b": "text"}})
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.vars["a"] == {"keep": 1, "b": {"c": {"message": "m", "level": "message"}}}


def test_terminal_effect_node_output_uses_handler_result(make_runtime) -> None:
    def llm(run, effect, default_next_node):
        assert default_next_node is None
        return EffectOutcome.completed({"content": "done", "usage": {"input_tokens": 12, "total_tokens": 40}})

    runtime = make_runtime(effect_handlers={EffectType.LLM_CALL: llm})
    effect = Effect(type=EffectType.LLM_CALL, payload={"prompt": "p"})
    _, run_id, state = run_effect(runtime, effect, next_node=None)

    result = {"content": "done", "usage": {"input_tokens": 12, "total_tokens": 40}}
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"success": True, "result": result}
    assert state.vars["_limits"]["estimated_tokens_used"] == 12
    ledger = runtime.get_ledger(run_id)
    assert [r["status"] for r in ledger] == ["started", "completed", "completed"]
    assert ledger[1]["result"] == result
    assert ledger[2]["idempotency_key"] == "system:terminal_status:completed"


def test_temp_prev_node_bookkeeping(runtime) -> None:
    seen: dict[str, Any] = {}

    def b(run, ctx):
        seen["at_b"] = dict(run.vars["_temp"])
        return StepPlan(
            node_id="b",
            effect=Effect(type=EffectType.ANSWER_USER, payload={"message": "x"}),
            next_node="c",
        )

    def c(run, ctx):
        seen["at_c"] = dict(run.vars["_temp"])
        return StepPlan(
            node_id="c",
            effect=Effect(type=EffectType.ASK_USER, payload={"prompt": "?"}),
            next_node="d",
        )

    flow = WorkflowSpec(
        workflow_id="temp", entry_node="a", nodes={"a": goto("a", "b"), "b": b, "c": c, "d": finish("d")}
    )
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)

    assert seen["at_b"] == {"prev_node_id": "a", "prev_next_node": "b"}
    assert seen["at_c"] == {"prev_node_id": "b", "prev_next_node": "c"}
    assert state.status == RunStatus.WAITING
    assert state.vars["_temp"] == {"prev_node_id": "c", "prev_next_node": "d"}


def test_pure_transitions_write_no_ledger_or_trace_and_max_steps_bounds_them(runtime) -> None:
    flow = WorkflowSpec(
        workflow_id="chain",
        entry_node="a",
        nodes={"a": goto("a", "b"), "b": goto("b", "c"), "c": goto("c", "d"), "d": finish("d")},
    )
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id, max_steps=2)
    assert state.status == RunStatus.RUNNING
    assert state.current_node == "c"
    assert runtime.get_state(run_id).current_node == "c"
    assert runtime.get_ledger(run_id) == []
    assert runtime.get_node_traces(run_id) == {}

    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.status == RunStatus.COMPLETED


def test_tick_on_terminal_run_returns_it_unchanged(runtime) -> None:
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a", {"v": 1})})
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    ledger = runtime.get_ledger(run_id)
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"v": 1}
    assert runtime.get_ledger(run_id) == ledger


def test_complete_output_ignores_effect_on_same_plan(runtime) -> None:
    def both(run, ctx):
        return StepPlan(
            node_id="both",
            effect=Effect(type=EffectType.ASK_USER, payload={"prompt": "ignored?"}),
            complete_output={"won": "complete"},
        )

    flow = WorkflowSpec(workflow_id="w", entry_node="both", nodes={"both": both})
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"won": "complete"}
    ledger = runtime.get_ledger(run_id)
    assert [r["status"] for r in ledger] == ["completed", "completed"]
    assert ledger[0]["effect"] is None
    assert ledger[0]["result"] == {"completed": True, "output": {"won": "complete"}}


# -- resume() -------------------------------------------------------------------------------------
def _ask_flow(*, result_key: str | None) -> tuple[WorkflowSpec, list[str]]:
    entered: list[str] = []

    def after(run, ctx):
        entered.append("after")
        return StepPlan(node_id="after", complete_output={"ok": True})

    ask = Effect(type=EffectType.ASK_USER, payload={"prompt": "?"}, result_key=result_key)
    flow = WorkflowSpec(
        workflow_id="ask", entry_node="ask", nodes={"ask": effect_node("ask", ask, "after"), "after": after}
    )
    return flow, entered


def test_resume_with_max_steps_zero_only_unblocks(runtime) -> None:
    flow, entered = _ask_flow(result_key="answer")
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)

    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=f"user:{run_id}:ask", payload={"a": 1}, max_steps=0
    )
    assert state.status == RunStatus.RUNNING
    assert state.current_node == "after"
    assert state.waiting is None
    assert state.vars["answer"] == {"a": 1}
    assert entered == []
    assert runtime.get_state(run_id).status == RunStatus.RUNNING

    assert runtime.tick(workflow=flow, run_id=run_id).status == RunStatus.COMPLETED
    assert entered == ["after"]


def test_resume_without_result_key_stores_nothing_in_vars(runtime) -> None:
    flow, _ = _ask_flow(result_key=None)
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    before = json.loads(json.dumps(runtime.get_state(run_id).vars))

    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=f"user:{run_id}:ask", payload={"secret": "value"}, max_steps=0
    )
    assert state.vars == before
    assert "value" not in json.dumps(state.vars)
    resumed = runtime.get_ledger(run_id)[-1]
    assert resumed["effect"]["type"] == "resume"
    assert resumed["effect"]["payload"]["result_key"] is None
    assert resumed["effect"]["payload"]["payload"] == {"secret": "value"}


def test_resume_with_wait_key_none_skips_the_key_check(runtime) -> None:
    flow, _ = _ask_flow(result_key="answer")
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    state = runtime.resume(workflow=flow, run_id=run_id, wait_key=None, payload={"x": 1})
    assert state.status == RunStatus.COMPLETED
    assert state.vars["answer"] == {"x": 1}


# -- cancel / pause ------------------------------------------------------------------------------------
def test_cancel_run_marks_cancelled_and_writes_status_event(runtime, clock) -> None:
    flow, _ = _ask_flow(result_key="answer")
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    before = len(runtime.get_ledger(run_id))

    state = runtime.cancel_run(run_id)
    assert state.status == RunStatus.CANCELLED
    assert state.error == "Cancelled"
    assert state.waiting is None
    assert runtime.get_state(run_id).status == RunStatus.CANCELLED

    ledger = runtime.get_ledger(run_id)
    assert len(ledger) == before + 1
    event = ledger[-1]
    assert event["status"] == "completed"
    assert event["effect"]["type"] == "emit_event"
    assert event["effect"]["payload"] == {
        "name": "abstract.status",
        "scope": "session",
        "payload": {"text": "cancelled"},
    }
    assert event["result"] == {"emitted": True, "name": "abstract.status", "payload": {"text": "cancelled"}}
    assert event["idempotency_key"] == "system:terminal_status:cancelled"

    assert runtime.tick(workflow=flow, run_id=run_id).status == RunStatus.CANCELLED


def test_cancel_run_with_reason_clears_pause_flag(runtime) -> None:
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    run_id = runtime.start(workflow=flow)
    runtime.pause_run(run_id)
    state = runtime.cancel_run(run_id, reason="operator said so")
    assert state.status == RunStatus.CANCELLED
    assert state.error == "operator said so"
    assert state.waiting is None
    assert "paused" not in state.vars["_runtime"].get("control", {})


def test_cancel_run_unknown_run_raises_key_error(runtime) -> None:
    with pytest.raises(KeyError):
        runtime.cancel_run("no-such-run")


def test_cancel_run_leaves_terminal_runs_unchanged(runtime) -> None:
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a", {"v": 1})})
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    ledger = runtime.get_ledger(run_id)

    state = runtime.cancel_run(run_id, reason="too late")
    assert state.status == RunStatus.COMPLETED
    assert state.error is None
    assert state.output == {"v": 1}
    assert runtime.get_ledger(run_id) == ledger


def test_pause_run_leaves_real_user_waits_and_terminal_runs_unchanged(runtime) -> None:
    flow, _ = _ask_flow(result_key="answer")
    run_id = runtime.start(workflow=flow)
    waiting = runtime.tick(workflow=flow, run_id=run_id).waiting
    state = runtime.pause_run(run_id, reason="x")
    assert state.waiting == waiting
    assert "control" not in state.vars["_runtime"]

    done_flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    done_id = runtime.start(workflow=done_flow)
    runtime.tick(workflow=done_flow, run_id=done_id)
    assert runtime.pause_run(done_id).status == RunStatus.COMPLETED
    assert "control" not in runtime.get_state(done_id).vars["_runtime"]


def test_pause_of_event_wait_keeps_the_wait_and_resume_run_only_clears_flag(runtime) -> None:
    wait = Effect(type=EffectType.WAIT_EVENT, payload={"name": "go"}, result_key="evt")
    flow = one_effect_flow(wait)
    run_id = runtime.start(workflow=flow, session_id="s")
    original = runtime.tick(workflow=flow, run_id=run_id).waiting
    original_copy = WaitState(**vars(original))

    paused = runtime.pause_run(run_id, reason="   ")
    assert paused.status == RunStatus.WAITING
    assert paused.waiting == original_copy
    control = paused.vars["_runtime"]["control"]
    assert control["paused"] is True
    assert "pause_reason" not in control

    state = runtime.resume_run(run_id)
    assert state.status == RunStatus.WAITING
    assert state.waiting == original_copy
    assert "paused" not in state.vars["_runtime"]["control"]
    assert "resumed_at" in state.vars["_runtime"]["control"]


# -- queries -----------------------------------------------------------------------------------------
def test_get_state_unknown_run_raises_key_error(runtime) -> None:
    with pytest.raises(KeyError) as excinfo:
        runtime.get_state("missing-id")
    assert excinfo.value.args[0] == "Unknown run_id: missing-id"


def test_get_node_trace_defaults(runtime) -> None:
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    run_id = runtime.start(workflow=flow)
    assert runtime.get_node_traces(run_id) == {}
    assert runtime.get_node_trace(run_id, "nowhere") == {"node_id": "nowhere", "steps": []}


def test_get_node_traces_is_a_deep_copy(runtime) -> None:
    effect = Effect(type=EffectType.ANSWER_USER, payload={"message": "hi"})
    _, run_id, _ = run_effect(runtime, effect)
    traces = runtime.get_node_traces(run_id)
    assert list(traces) == ["act"]
    traces["act"]["steps"].clear()
    assert len(runtime.get_node_trace(run_id, "act")["steps"]) == 1


def test_update_limits_copies_only_allowed_keys(runtime, clock) -> None:
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    run_id = runtime.start(workflow=flow)
    updated_at = runtime.get_state(run_id).updated_at
    clock.advance(10)
    updates = {
        "max_iterations": 10,
        "max_tokens": 1000,
        "max_output_tokens": 100,
        "max_input_tokens": 500,
        "max_history_messages": 20,
        "warn_iterations_pct": 50,
        "warn_tokens_pct": 60,
        "estimated_tokens_used": 7,
        "current_iteration": 3,
        "bogus": True,
        "provider": "nope",
    }
    state = runtime.update_limits(run_id, updates)
    expected = {k: v for k, v in updates.items() if k not in ("bogus", "provider")}
    assert state.vars["_limits"] == expected
    assert runtime.get_state(run_id).vars["_limits"] == expected
    assert runtime.get_state(run_id).updated_at == updated_at


def test_get_limit_status_numbers(runtime) -> None:
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    run_id = runtime.start(workflow=flow)
    runtime.update_limits(
        run_id, {"current_iteration": 40, "estimated_tokens_used": 16384, "max_output_tokens": 2048}
    )
    assert runtime.get_limit_status(run_id) == {
        "iterations": {"current": 40, "max": 50, "pct": 80.0, "warning": True},
        "tokens": {
            "estimated_used": 16384,
            "max": 32768,
            "max_input_tokens": None,
            "max_output_tokens": 2048,
            "pct": 50.0,
            "warning": False,
        },
        "history": {"max_messages": -1},
    }


def test_get_limit_status_defaults_when_limits_missing(runtime) -> None:
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    run_id = runtime.start(workflow=flow, vars={"_limits": {}})
    status = runtime.get_limit_status(run_id)
    assert status["iterations"] == {"current": 0, "max": 50, "pct": 0.0, "warning": False}
    assert status["tokens"]["max"] == 32768
    assert status["tokens"]["pct"] == 0.0


def test_check_limits_warning_and_exceeded(runtime) -> None:
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    run_id = runtime.start(workflow=flow)
    assert runtime.check_limits(runtime.get_state(run_id)) == []

    runtime.update_limits(run_id, {"current_iteration": 40})
    [warning] = runtime.check_limits(runtime.get_state(run_id))
    assert warning == LimitWarning(
        limit_type="iterations", status="warning", current=40, maximum=50, pct=80.0
    )

    runtime.update_limits(run_id, {"current_iteration": 50, "estimated_tokens_used": 30000})
    warnings = runtime.check_limits(runtime.get_state(run_id))
    assert [(w.limit_type, w.status, w.current, w.maximum, w.pct) for w in warnings] == [
        ("iterations", "exceeded", 50, 50, 100.0),
        ("tokens", "warning", 30000, 32768, 91.6),
    ]

    runtime.update_limits(run_id, {"current_iteration": 0, "estimated_tokens_used": 40000})
    [tokens] = runtime.check_limits(runtime.get_state(run_id))
    assert (tokens.limit_type, tokens.status) == ("tokens", "exceeded")


def test_subscribe_ledger_sees_started_before_the_effect_ends(make_runtime) -> None:
    seen: list[tuple[str, str]] = []
    seen_during_handler: list[list[tuple[str, str]]] = []

    def slow_tool(run, effect, default_next_node):
        seen_during_handler.append(list(seen))
        return EffectOutcome.completed({"mode": "executed", "results": []})

    ledger = ObservableLedgerStore(InMemoryLedgerStore())
    runtime = make_runtime(ledger_store=ledger, effect_handlers={EffectType.TOOL_CALLS: slow_tool})
    flow = one_effect_flow(Effect(type=EffectType.TOOL_CALLS, payload={"tool_calls": []}))
    run_id = runtime.start(workflow=flow)

    def on_record(record: dict[str, Any]) -> None:
        seen.append((record["node_id"], str(getattr(record["status"], "value", record["status"]))))

    unsubscribe = runtime.subscribe_ledger(on_record, run_id=run_id)
    runtime.tick(workflow=flow, run_id=run_id)

    assert seen_during_handler == [[("act", "started")]]
    assert seen == [("act", "started"), ("act", "completed"), ("end", "completed"), ("end", "completed")]
    unsubscribe()
    unsubscribe()
    other = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=other)
    assert len(seen) == 4


def test_subscribe_ledger_requires_an_observable_store(runtime) -> None:
    with pytest.raises(RuntimeError):
        runtime.subscribe_ledger(lambda record: None)


# -- effect handler contract ---------------------------------------------------------------------
def test_legacy_two_argument_and_three_argument_handlers(make_runtime) -> None:
    received: dict[str, tuple[Any, ...]] = {}

    def legacy(run, effect):
        received["legacy"] = (run.run_id, effect.type)
        return EffectOutcome.completed({"via": "legacy"})

    def modern(run, effect, default_next_node):
        received["modern"] = (run.run_id, effect.type, default_next_node)
        return EffectOutcome.completed({"via": "modern"})

    def star(*args):
        received["star"] = (len(args), args[2])
        return EffectOutcome.completed({"via": "star"})

    runtime = make_runtime(
        effect_handlers={
            EffectType.LLM_CALL: legacy,
            EffectType.TOOL_CALLS: modern,
            EffectType.MODEL_RESIDENCY: star,
        }
    )
    nodes = {
        "a": effect_node("a", Effect(type=EffectType.LLM_CALL, payload={}, result_key="ra"), "b"),
        "b": effect_node("b", Effect(type=EffectType.TOOL_CALLS, payload={}, result_key="rb"), "c"),
        "c": effect_node("c", Effect(type=EffectType.MODEL_RESIDENCY, payload={}, result_key="rc"), "d"),
        "d": finish("d"),
    }
    flow = WorkflowSpec(workflow_id="handlers", entry_node="a", nodes=nodes)
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)

    assert state.status == RunStatus.COMPLETED
    assert received == {
        "legacy": (run_id, EffectType.LLM_CALL),
        "modern": (run_id, EffectType.TOOL_CALLS, "c"),
        "star": (3, "d"),
    }
    assert (state.vars["ra"], state.vars["rb"], state.vars["rc"]) == (
        {"via": "legacy"},
        {"via": "modern"},
        {"via": "star"},
    )


def test_user_handler_overrides_builtin(make_runtime) -> None:
    def auto_answer(run, effect, default_next_node):
        return EffectOutcome.completed({"text": "auto"})

    runtime = make_runtime(effect_handlers={EffectType.ASK_USER: auto_answer})
    _, _, state = run_effect(
        runtime, Effect(type=EffectType.ASK_USER, payload={"prompt": "?"}, result_key="r")
    )
    assert state.status == RunStatus.COMPLETED
    assert state.vars["r"] == {"text": "auto"}


@pytest.mark.parametrize(
    "effect_type", [EffectType.MEMORY_KG_QUERY, EffectType.LLM_CALL, EffectType.TOOL_CALLS]
)
def test_missing_handler_fails_the_run(runtime, effect_type) -> None:
    _, run_id, state = run_effect(runtime, Effect(type=effect_type, payload={"note": "n"}))
    message = f"No effect handler registered for {effect_type.value}"
    assert state.status == RunStatus.FAILED
    assert message in state.error
    assert state.error == f"Effect failed after 1 attempts: {message}"
    ledger = runtime.get_ledger(run_id)
    assert [r["status"] for r in ledger] == ["started", "failed", "completed"]
    assert ledger[1]["error"] == message
    assert ledger[2]["idempotency_key"] == "system:terminal_status:failed"


def test_handler_returning_failed_outcome_fails_the_run(make_runtime) -> None:
    runtime = make_runtime(
        effect_handlers={EffectType.LLM_CALL: lambda run, effect: EffectOutcome.failed("quota exceeded")}
    )
    _, _, state = run_effect(runtime, Effect(type=EffectType.LLM_CALL, payload={}))
    assert state.status == RunStatus.FAILED
    assert state.error == "Effect failed after 1 attempts: quota exceeded"


# -- ANSWER_USER ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"message": "m"}, {"message": "m", "level": "message"}),
        ({"message": "m", "level": "warn"}, {"message": "m", "level": "warning"}),
        ({"message": "m", "level": "warning"}, {"message": "m", "level": "warning"}),
        ({"message": "m", "level": "error"}, {"message": "m", "level": "error"}),
        ({"message": "m", "level": "info"}, {"message": "m", "level": "message"}),
        ({"message": "m", "level": "shout"}, {"message": "m", "level": "message"}),
        ({"text": "t"}, {"message": "t", "level": "message"}),
        ({"content": 42}, {"message": "42", "level": "message"}),
    ],
)
def test_answer_user_levels(runtime, payload, expected) -> None:
    _, _, state = run_effect(runtime, Effect(type=EffectType.ANSWER_USER, payload=payload, result_key="r"))
    assert state.status == RunStatus.COMPLETED
    assert state.vars["r"] == expected


def test_answer_user_without_message_fails(runtime) -> None:
    _, _, state = run_effect(runtime, Effect(type=EffectType.ANSWER_USER, payload={"level": "error"}))
    assert state.status == RunStatus.FAILED


# -- VARS_QUERY ------------------------------------------------------------------------------------
def _vars_query(runtime, payload: dict[str, Any], vars: dict[str, Any]) -> dict[str, Any]:
    _, _, state = run_effect(
        runtime, Effect(type=EffectType.VARS_QUERY, payload=payload, result_key="q"), vars=vars
    )
    assert state.status == RunStatus.COMPLETED
    result = state.vars["q"]
    assert result["mode"] == "executed"
    [call] = result["results"]
    assert set(call) >= {"call_id", "name", "success", "output", "error"}
    return call


SAMPLE_VARS = {"scratchpad": {"items": ["zero", {"deep": True}], "a/b": {"~t": 7}, "z": 1, "m": 2}}


def test_vars_query_dot_path_with_index(runtime) -> None:
    call = _vars_query(runtime, {"path": "scratchpad.items[1]"}, SAMPLE_VARS)
    assert call["call_id"] == "vars"
    assert call["name"] == "inspect_vars"
    assert call["success"] is True
    assert call["error"] is None
    assert isinstance(call["output"], str)
    assert "\n " in call["output"], "output is indented JSON text"
    body = json.loads(call["output"])
    assert body["path"] == "scratchpad.items[1]"
    assert body["value"] == {"deep": True}
    assert "type" in body
    keys_in_text_order = [k for k, _ in json.loads(call["output"], object_pairs_hook=list)]
    assert keys_in_text_order == sorted(keys_in_text_order), "keys are sorted"


def test_vars_query_json_pointer_unescapes(runtime) -> None:
    call = _vars_query(
        runtime, {"var_path": "/scratchpad/a~1b/~0t", "tool_name": "peek", "call_id": "c9"}, SAMPLE_VARS
    )
    assert (call["call_id"], call["name"], call["success"]) == ("c9", "peek", True)
    assert json.loads(call["output"])["value"] == 7

    call = _vars_query(runtime, {"path": "/scratchpad/items/0"}, SAMPLE_VARS)
    assert json.loads(call["output"])["value"] == "zero"


def test_vars_query_defaults_to_scratchpad_and_keys_only(runtime) -> None:
    call = _vars_query(runtime, {"keys_only": True}, SAMPLE_VARS)
    body = json.loads(call["output"])
    assert body["path"] == "scratchpad"
    assert body["keys"] == ["a/b", "items", "m", "z"]
    assert "value" not in body

    call = _vars_query(runtime, {"path": "scratchpad.items", "keys_only": True}, SAMPLE_VARS)
    body = json.loads(call["output"])
    assert body["length"] == 2
    assert "value" not in body


def test_vars_query_bad_path_and_unknown_target_run(runtime) -> None:
    call = _vars_query(runtime, {"path": "scratchpad.missing"}, SAMPLE_VARS)
    assert call["success"] is False
    assert call["error"]

    call = _vars_query(runtime, {"path": "scratchpad", "target_run_id": "ghost-run"}, SAMPLE_VARS)
    assert call["success"] is False
    assert call["error"]


def test_vars_query_reads_another_run(runtime) -> None:
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a")})
    other = runtime.start(workflow=flow, vars={"scratchpad": {"secret": "s3"}})
    call = _vars_query(runtime, {"path": "scratchpad.secret", "target_run_id": other}, {})
    assert call["success"] is True
    assert json.loads(call["output"])["value"] == "s3"


# -- WAIT_EVENT ------------------------------------------------------------------------------------
def _wait_event(runtime, payload: dict[str, Any], **start_kwargs):
    _, run_id, state = run_effect(
        runtime, Effect(type=EffectType.WAIT_EVENT, payload=payload, result_key="evt"), **start_kwargs
    )
    return run_id, state


def test_wait_event_key_scopes(runtime) -> None:
    run_id, state = _wait_event(runtime, {"name": "ping"}, session_id="sess")
    assert state.waiting.wait_key == "evt:session:sess:ping"
    assert state.waiting.reason == WaitReason.EVENT
    assert state.waiting.resume_to_node == "end"
    assert state.waiting.result_key == "evt"

    run_id, state = _wait_event(runtime, {"name": "ping"})
    assert state.waiting.wait_key == f"evt:session:{run_id}:ping"

    _, state = _wait_event(runtime, {"event_name": "ping", "session_id": "explicit"}, session_id="sess")
    assert state.waiting.wait_key == "evt:session:explicit:ping"

    _, state = _wait_event(runtime, {"name": "ping", "scope": " Workflow "})
    assert state.waiting.wait_key == "evt:workflow:one:ping"

    run_id, state = _wait_event(runtime, {"name": "ping", "scope": "run"})
    assert state.waiting.wait_key == f"evt:run:{run_id}:ping"

    _, state = _wait_event(runtime, {"name": "ping", "scope": "global"})
    assert state.waiting.wait_key == "evt:global:global:ping"

    _, state = _wait_event(runtime, {"wait_key": "custom:key", "name": "ignored"})
    assert state.waiting.wait_key == "custom:key"


def test_wait_event_host_metadata(runtime) -> None:
    _, state = _wait_event(
        runtime,
        {
            "name": "approve",
            "prompt": "Approve?",
            "choices": [" yes ", "", "no", "  "],
            "allowFreeText": False,
            "details": {"k": "v"},
            "resume_to_node": "elsewhere",
        },
        session_id="s",
    )
    assert state.waiting == WaitState(
        reason=WaitReason.EVENT,
        wait_key="evt:session:s:approve",
        resume_to_node="elsewhere",
        result_key="evt",
        prompt="Approve?",
        choices=["yes", "no"],
        allow_free_text=False,
        details={"k": "v"},
    )


def test_wait_event_invalid_payloads_fail(runtime) -> None:
    _, state = _wait_event(runtime, {})
    assert state.status == RunStatus.FAILED
    assert "wait_event requires payload.wait_key or payload.name" in state.error

    _, state = _wait_event(runtime, {"name": "x", "scope": "galaxy"})
    assert state.status == RunStatus.FAILED
    assert "wait_event invalid payload: " in state.error


def test_wildcard_listener_receives_any_event_of_its_scope(make_runtime, registry) -> None:
    handled: list[str] = []
    wait = Effect(type=EffectType.WAIT_EVENT, payload={"wait_key": "evt:session:s1:*"}, result_key="evt")

    def handle(run, ctx):
        handled.append(run.vars["evt"]["name"])
        return StepPlan(node_id="handle", complete_output={})

    listener = registry.add(
        WorkflowSpec(
            workflow_id="wild",
            entry_node="listen",
            nodes={"listen": effect_node("listen", wait, "handle"), "handle": handle},
        )
    )
    runtime = make_runtime(workflow_registry=registry)
    listener_id = runtime.start(workflow=listener, session_id="s1")
    runtime.tick(workflow=listener, run_id=listener_id)

    emit = Effect(
        type=EffectType.EMIT_EVENT,
        payload={"name": "anything", "payload": 5, "max_steps": 5},
        result_key="rep",
    )
    _, _, state = run_effect(runtime, emit, session_id="s1")
    assert state.vars["rep"]["wait_key"] == "evt:session:s1:anything"
    assert state.vars["rep"]["delivered"] == 1
    assert state.vars["rep"]["delivered_to"] == [listener_id]
    assert state.vars["rep"]["resumed"] == [{"run_id": listener_id, "status": "completed"}]
    listened = runtime.get_state(listener_id)
    assert listened.status == RunStatus.COMPLETED
    assert listened.vars["evt"]["payload"] == {"value": 5}
    assert handled == ["anything"]


def test_emit_event_with_listener_but_unregistered_workflow_is_skipped(make_runtime, registry) -> None:
    runtime = make_runtime(workflow_registry=registry)
    wait = Effect(type=EffectType.WAIT_EVENT, payload={"name": "ping"}, result_key="evt")
    listener = one_effect_flow(wait, workflow_id="unregistered")
    listener_id = runtime.start(workflow=listener, session_id="s1")
    runtime.tick(workflow=listener, run_id=listener_id)

    emit = Effect(type=EffectType.EMIT_EVENT, payload={"name": "ping"}, result_key="rep")
    _, _, state = run_effect(runtime, emit, session_id="s1")
    assert state.vars["rep"]["resumed"] == [
        {"run_id": listener_id, "status": "skipped", "error": "workflow_not_registered"}
    ]
    assert runtime.get_state(listener_id).status == RunStatus.WAITING


def test_emit_event_with_listener_and_no_registry_fails(runtime) -> None:
    wait = Effect(type=EffectType.WAIT_EVENT, payload={"name": "ping"}, result_key="evt")
    listener = one_effect_flow(wait, workflow_id="listener")
    listener_id = runtime.start(workflow=listener, session_id="s1")
    runtime.tick(workflow=listener, run_id=listener_id)

    emit = Effect(type=EffectType.EMIT_EVENT, payload={"name": "ping"}, result_key="rep")
    _, _, state = run_effect(runtime, emit, session_id="s1")
    assert state.status == RunStatus.FAILED
    assert runtime.get_state(listener_id).status == RunStatus.WAITING


# -- START_SUBWORKFLOW -------------------------------------------------------------------------------
def _child_flow(registry, *, output=None, ask: bool = False) -> WorkflowSpec:
    if ask:
        effect = Effect(type=EffectType.ASK_USER, payload={"prompt": "child?"}, result_key="answer")
        nodes = {"ask": effect_node("ask", effect, "done"), "done": finish("done", output or {"answer": "c"})}
        return registry.add(WorkflowSpec(workflow_id="child", entry_node="ask", nodes=nodes))
    effect = Effect(type=EffectType.ANSWER_USER, payload={"message": "from child"}, result_key="said")
    nodes = {"say": effect_node("say", effect, "done"), "done": finish("done", output or {"answer": "c"})}
    return registry.add(WorkflowSpec(workflow_id="child", entry_node="say", nodes=nodes))


def _spawn(runtime, payload: dict[str, Any], **start_kwargs):
    effect = Effect(type=EffectType.START_SUBWORKFLOW, payload=payload, result_key="sub")
    return run_effect(runtime, effect, **start_kwargs)


def test_start_subworkflow_async_returns_child_id_without_ticking(make_runtime, registry) -> None:
    _child_flow(registry)
    runtime = make_runtime(workflow_registry=registry)
    _, parent_id, state = _spawn(runtime, {"workflow_id": "child", "async": True}, session_id="ps")
    assert state.status == RunStatus.COMPLETED
    child_id = state.vars["sub"]["sub_run_id"]
    assert state.vars["sub"] == {"sub_run_id": child_id, "async": True}
    child = runtime.get_state(child_id)
    assert child.status == RunStatus.RUNNING
    assert child.current_node == "say"
    assert child.parent_run_id == parent_id
    assert child.session_id == "ps"


def test_start_subworkflow_async_wait(make_runtime, registry) -> None:
    _child_flow(registry)
    runtime = make_runtime(workflow_registry=registry)
    payload = {
        "workflow_id": "child",
        "async": True,
        "wait": True,
        "resume_to_node": "end",
        "session_id": "cs",
    }
    _, _, state = _spawn(runtime, payload, session_id="ps")
    assert state.status == RunStatus.WAITING
    child_id = state.waiting.details["sub_run_id"]
    assert state.waiting == WaitState(
        reason=WaitReason.SUBWORKFLOW,
        wait_key=f"subworkflow:{child_id}",
        resume_to_node="end",
        result_key="sub",
        details={"sub_run_id": child_id, "sub_workflow_id": "child", "async": True, "include_traces": False},
    )
    child = runtime.get_state(child_id)
    assert child.status == RunStatus.RUNNING
    assert child.session_id == "cs"
    assert runtime.get_ledger(child_id) == []


def test_start_subworkflow_sync_completion_with_traces(make_runtime, registry) -> None:
    _child_flow(registry, output={"answer": "42"})
    runtime = make_runtime(workflow_registry=registry)
    _, _, state = _spawn(runtime, {"workflow_id": "child", "include_traces": True})
    assert state.status == RunStatus.COMPLETED
    sub = state.vars["sub"]
    child_id = sub["sub_run_id"]
    assert set(sub) == {"sub_run_id", "output", "node_traces"}
    assert sub["output"] == {"answer": "42"}
    assert sub["node_traces"] == runtime.get_node_traces(child_id)
    assert list(sub["node_traces"]) == ["say"]
    assert runtime.get_state(child_id).status == RunStatus.COMPLETED

    _, _, state = _spawn(runtime, {"workflow_id": "child"})
    assert set(state.vars["sub"]) == {"sub_run_id", "output"}


def test_start_subworkflow_failures(make_runtime, registry) -> None:
    runtime = make_runtime()
    _, _, state = _spawn(runtime, {"workflow_id": "child"})
    assert state.status == RunStatus.FAILED  # no registry

    runtime = make_runtime(workflow_registry=registry)
    _, _, state = _spawn(runtime, {"workflow_id": "unknown"})
    assert state.status == RunStatus.FAILED

    _, _, state = _spawn(runtime, {})
    assert state.status == RunStatus.FAILED

    def broken(run, ctx):
        raise RuntimeError("child exploded")

    registry.add(WorkflowSpec(workflow_id="broken", entry_node="x", nodes={"x": broken}))
    _, _, state = _spawn(runtime, {"workflow_id": "broken"})
    assert state.status == RunStatus.FAILED
    assert "Subworkflow 'broken' failed: child exploded" in state.error

    failing = Effect(type=EffectType.LLM_CALL, payload={})
    registry.add(WorkflowSpec(workflow_id="failing", entry_node="x", nodes={"x": effect_node("x", failing)}))
    _, _, state = _spawn(runtime, {"workflow_id": "failing"})
    assert state.status == RunStatus.FAILED
    assert "No effect handler registered for llm_call" in state.error


def test_start_subworkflow_child_still_running_after_100_steps(make_runtime, registry) -> None:
    registry.add(WorkflowSpec(workflow_id="spin", entry_node="x", nodes={"x": goto("x", "x")}))
    runtime = make_runtime(workflow_registry=registry)
    _, _, state = _spawn(runtime, {"workflow_id": "spin"})
    assert state.status == RunStatus.FAILED
    assert "Unexpected subworkflow status: running" in state.error


def test_start_subworkflow_inherits_workspace_vars(make_runtime, registry) -> None:
    _child_flow(registry)
    runtime = make_runtime(workflow_registry=registry)
    parent_vars = {
        "workspace_root": "/srv/ws",
        "workspace_access_mode": "   ",
        "workspace_allowed_paths": ["src", "docs"],
        "workspace_ignored_paths": None,
        "unrelated": "no",
    }
    payload = {"workflow_id": "child", "async": True, "vars": {"workspace_allowed_paths": ["mine"], "k": 1}}
    _, _, state = _spawn(runtime, payload, vars=parent_vars)
    child = runtime.get_state(state.vars["sub"]["sub_run_id"])
    assert child.vars["workspace_root"] == "/srv/ws"
    assert child.vars["workspace_allowed_paths"] == ["mine"]
    assert child.vars["k"] == 1
    for key in ("workspace_access_mode", "workspace_ignored_paths", "unrelated"):
        assert key not in child.vars


def test_start_subworkflow_wrap_as_tool_result_on_completion(make_runtime, registry) -> None:
    _child_flow(registry, output={"answer": "42", "report": "short report"})
    runtime = make_runtime(workflow_registry=registry)
    payload = {"workflow_id": "child", "wrap_as_tool_result": True, "toolName": "delegate", "callId": "c1"}
    _, _, state = _spawn(runtime, payload)
    assert state.status == RunStatus.COMPLETED
    sub = state.vars["sub"]
    child_id = sub["results"][0]["output"]["sub_run_id"]
    [call] = sub["results"]
    assert sub["mode"] == "executed"
    assert call["call_id"] == "c1"
    assert call["name"] == "delegate"
    assert call["success"] is True
    assert call["error"] is None
    assert call["output"]["answer"] == "42"
    assert call["output"]["report"] == "short report"
    assert isinstance(call["output"]["rendered"], str)
    assert runtime.get_state(child_id).parent_run_id is not None


def test_start_subworkflow_wrap_as_tool_result_failure_completes(make_runtime, registry) -> None:
    runtime = make_runtime(workflow_registry=registry)
    payload = {"workflow_id": "nope", "wrap_as_tool_result": True, "tool_name": "delegate", "call_id": "c2"}
    _, _, state = _spawn(runtime, payload)
    assert state.status == RunStatus.COMPLETED
    [call] = state.vars["sub"]["results"]
    assert state.vars["sub"]["mode"] == "executed"
    assert (call["call_id"], call["name"], call["success"]) == ("c2", "delegate", False)
    assert isinstance(call["error"], str)
    assert call["error"]


def test_start_subworkflow_wrap_as_tool_result_on_resume(make_runtime, registry) -> None:
    _child_flow(registry, ask=True)
    runtime = make_runtime(workflow_registry=registry)
    payload = {"workflow_id": "child", "wrap_as_tool_result": True, "tool_name": "delegate", "call_id": "c3"}
    flow, parent_id, state = _spawn(runtime, payload)
    assert state.status == RunStatus.WAITING
    details = state.waiting.details
    child_id = details["sub_run_id"]
    assert details["wrap_as_tool_result"] is True
    assert details["tool_name"] == "delegate"
    assert details["call_id"] == "c3"

    state = runtime.resume(
        workflow=flow,
        run_id=parent_id,
        wait_key=f"subworkflow:{child_id}",
        payload={"sub_run_id": child_id, "output": {"answer": "yes", "report": "r" * 4001}},
        max_steps=0,
    )
    assert state.vars["sub"] == {
        "mode": "executed",
        "results": [
            {
                "call_id": "c3",
                "name": "delegate",
                "success": True,
                "output": {
                    "rendered": state.vars["sub"]["results"][0]["output"]["rendered"],
                    "answer": "yes",
                    "sub_run_id": child_id,
                },
                "error": None,
            }
        ],
    }
    assert isinstance(state.vars["sub"]["results"][0]["output"]["rendered"], str)


def test_wrap_as_tool_result_resume_with_failed_output(make_runtime, registry) -> None:
    _child_flow(registry, ask=True)
    runtime = make_runtime(workflow_registry=registry)
    payload = {"workflow_id": "child", "wrap_as_tool_result": True}
    flow, parent_id, state = _spawn(runtime, payload)
    child_id = state.waiting.details["sub_run_id"]

    state = runtime.resume(
        workflow=flow,
        run_id=parent_id,
        wait_key=f"subworkflow:{child_id}",
        payload={"sub_run_id": child_id, "output": {"success": False, "error": "child gave up"}},
        max_steps=0,
    )
    [call] = state.vars["sub"]["results"]
    assert call["call_id"] == "subworkflow"
    assert call["name"] == "start_subworkflow"
    assert call["success"] is False
    assert call["error"] == "child gave up"

    flow, parent_id, state = _spawn(runtime, payload)
    child_id = state.waiting.details["sub_run_id"]
    state = runtime.resume(
        workflow=flow,
        run_id=parent_id,
        wait_key=f"subworkflow:{child_id}",
        payload={"sub_run_id": child_id, "output": {"success": False}},
        max_steps=0,
    )
    assert state.vars["sub"]["results"][0]["error"] == "Subworkflow failed"

    flow, parent_id, state = _spawn(runtime, payload)
    child_id = state.waiting.details["sub_run_id"]
    already = {"mode": "executed", "results": [{"call_id": "x", "success": True}]}
    state = runtime.resume(
        workflow=flow, run_id=parent_id, wait_key=f"subworkflow:{child_id}", payload=already, max_steps=0
    )
    assert state.vars["sub"] == already


# -- TOOL_CALLS --------------------------------------------------------------------------------------
class RecordingToolHandler:
    """A fake TOOL_CALLS handler: records the payload it received and echoes tool results."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, run, effect, default_next_node):
        self.payloads.append(json.loads(json.dumps(effect.payload)))
        results = [
            {"call_id": c["call_id"], "name": c["name"], "success": True, "output": "ok", "error": None}
            for c in effect.payload.get("tool_calls", [])
        ]
        return EffectOutcome.completed({"mode": "executed", "results": results})


def test_tool_calls_payload_normalisation(make_runtime) -> None:
    handler = RecordingToolHandler()
    runtime = make_runtime(effect_handlers={EffectType.TOOL_CALLS: handler})
    original = {
        "tool_calls": [
            {"name": " search ", "arguments": {"q": "x"}, "call_id": "a"},
            {"name": "fetch", "arguments": {}, "id": "b"},
            {"name": "read", "arguments": {}},
            {"name": "keep", "arguments": {}, "runtime_call_id": "preset"},
        ],
        "allowed_tools": [" search", "read", "fetch ", "read"],
    }
    effect = Effect(type=EffectType.TOOL_CALLS, payload=original, result_key="tools")
    nodes = {"act": effect_node("act", effect, "end"), "end": finish("end")}
    flow = WorkflowSpec(workflow_id="tools", entry_node="act", nodes=nodes)
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)

    key = compute_idempotency_key(run_id=run_id, node_id="act", effect=effect)
    [received] = handler.payloads
    assert received["allowed_tools"] == ["fetch", "read", "search"]
    assert received["tool_calls"] == [
        {"name": "search", "arguments": {"q": "x"}, "call_id": "a", "runtime_call_id": f"rtcall_{key}_1"},
        {"name": "fetch", "arguments": {}, "id": "b", "call_id": "b", "runtime_call_id": f"rtcall_{key}_2"},
        {"name": "read", "arguments": {}, "call_id": f"rtcall_{key}_3", "runtime_call_id": f"rtcall_{key}_3"},
        {"name": "keep", "arguments": {}, "call_id": "preset", "runtime_call_id": "preset"},
    ]
    assert state.status == RunStatus.COMPLETED
    assert state.vars["_flow_warnings"] == ["#WARN: TOOL_CALLS missing call_id at node 'act' (count=2)"]

    ledger = runtime.get_ledger(run_id)
    assert ledger[0]["idempotency_key"] == key
    assert ledger[0]["effect"]["payload"] == received
    assert effect.payload == original, "the node's effect object is not mutated"


def test_tool_calls_duplicate_call_ids_warn(make_runtime) -> None:
    handler = RecordingToolHandler()
    runtime = make_runtime(effect_handlers={EffectType.TOOL_CALLS: handler})
    payload = {
        "tool_calls": [
            {"name": "a", "arguments": {}, "call_id": "same"},
            {"name": "b", "arguments": {}, "id": "same"},
        ]
    }
    _, _, state = run_effect(runtime, Effect(type=EffectType.TOOL_CALLS, payload=payload))
    warnings = state.vars["_flow_warnings"]
    assert len(warnings) == 1
    assert warnings[0].startswith("#WARN: TOOL_CALLS")
    assert "'act'" in warnings[0]
    assert "missing" not in warnings[0]


class ApprovalToolHandler:
    """A fake TOOL_CALLS handler that asks for approval instead of executing."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, run, effect, default_next_node):
        self.calls += 1
        return EffectOutcome.waiting(
            WaitState(
                reason=WaitReason.EVENT,
                wait_key=f"approval:{run.run_id}",
                resume_to_node=default_next_node,
                result_key=effect.result_key,
                prompt="Approve tool calls?",
                details={"mode": "approval_required", "tool_calls": effect.payload["tool_calls"]},
            )
        )


class FakeExecutor:
    def __init__(self, *, fail: bool = False) -> None:
        self.received: list[list[dict[str, Any]]] = []
        self.fail = fail

    def execute_approved(self, *, tool_calls):
        self.received.append(tool_calls)
        if self.fail:
            raise RuntimeError("disk full")
        return {
            "mode": "executed",
            "results": [
                {"call_id": c["call_id"], "name": c["name"], "success": True, "output": "ran", "error": None}
                for c in tool_calls
            ],
        }


def _approval_flow() -> tuple[WorkflowSpec, Effect, list[str]]:
    entered: list[str] = []
    effect = Effect(
        type=EffectType.TOOL_CALLS,
        payload={"tool_calls": [{"name": "rm", "arguments": {"path": "/tmp/x"}, "call_id": "c1"}]},
        result_key="tool_results",
    )

    def after(run, ctx):
        entered.append("after")
        return StepPlan(node_id="after", complete_output={"results": run.vars["tool_results"]})

    flow = WorkflowSpec(
        workflow_id="approval",
        entry_node="tools",
        nodes={"tools": effect_node("tools", effect, "after"), "after": after},
    )
    return flow, effect, entered


def _start_approval(make_runtime):
    handler = ApprovalToolHandler()
    runtime = make_runtime(effect_handlers={EffectType.TOOL_CALLS: handler})
    flow, effect, _ = _approval_flow()
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.status == RunStatus.WAITING
    assert state.waiting.details["mode"] == "approval_required"
    key = compute_idempotency_key(run_id=run_id, node_id="tools", effect=effect)
    return runtime, handler, flow, run_id, key


def test_approval_resume_denied(make_runtime) -> None:
    runtime, _, flow, run_id, key = _start_approval(make_runtime)
    ledger_before = runtime.get_ledger(run_id)
    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=f"approval:{run_id}", payload={"approved": False}
    )
    denied = {
        "mode": "executed",
        "results": [
            {
                "call_id": "c1",
                "runtime_call_id": f"rtcall_{key}_1",
                "name": "rm",
                "success": False,
                "output": None,
                "error": "Denied by user",
            }
        ],
    }
    assert state.status == RunStatus.COMPLETED
    assert state.vars["tool_results"] == denied

    ledger = runtime.get_ledger(run_id)
    synthetic, resumed = ledger[len(ledger_before)], ledger[len(ledger_before) + 1]
    assert synthetic["status"] == "completed"
    assert synthetic["node_id"] == "tools"
    assert synthetic["effect"] == ledger_before[0]["effect"]
    assert synthetic["effect"]["type"] == "tool_calls"
    assert synthetic["idempotency_key"] == key
    assert synthetic["attempt"] == ledger_before[0]["attempt"] == 1
    assert synthetic["result"] == denied
    assert resumed["effect"]["type"] == "resume"
    assert resumed["effect"]["payload"]["payload"] == {"approved": False}


def test_approval_resume_denied_with_reason(make_runtime) -> None:
    runtime, _, flow, run_id, _ = _start_approval(make_runtime)
    state = runtime.resume(
        workflow=flow,
        run_id=run_id,
        wait_key=f"approval:{run_id}",
        payload={"approved": False, "reason": "too risky"},
        max_steps=0,
    )
    assert state.vars["tool_results"]["results"][0]["error"] == "too risky"


def test_approval_resume_approved_runs_the_executor(make_runtime) -> None:
    runtime, handler, flow, run_id, key = _start_approval(make_runtime)
    executor = FakeExecutor()
    runtime.set_tool_executor_for_resume(executor)
    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=f"approval:{run_id}", payload={"approved": True}
    )

    [calls] = executor.received
    assert calls == [
        {"name": "rm", "arguments": {"path": "/tmp/x"}, "call_id": "c1", "runtime_call_id": f"rtcall_{key}_1"}
    ]
    ran = {
        "mode": "executed",
        "results": [{"call_id": "c1", "name": "rm", "success": True, "output": "ran", "error": None}],
    }
    assert state.status == RunStatus.COMPLETED
    assert state.vars["tool_results"] == ran
    synthetic = [
        r for r in runtime.get_ledger(run_id) if r["idempotency_key"] == key and r["status"] == "completed"
    ]
    assert len(synthetic) == 1
    assert synthetic[0]["result"] == ran
    assert handler.calls == 1


def test_approval_synthetic_completion_is_reused_on_revisit(make_runtime) -> None:
    handler = ApprovalToolHandler()
    runtime = make_runtime(effect_handlers={EffectType.TOOL_CALLS: handler})
    runtime.set_tool_executor_for_resume(FakeExecutor())
    _, effect, _ = _approval_flow()

    def after(run, ctx):
        run.vars["rounds"] = run.vars.get("rounds", 0) + 1
        if run.vars["rounds"] < 2:
            return StepPlan(node_id="after", next_node="tools")
        return StepPlan(node_id="after", complete_output={"rounds": run.vars["rounds"]})

    flow = WorkflowSpec(
        workflow_id="approval_loop",
        entry_node="tools",
        nodes={"tools": effect_node("tools", effect, "after"), "after": after},
    )
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=f"approval:{run_id}", payload={"approved": True}
    )

    assert state.status == RunStatus.COMPLETED
    assert state.output == {"rounds": 2}
    assert handler.calls == 1
    steps = runtime.get_node_trace(run_id, "tools")["steps"]
    assert [(s["status"], s["reused_prior_result"]) for s in steps] == [
        ("waiting", False),
        ("completed", True),
    ]


def test_approval_resume_without_executor_or_with_failing_executor(make_runtime) -> None:
    runtime, _, flow, run_id, _ = _start_approval(make_runtime)
    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=f"approval:{run_id}", payload={"approved": True}, max_steps=0
    )
    [result] = state.vars["tool_results"]["results"]
    assert result["success"] is False
    assert result["error"] == "ToolExecutor is not configured for approval resumes"

    runtime, _, flow, run_id, _ = _start_approval(make_runtime)
    runtime.set_tool_executor_for_resume(FakeExecutor(fail=True))
    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=f"approval:{run_id}", payload={"approved": True}, max_steps=0
    )
    [result] = state.vars["tool_results"]["results"]
    assert result["success"] is False
    assert result["error"] == "Tool execution failed: disk full"


def test_approval_resume_falls_back_to_execute(make_runtime) -> None:
    class ExecuteOnly:
        def __init__(self) -> None:
            self.calls: list[Any] = []

        def execute(self, *, tool_calls):
            self.calls.append(tool_calls)
            return {
                "mode": "executed",
                "results": [{"call_id": "c1", "name": "rm", "success": True, "output": 1, "error": None}],
            }

    runtime, _, flow, run_id, _ = _start_approval(make_runtime)
    executor = ExecuteOnly()
    runtime.set_tool_executor_for_resume(executor)
    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=f"approval:{run_id}", payload={"approved": True}, max_steps=0
    )
    assert len(executor.calls) == 1
    assert state.vars["tool_results"]["results"][0]["output"] == 1


@pytest.mark.parametrize("returned", ["not a dict", {"mode": "waiting", "results": []}])
def test_approval_resume_with_bad_executor_result(make_runtime, returned) -> None:
    class Odd:
        def execute_approved(self, *, tool_calls):
            return returned

    runtime, _, flow, run_id, _ = _start_approval(make_runtime)
    runtime.set_tool_executor_for_resume(Odd())
    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key=f"approval:{run_id}", payload={"approved": True}, max_steps=0
    )
    [result] = state.vars["tool_results"]["results"]
    assert result["success"] is False
    assert result["error"].startswith("Tool execution failed: ")


def test_resume_merges_blocked_and_precomputed_tool_results(make_runtime) -> None:
    pre = {"call_id": "c0", "name": "a", "success": True, "output": "cached", "error": None}
    blocked = {"call_id": "c1", "name": "b", "success": False, "output": None, "error": "blocked"}
    external = {"call_id": "c2", "name": "c", "success": True, "output": "ext", "error": None}

    def partial(run, effect, default_next_node):
        return EffectOutcome.waiting(
            WaitState(
                reason=WaitReason.JOB,
                wait_key="job:tools",
                resume_to_node=default_next_node,
                result_key=effect.result_key,
                details={
                    "pre_results_by_index": {"0": pre},
                    "blocked_by_index": {"1": blocked},
                    "original_count": 4,
                },
            )
        )

    runtime = make_runtime(effect_handlers={EffectType.TOOL_CALLS: partial})
    flow, run_id, state = run_effect(
        runtime, Effect(type=EffectType.TOOL_CALLS, payload={"tool_calls": []}, result_key="r")
    )
    assert state.waiting.reason == WaitReason.JOB
    state = runtime.resume(
        workflow=flow, run_id=run_id, wait_key="job:tools", payload={"results": [external]}, max_steps=0
    )
    assert state.vars["r"] == {
        "mode": "executed",
        "results": [pre, blocked, external, {"success": False, "error": "Missing tool result"}],
    }


# -- more engine details -------------------------------------------------------------------------------
def test_handler_raising_type_error_is_not_called_again(make_runtime) -> None:
    calls: list[int] = []

    def picky(run, effect, default_next_node):
        calls.append(1)
        raise TypeError("wrong arguments inside the handler")

    runtime = make_runtime(effect_handlers={EffectType.LLM_CALL: picky})
    _, _, state = run_effect(runtime, Effect(type=EffectType.LLM_CALL, payload={}))
    assert calls == [1]
    assert state.status == RunStatus.FAILED
    assert state.error == (
        "Effect failed after 1 attempts: Effect handler raised exception: wrong arguments inside the handler"
    )


def test_missing_handler_is_retried_under_the_policy(make_runtime, clock) -> None:
    from abstractruntime import RetryPolicy

    runtime = make_runtime(effect_policy=RetryPolicy(llm_max_attempts=3, backoff_base=0.5))
    _, run_id, state = run_effect(runtime, Effect(type=EffectType.LLM_CALL, payload={}))
    assert state.error == "Effect failed after 3 attempts: No effect handler registered for llm_call"
    assert clock.sleeps == [0.5, 1.0]
    assert [r["attempt"] for r in runtime.get_ledger(run_id)[:6]] == [1, 1, 2, 2, 3, 3]


def test_set_effect_policy_applies_to_the_next_step(make_runtime, clock) -> None:
    from abstractruntime import RetryPolicy

    runtime = make_runtime()
    policy = RetryPolicy(tool_max_attempts=2)
    runtime.set_effect_policy(policy)
    assert runtime.effect_policy is policy
    _, _, state = run_effect(runtime, Effect(type=EffectType.TOOL_CALLS, payload={}))
    assert state.error.startswith("Effect failed after 2 attempts: ")
    assert clock.sleeps == [1.0]


def test_completion_record_output_is_made_jsonable(runtime) -> None:
    from dataclasses import dataclass

    @dataclass
    class Point:
        x: int
        y: int

    point = Point(1, 2)
    flow = WorkflowSpec(workflow_id="w", entry_node="a", nodes={"a": finish("a", {"p": point})})
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.output == {"p": point}
    assert runtime.get_ledger(run_id)[0]["result"] == {"completed": True, "output": {"p": {"x": 1, "y": 2}}}


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"input_tokens": "11", "prompt_tokens": 22, "total_tokens": 33}, 11),
        ({"prompt_tokens": 22, "total_tokens": 33}, 22),
        ({"total_tokens": 33}, 33),
    ],
)
def test_llm_usage_sets_estimated_tokens_used(make_runtime, usage, expected) -> None:
    runtime = make_runtime(
        effect_handlers={EffectType.LLM_CALL: lambda run, effect: EffectOutcome.completed({"usage": usage})}
    )
    _, _, state = run_effect(runtime, Effect(type=EffectType.LLM_CALL, payload={}))
    assert state.vars["_limits"]["estimated_tokens_used"] == expected


def test_node_trace_keeps_the_newest_100_entries(make_runtime) -> None:
    runtime = make_runtime(
        effect_handlers={EffectType.LLM_CALL: lambda run, effect: EffectOutcome.completed({})}
    )
    effect = Effect(type=EffectType.LLM_CALL, payload={"same": True})

    def check(run, ctx):
        run.vars["n"] = run.vars.get("n", 0) + 1
        if run.vars["n"] < 105:
            return StepPlan(node_id="check", next_node="work")
        return StepPlan(node_id="check", complete_output={})

    flow = WorkflowSpec(
        workflow_id="many",
        entry_node="work",
        nodes={"work": effect_node("work", effect, "check"), "check": check},
    )
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id, max_steps=1000)
    assert state.status == RunStatus.COMPLETED
    steps = runtime.get_node_trace(run_id, "work")["steps"]
    assert len(steps) == 100
    assert all(s["reused_prior_result"] is True for s in steps), "the first (non-reused) entry was dropped"


def test_non_json_safe_trace_entry_becomes_a_stub(make_runtime) -> None:
    runtime = make_runtime(
        effect_handlers={EffectType.LLM_CALL: lambda run, effect: EffectOutcome.completed({"bad": {1, 2}})}
    )
    _, run_id, _ = run_effect(runtime, Effect(type=EffectType.LLM_CALL, payload={}))
    [entry] = runtime.get_node_trace(run_id, "act")["steps"]
    assert entry["error"] == "non_json_safe_trace_entry"


def test_ask_user_payload_overrides_and_missing_prompt(runtime) -> None:
    payload = {"prompt": "Q", "wait_key": "custom", "resume_to_node": "elsewhere"}
    _, _, state = run_effect(runtime, Effect(type=EffectType.ASK_USER, payload=payload))
    assert state.waiting.wait_key == "custom"
    assert state.waiting.resume_to_node == "elsewhere"
    assert state.waiting.allow_free_text is True

    _, _, state = run_effect(runtime, Effect(type=EffectType.ASK_USER, payload={"prompt": ""}))
    assert state.status == RunStatus.FAILED


def test_wait_until_without_until_fails(runtime) -> None:
    _, _, state = run_effect(runtime, Effect(type=EffectType.WAIT_UNTIL, payload={}))
    assert state.status == RunStatus.FAILED


def test_paused_due_timer_is_not_unblocked_by_tick(runtime, clock) -> None:
    until = "2026-01-01T00:00:10+00:00"
    flow, run_id, state = run_effect(runtime, Effect(type=EffectType.WAIT_UNTIL, payload={"until": until}))
    assert state.waiting.reason == WaitReason.UNTIL
    runtime.pause_run(run_id)
    clock.advance(60)
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.status == RunStatus.WAITING
    assert state.waiting.reason == WaitReason.UNTIL

    runtime.resume_run(run_id)
    assert runtime.get_state(run_id).status == RunStatus.WAITING
    assert runtime.tick(workflow=flow, run_id=run_id).status == RunStatus.COMPLETED


def test_emit_event_skips_paused_listeners(make_runtime, registry) -> None:
    runtime = make_runtime(workflow_registry=registry)
    wait = Effect(type=EffectType.WAIT_EVENT, payload={"name": "ping"}, result_key="evt")
    listener = registry.add(one_effect_flow(wait, workflow_id="listener"))
    listener_id = runtime.start(workflow=listener, session_id="s1")
    runtime.tick(workflow=listener, run_id=listener_id)
    runtime.pause_run(listener_id)

    emit = Effect(type=EffectType.EMIT_EVENT, payload={"name": "ping"}, result_key="rep")
    _, _, state = run_effect(runtime, emit, session_id="s1")
    assert state.vars["rep"]["delivered"] == 0
    stored = runtime.get_state(listener_id)
    assert stored.status == RunStatus.WAITING
    assert "evt" not in stored.vars


def test_emit_event_needs_a_queryable_run_store(make_runtime, copying_run_store) -> None:
    runtime = make_runtime(run_store=copying_run_store)
    _, _, state = run_effect(runtime, Effect(type=EffectType.EMIT_EVENT, payload={"name": "ping"}))
    assert state.status == RunStatus.FAILED


def test_quickstart_flow_over_a_copying_run_store(make_runtime, copying_run_store) -> None:
    runtime = make_runtime(run_store=copying_run_store)
    flow, _ = _ask_flow(result_key="answer")
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert runtime.get_state(run_id).status == RunStatus.WAITING
    state = runtime.resume(workflow=flow, run_id=run_id, wait_key=f"user:{run_id}:ask", payload={"t": 1})
    assert state.status == RunStatus.COMPLETED
    stored = runtime.get_state(run_id)
    assert stored.status == RunStatus.COMPLETED
    assert stored.vars["answer"] == {"t": 1}
    assert stored.output == {"ok": True}
    assert len(runtime.get_node_trace(run_id, "ask")["steps"]) == 1
    assert [r["status"] for r in runtime.get_ledger(run_id)] == [
        "started",
        "waiting",
        "completed",
        "completed",
        "completed",
    ]


def test_accessors_and_setters(make_runtime, run_store, ledger_store, registry) -> None:
    config = RuntimeConfig(max_iterations=9)
    runtime = make_runtime(config=config)
    assert runtime.run_store is run_store
    assert runtime.ledger_store is ledger_store
    assert runtime.config is config
    assert runtime.workflow_registry is None
    assert runtime.artifact_store is None
    runtime.set_workflow_registry(registry)
    assert runtime.workflow_registry is registry
    store = object()
    runtime.set_artifact_store(store)
    assert runtime.artifact_store is store


def test_plan_node_id_drives_records_while_execution_follows_current_node(runtime) -> None:
    ask = Effect(type=EffectType.ASK_USER, payload={"prompt": "?"}, result_key="r")
    flow = WorkflowSpec(
        workflow_id="w",
        entry_node="ask",
        nodes={
            "ask": lambda run, ctx: StepPlan(node_id="alias", effect=ask, next_node="end"),
            "end": finish("end"),
        },
    )
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)

    assert state.current_node == "ask"
    assert state.waiting.wait_key == f"user:{run_id}:ask"
    key = compute_idempotency_key(run_id=run_id, node_id="alias", effect=ask)
    ledger = runtime.get_ledger(run_id)
    assert [r["node_id"] for r in ledger] == ["alias", "alias"]
    assert ledger[0]["idempotency_key"] == key
    assert list(runtime.get_node_traces(run_id)) == ["alias"]
    assert state.vars["_temp"] == {"prev_node_id": "alias", "prev_next_node": "end"}

    runtime.resume(workflow=flow, run_id=run_id, wait_key=f"user:{run_id}:ask", payload={}, max_steps=0)
    assert runtime.get_ledger(run_id)[-1]["node_id"] == "ask", "the resume record names the waiting node"


def test_tool_calls_key_ignores_call_ids_so_a_loop_reuses_the_result(make_runtime) -> None:
    handler = RecordingToolHandler()
    runtime = make_runtime(effect_handlers={EffectType.TOOL_CALLS: handler})

    def tools(run, ctx):
        n = run.vars.get("n", 0)
        call = {"name": "search", "arguments": '{"q": "x"}', "call_id": f"model-call-{n}"}
        effect = Effect(type=EffectType.TOOL_CALLS, payload={"tool_calls": [call]}, result_key="res")
        return StepPlan(node_id="tools", effect=effect, next_node="check")

    def check(run, ctx):
        run.vars["n"] = run.vars.get("n", 0) + 1
        if run.vars["n"] < 3:
            return StepPlan(node_id="check", next_node="tools")
        return StepPlan(node_id="check", complete_output={"res": run.vars["res"]})

    flow = WorkflowSpec(workflow_id="w", entry_node="tools", nodes={"tools": tools, "check": check})
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)

    assert state.status == RunStatus.COMPLETED
    assert len(handler.payloads) == 1
    assert state.output["res"]["results"][0]["call_id"] == "model-call-0"
    steps = runtime.get_node_trace(run_id, "tools")["steps"]
    assert [s["reused_prior_result"] for s in steps] == [False, True, True]
    assert len({s["idempotency_key"] for s in steps}) == 1


def test_emit_event_reports_a_listener_whose_resume_raised(make_runtime, registry) -> None:
    wait = Effect(type=EffectType.WAIT_EVENT, payload={"name": "ping"}, result_key="evt")
    listener = WorkflowSpec(
        workflow_id="broken_listener",
        entry_node="listen",
        nodes={"listen": effect_node("listen", wait, "missing_node")},
    )
    registry.add(listener)
    runtime = make_runtime(workflow_registry=registry)
    listener_id = runtime.start(workflow=listener, session_id="s1")
    runtime.tick(workflow=listener, run_id=listener_id)

    emit = Effect(type=EffectType.EMIT_EVENT, payload={"name": "ping", "max_steps": 3}, result_key="rep")
    _, _, state = run_effect(runtime, emit, session_id="s1")
    assert state.status == RunStatus.COMPLETED
    [report] = state.vars["rep"]["resumed"]
    assert report["run_id"] == listener_id
    assert report["status"] == "error"
    assert "missing_node" in report["error"]


def test_sync_subworkflow_child_failure_wrapped_as_tool_result(make_runtime, registry) -> None:
    failing = Effect(type=EffectType.LLM_CALL, payload={})
    registry.add(WorkflowSpec(workflow_id="failing", entry_node="x", nodes={"x": effect_node("x", failing)}))
    runtime = make_runtime(workflow_registry=registry)
    _, _, state = _spawn(runtime, {"workflow_id": "failing", "wrap_as_tool_result": True})
    assert state.status == RunStatus.COMPLETED
    [call] = state.vars["sub"]["results"]
    assert call["success"] is False
    assert "No effect handler registered for llm_call" in call["error"]


def test_resume_run_on_a_run_that_is_not_paused_changes_nothing(runtime) -> None:
    flow, _ = _ask_flow(result_key="answer")
    run_id = runtime.start(workflow=flow)
    waiting = runtime.tick(workflow=flow, run_id=run_id).waiting
    state = runtime.resume_run(run_id)
    assert state.status == RunStatus.WAITING
    assert state.waiting == waiting
    assert "control" not in state.vars["_runtime"]
