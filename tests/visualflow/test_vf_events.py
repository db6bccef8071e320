"""Event and schedule nodes: on_schedule (recurrent), wait_until, emit_event -> on_event."""

from __future__ import annotations

from typing import Any

from vf_builders import EXEC, OUT, edge, end, flow, node, pin, start

from abstractruntime import Runtime
from abstractruntime.core.models import RunStatus, WaitReason
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.testing import FakeClock
from abstractruntime.visualflow_compiler import compile_visualflow


def _runtime(clock: FakeClock, *docs: dict[str, Any]) -> tuple[Runtime, dict[str, Any]]:
    registry = WorkflowRegistry()
    specs = {}
    for doc in docs:
        spec = compile_visualflow(doc)
        registry.register(spec)
        specs[spec.workflow_id] = spec
    runtime = Runtime(
        run_store=InMemoryRunStore(),
        ledger_store=InMemoryLedgerStore(),
        workflow_registry=registry,
        clock=clock,
    )
    return runtime, specs


def _set(node_id: str, name: str) -> dict[str, Any]:
    return node(
        node_id, "set_var", [EXEC, pin("name"), pin("value")], [OUT, pin("value")], pinDefaults={"name": name}
    )


def test_recurrent_schedule_fires_each_interval() -> None:
    nodes = [
        node(
            "sched",
            "on_schedule",
            [],
            [OUT, pin("timestamp")],
            eventConfig={"schedule": "10s", "recurrent": True},
        ),
        node("ticks", "get_var", [pin("name")], [pin("value")], pinDefaults={"name": "ticks"}),
        node("inc", "add", [pin("a"), pin("b")], [pin("result")], pinDefaults={"b": 1}),
        _set("set", "ticks"),
    ]
    edges = [
        edge("sched", "exec-out", "set"),
        edge("ticks", "value", "inc", "a"),
        edge("inc", "result", "set", "value"),
    ]
    clock = FakeClock()
    runtime, specs = _runtime(clock, flow("sched", nodes, edges))
    run_id = runtime.start(workflow=specs["sched"], vars={"ticks": 0})
    state = runtime.tick(workflow=specs["sched"], run_id=run_id)
    assert state.status == RunStatus.WAITING and state.waiting is not None
    assert state.waiting.reason == WaitReason.UNTIL
    for expected in (1, 2):
        clock.advance(11)
        state = runtime.tick(workflow=specs["sched"], run_id=run_id)
        assert state.status == RunStatus.WAITING
        assert state.vars["ticks"] == expected


def test_wait_until_duration() -> None:
    nodes = [
        start("start"),
        node("wait", "wait_until", [EXEC, pin("duration", "number")], [OUT], pinDefaults={"duration": 5}),
        end("end"),
    ]
    clock = FakeClock()
    runtime, specs = _runtime(
        clock, flow("w", nodes, [edge("start", "exec-out", "wait"), edge("wait", "exec-out", "end")])
    )
    run_id = runtime.start(workflow=specs["w"])
    assert runtime.tick(workflow=specs["w"], run_id=run_id).status == RunStatus.WAITING
    clock.advance(6)
    state = runtime.tick(workflow=specs["w"], run_id=run_id)
    assert state.status == RunStatus.COMPLETED and state.output == {"success": True}


def test_emit_event_reaches_on_event_listener() -> None:
    listener = flow(
        "listener",
        [
            node(
                "on",
                "on_event",
                [],
                [OUT, pin("payload"), pin("event_id")],
                eventConfig={"name": "ping", "scope": "session"},
            ),
            _set("store", "received"),
        ],
        [edge("on", "exec-out", "store"), edge("on", "payload", "store", "value")],
    )
    emitter = flow(
        "emitter",
        [
            start("start", "message"),
            node(
                "emit",
                "emit_event",
                [EXEC, pin("name"), pin("payload")],
                [OUT, pin("delivered")],
                effectConfig={"name": "ping", "scope": "session"},
            ),
            end("end", "delivered"),
        ],
        [
            edge("start", "exec-out", "emit"),
            edge("start", "message", "emit", "payload"),
            edge("emit", "exec-out", "end"),
            edge("emit", "delivered", "end", "delivered"),
        ],
    )
    runtime, specs = _runtime(FakeClock(), listener, emitter)
    listen_id = runtime.start(workflow=specs["listener"], session_id="s1")
    waiting = runtime.tick(workflow=specs["listener"], run_id=listen_id)
    assert waiting.status == RunStatus.WAITING and waiting.waiting is not None
    assert waiting.waiting.reason == WaitReason.EVENT
    emit_id = runtime.start(workflow=specs["emitter"], vars={"message": {"text": "hi"}}, session_id="s1")
    done = runtime.tick(workflow=specs["emitter"], run_id=emit_id)
    assert done.output == {"delivered": 1, "success": True}
    again = runtime.tick(workflow=specs["listener"], run_id=listen_id)
    assert again.vars["received"] == {"text": "hi"}
    assert again.status == RunStatus.WAITING  # the listener returns to on_event and waits again
