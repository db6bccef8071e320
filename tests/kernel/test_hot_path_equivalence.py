"""The engine's fast paths give exactly what the slow formulas they replace give.

* the trace entry's JSON probe (SPEC §5.3) accepts and refuses exactly what ``json.dumps(...,
  allow_nan=False)`` does, including NaN, tuples, str subclasses, non-str keys, cycles and deep nesting;
* ``new_id`` strings are canonical version-4 UUIDs;
* the in-memory ledger's stored records are isolated from later edits of the caller's objects.
"""

from __future__ import annotations

import json
import math
import uuid
from enum import Enum
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunState
from abstractruntime.core.engine.traces import record_node_trace
from abstractruntime.core.models import StepRecord, new_id
from abstractruntime.storage import InMemoryLedgerStore


class Color(str, Enum):
    RED = "red"


def _cycle() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"k": [value]}
    return value


CASES: list[Any] = [
    {"message": "hi", "n": 1, "ok": True, "none": None, "x": 1.5, "list": [1, "a", {"b": [2.0]}]},
    {"bad": math.nan},
    {"bad": [math.inf]},
    {"tuple": (1, 2)},
    {"enum": Color.RED},
    {Color.RED: 1},
    {1: "int key"},
    {"set": {1, 2}},
    {"bytes": b"x"},
    {"obj": object()},
    _cycle(),
    _deep(40),
    _deep(400),
]


def _dumps_ok(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


@pytest.mark.parametrize("payload", CASES, ids=range(len(CASES)))
@pytest.mark.parametrize("where", ["payload", "result"])
def test_the_trace_probe_agrees_with_json_dumps(payload: Any, where: str) -> None:
    run = RunState.new(workflow_id="w", entry_node="a")
    effect = Effect(type=EffectType.ANSWER_USER, payload=payload if where == "payload" else {"m": 1})
    result = payload if where == "result" else {"message": "ok"}
    record_node_trace(
        run,
        node_id="a",
        effect=effect,
        status="completed",
        idempotency_key="k",
        reused=False,
        now="2026-01-01T00:00:00+00:00",
        result=result,
    )
    entry = run.vars["_runtime"]["node_traces"]["a"]["steps"][-1]
    assert ("error" not in entry) is _dumps_ok(payload)
    if "error" in entry:
        assert entry["error"] == "non_json_safe_trace_entry"
        assert "effect" not in entry and "result" not in entry
    else:
        assert entry["effect"]["payload"] is effect.payload and entry["result"] is result


def test_new_id_gives_canonical_uuid4_strings() -> None:
    seen = set()
    for _ in range(2000):
        text = new_id()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        seen.add(text)
    assert len(seen) == 2000


def test_in_memory_ledger_records_do_not_alias_the_callers_objects() -> None:
    ledger = InMemoryLedgerStore()
    run = RunState.new(workflow_id="w", entry_node="a")
    payload = {"message": "hi", "nested": {"list": [1, 2]}}
    effect = Effect(type=EffectType.ANSWER_USER, payload=payload)
    started = StepRecord.start(run=run, node_id="a", effect=effect, idempotency_key="k", now="t0")
    result = {"message": "hi", "items": [{"a": 1}]}
    ended = started.snapshot().finish_success(result, now="t1")
    ledger.append_many([started, ended])
    ledger.append(StepRecord.start(run=run, node_id="b", effect=effect, idempotency_key="k2", now="t2"))

    payload["nested"]["list"].append(3)
    payload["message"] = "changed"
    result["items"][0]["a"] = 99
    assert started.effect is not None
    started.effect["payload"] = {}

    stored = ledger.list(run.run_id)
    assert [r["status"] for r in stored] == ["started", "completed", "started"]
    for record in stored:
        assert record["effect"]["payload"] == {"message": "hi", "nested": {"list": [1, 2]}}
    assert stored[1]["result"] == {"message": "hi", "items": [{"a": 1}]}
    assert ledger.find_completed(run.run_id, "k") is stored[1]
    assert ledger.find_started(run.run_id, "k") is None
    assert ledger.find_started(run.run_id, "k2") is stored[2]
