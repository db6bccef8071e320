"""Drive the handler-free example flows on the SQLite store: scenarios, the driver and output normalisation.

A flow is *handler-free* when neither it nor any subflow it references (transitively) has an ``llm_call``,
``agent``, ``tool_calls``, ``call_tool``, ``memory_*`` or media node.  Each such flow has a scenario below:
the start vars and the scripted answers for its waits (``ask_user`` → ``user``; ``wait_event`` → ``event``,
delivered as the event envelope ``Scheduler.emit_event`` builds); ``wait_until`` waits are passed by moving a
:class:`FakeClock` to the deadline.  A flow that never completes by design (a recurrent ``on_schedule``) is
stopped after ``max_waits`` waits; its golden record is then the status plus the effect results so far.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from vf_support import EXAMPLES_DIR

from abstractruntime import Runtime
from abstractruntime.core.clock import parse_iso, to_iso
from abstractruntime.core.effects.events import event_envelope
from abstractruntime.core.models import RunStatus, WaitReason
from abstractruntime.scheduler import WorkflowRegistry
from abstractruntime.storage import open_stores
from abstractruntime.testing import FakeClock
from abstractruntime.visualflow_compiler import compile_visualflow_tree

GOLDEN_PATH = Path(__file__).with_name("golden_outputs.json")

_NEEDS_HANDLER = frozenset({"llm_call", "agent", "tool_calls", "call_tool"})
_MEDIA = frozenset({"generate_image", "generate_voice", "transcribe_audio", "listen_voice"})
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# file name -> {"vars": start vars, "user": ask_user answers, "event": wait_event payloads}
SCENARIOS: dict[str, dict[str, Any]] = {
    "07935658.json": {"vars": {}},
    "15f19f7f.json": {"vars": {"state": "Working", "post_delay": 1}},
    "1e884e22.json": {"vars": {}},
    "5d83f135.json": {"vars": {"prompt": "hi", "model": "m", "provider": "p"}},
    "85228163.json": {"vars": {"a": 2, "b": 3}},
    "8f013493.json": {"vars": {"number": 3}},
    "a49d80c3.json": {"vars": {}, "max_waits": 3},
    "a803f4bd.json": {"vars": {}, "user": [{"response": "a tester"}]},
    "ac-echo.json": {"vars": {"prompt": "hello"}},
    "acagent01.json": {"vars": {"prompt": "hello"}},
    "acagent_ask_demo.json": {"vars": {"prompt": "hi"}, "event": [{"response": "Blue"}]},
    "acagent_message_demo.json": {"vars": {"prompt": "hi"}},
    "acagent_status_demo.json": {"vars": {"prompt": "hi"}},
}


def _needs_handler(node_type: str) -> bool:
    return node_type in _NEEDS_HANDLER or node_type in _MEDIA or node_type.startswith("memory_")


def load_by_file() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES_DIR.glob("*.json"))}


def _node_types(flow_id: str, by_id: dict[str, dict[str, Any]], seen: set[str]) -> set[str] | None:
    """Node types of a flow and its subflows; None when a referenced subflow is missing."""
    if flow_id in seen:
        return set()
    if flow_id not in by_id:
        return None
    seen.add(flow_id)
    types: set[str] = set()
    for node in by_id[flow_id].get("nodes", []):
        types.add(str(node.get("type")))
        if node.get("type") == "subflow":
            data = node.get("data") or {}
            sub = _node_types(str(data.get("subflowId") or data.get("flowId")), by_id, seen)
            if sub is None:
                return None
            types |= sub
    return types


def handlerless_files(by_file: dict[str, dict[str, Any]]) -> list[str]:
    by_id = {str(doc["id"]): doc for doc in by_file.values()}
    found = []
    for name, doc in by_file.items():
        types = _node_types(str(doc["id"]), by_id, set())
        if types is not None and not any(_needs_handler(t) for t in types):
            found.append(name)
    return found


def normalise(value: Any) -> Any:
    """Run ids are random: replace UUIDs by ``<uuid>`` so outputs compare across runs."""
    return json.loads(_UUID.sub("<uuid>", json.dumps(value, sort_keys=True)))


def _envelope(wait_key: str, payload: Any, now: str) -> dict[str, Any]:
    """The envelope of an external event for an ``evt:{scope}:{scope_id}:{name}`` wait key."""
    _, scope, scope_id, name = wait_key.split(":", 3)
    envelope: dict[str, Any] = event_envelope(
        event_id=None, name=name, scope=scope, session_id=scope_id if scope == "session" else None,
        payload=payload, emitted_at=now, emitter={"source": "external"},
    )  # fmt: skip
    return envelope


def run_flow(file_name: str, by_file: dict[str, dict[str, Any]], db_dir: Path) -> dict[str, Any]:
    """Run one flow to completion on ``sqlite:///<db_dir>/runs.db``; returns status, output and wait log."""
    scenario = SCENARIOS[file_name]
    by_id = {str(doc["id"]): doc for doc in by_file.values()}
    flow_id = str(by_file[file_name]["id"])
    specs = compile_visualflow_tree(root_id=flow_id, flows_by_id=by_id)
    registry = WorkflowRegistry()
    for spec in specs.values():
        registry.register(spec)
    stores = open_stores(f"sqlite:///{db_dir}/runs.db")
    clock = FakeClock()
    runtime = Runtime(
        run_store=stores.run_store, ledger_store=stores.ledger_store, workflow_registry=registry, clock=clock
    )
    workflow = specs[flow_id]
    answers = {"user": list(scenario.get("user", [])), "event": list(scenario.get("event", []))}
    waits: list[str] = []
    try:
        run_id = runtime.start(workflow=workflow, vars=dict(scenario["vars"]))
        state = runtime.tick(workflow=workflow, run_id=run_id, max_steps=500)
        for _ in range(int(scenario.get("max_waits", 20))):
            if state.status != RunStatus.WAITING or state.waiting is None:
                break
            wait = state.waiting
            waits.append(wait.reason.value)
            if wait.reason == WaitReason.UNTIL and wait.until:
                clock.sleep((parse_iso(wait.until) - clock.now()).total_seconds())
                state = runtime.tick(workflow=workflow, run_id=run_id, max_steps=500)
                continue
            kind = "user" if wait.reason == WaitReason.USER else "event"
            if not answers[kind] or wait.wait_key is None:
                break
            payload = answers[kind].pop(0)
            if kind == "event":
                payload = _envelope(wait.wait_key, payload, to_iso(clock.now()))
            state = runtime.resume(workflow=workflow, run_id=run_id, wait_key=wait.wait_key, payload=payload)
        record: dict[str, Any] = {
            "status": state.status.value,
            "output": normalise(state.output),
            "waits": waits,
        }
        if state.status != RunStatus.COMPLETED:
            record["effects"] = normalise((state.vars.get("_temp") or {}).get("effects"))
        return record
    finally:
        stores.close()
