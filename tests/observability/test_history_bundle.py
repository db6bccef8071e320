"""Run history bundles and workflow snapshots (SPEC §10.1)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from observability_helpers import STANDARD_CALLS, tool_flow

from abstractruntime import (
    Effect,
    EffectType,
    InMemoryLedgerStore,
    InMemoryRunStore,
    RunState,
    RunStatus,
    Runtime,
    StepPlan,
    WorkflowSpec,
)
from abstractruntime.errors import ConcurrencyError, InvalidRecordError, NotJsonSafeError, RunNotFoundError
from abstractruntime.history_bundle import (
    RUN_HISTORY_BUNDLE_VERSION_V1,
    export_run_history_bundle,
    persist_workflow_snapshot,
)
from abstractruntime.storage.artifacts import InMemoryArtifactStore, is_artifact_ref
from abstractruntime.storage.base import LedgerStore, RunStore
from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLedgerStore, SqliteRunStore
from abstractruntime.testing import FakeClock

MakeRuntime = Callable[..., Runtime]

RUN_KEYS = {
    "run_id",
    "workflow_id",
    "status",
    "current_node",
    "created_at",
    "updated_at",
    "duration_ms",
    "actor_id",
    "session_id",
    "parent_run_id",
    "error",
    "waiting",
}
TOP_KEYS = {
    "version",
    "generated_at",
    "root_run_id",
    "run",
    "workflow_snapshot",
    "input_data",
    "ledgers",
    "timeline",
    "session",
}
TIMELINE_KEYS = {
    "run_id",
    "cursor",
    "node_id",
    "status",
    "effect_type",
    "started_at",
    "ended_at",
    "duration_ms",
}


class Registry:
    """The duck-typed workflow registry START_SUBWORKFLOW needs."""

    def __init__(self, *specs: WorkflowSpec) -> None:
        self.specs = {s.workflow_id: s for s in specs}

    def get(self, workflow_id: str) -> WorkflowSpec | None:
        return self.specs.get(workflow_id)


class PlainRunStore(RunStore):
    """A SPEC §7.1 run store without queries or revisions (stores copies)."""

    def __init__(self) -> None:
        self.runs: dict[str, RunState] = {}

    def save(self, run: RunState) -> None:
        self.runs[run.run_id] = copy.deepcopy(run)

    def load(self, run_id: str) -> RunState | None:
        run = self.runs.get(run_id)
        return None if run is None else copy.deepcopy(run)


# -- flows ------------------------------------------------------------------------------------------
def answer_flow(workflow_id: str, count: int, clock: FakeClock | None = None) -> WorkflowSpec:
    """``count`` ANSWER_USER steps (each takes 1.5 s on ``clock``), then completion."""

    def talk(run: RunState, ctx: Any) -> StepPlan:
        i = run.vars.setdefault("i", 0)
        run.vars["i"] = i + 1
        if i >= count:
            return StepPlan(node_id="talk", complete_output={"answer": f"said {count}"})
        effect = Effect(type=EffectType.ANSWER_USER, payload={"message": f"m{i}"})
        return StepPlan(node_id="talk", effect=effect, next_node="talk")

    return WorkflowSpec(workflow_id=workflow_id, entry_node="talk", nodes={"talk": talk})


def slow_answer(clock: FakeClock) -> Callable[..., Any]:
    from abstractruntime.core.runtime import EffectOutcome

    def handler(run: RunState, effect: Effect) -> EffectOutcome:
        clock.advance(1.5)
        return EffectOutcome.completed({"message": effect.payload["message"], "level": "message"})

    return handler


def subworkflow_node(node_id: str, workflow_id: str, next_node: str) -> Callable[..., StepPlan]:
    def node(run: RunState, ctx: Any) -> StepPlan:
        effect = Effect(
            type=EffectType.START_SUBWORKFLOW,
            payload={"workflow_id": workflow_id},
            result_key=f"sub_{node_id}",
        )
        return StepPlan(node_id=node_id, effect=effect, next_node=next_node)

    return node


def run_tree(runtime: Runtime, clock: FakeClock) -> tuple[str, dict[str, str]]:
    """root → child_a (→ grandchild), then root → child_b; each run is created one second apart."""

    def ticking(inner: Callable[..., StepPlan]) -> Callable[..., StepPlan]:
        def node(run: RunState, ctx: Any) -> StepPlan:
            clock.advance(1)
            return inner(run, ctx)

        return node

    def finish(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="end", complete_output={"ok": True})

    grandchild = WorkflowSpec(workflow_id="wf_grandchild", entry_node="end", nodes={"end": finish})
    child_a = WorkflowSpec(
        workflow_id="wf_child_a",
        entry_node="a",
        nodes={"a": ticking(subworkflow_node("a", "wf_grandchild", "end")), "end": finish},
    )
    child_b = WorkflowSpec(workflow_id="wf_child_b", entry_node="end", nodes={"end": finish})
    root = WorkflowSpec(
        workflow_id="wf_root",
        entry_node="first",
        nodes={
            "first": ticking(subworkflow_node("first", "wf_child_a", "second")),
            "second": ticking(subworkflow_node("second", "wf_child_b", "end")),
            "end": finish,
        },
    )
    runtime.set_workflow_registry(Registry(grandchild, child_a, child_b, root))
    run_id = runtime.start(workflow=root, vars={"context": {"task": "build the tree"}})
    run = runtime.tick(workflow=root, run_id=run_id)
    assert run.status == RunStatus.COMPLETED
    a = run.vars["sub_first"]["sub_run_id"]
    b = run.vars["sub_second"]["sub_run_id"]
    g = runtime.get_state(a).vars["sub_a"]["sub_run_id"]
    return run_id, {"a": a, "b": b, "g": g}


def export(runtime: Runtime, run_id: str, **kwargs: Any) -> dict[str, Any]:
    return export_run_history_bundle(
        run_id=run_id, run_store=runtime.run_store, ledger_store=runtime.ledger_store, **kwargs
    )


# -- layout ----------------------------------------------------------------------------------------
def test_bundle_layout(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    flow = answer_flow("wf_talk", 2)
    run_id = runtime.start(
        workflow=flow, vars={"context": {"task": "hi"}, "topic": "x"}, actor_id="me", session_id="s"
    )
    run = runtime.tick(workflow=flow, run_id=run_id)

    bundle = export(runtime, run_id)
    assert set(bundle) == TOP_KEYS
    assert bundle["version"] == RUN_HISTORY_BUNDLE_VERSION_V1 == 1
    assert bundle["root_run_id"] == run_id
    assert isinstance(bundle["generated_at"], str)
    assert bundle["run"] == {
        "run_id": run_id,
        "workflow_id": "wf_talk",
        "status": "completed",
        "current_node": "talk",
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "duration_ms": 0.0,  # the fake clock did not move
        "actor_id": "me",
        "session_id": "s",
        "parent_run_id": None,
        "error": None,
        "waiting": None,
    }
    assert bundle["workflow_snapshot"] is None
    assert bundle["input_data"] == {"context": {"task": "hi"}, "topic": "x", "i": 3}
    assert bundle["session"] is None
    assert list(bundle["ledgers"]) == [run_id]
    json.dumps(bundle)  # JSON-safe, even over the in-memory ledger's enum statuses


def test_run_summary_carries_the_run_duration(make_runtime: MakeRuntime, clock: FakeClock) -> None:
    runtime = make_runtime(effect_handlers={EffectType.ANSWER_USER: slow_answer(clock)})
    flow = answer_flow("wf_talk", 2)  # two steps of 1.5 s each
    run_id = runtime.start(workflow=flow, session_id="s")
    clock.advance(0.25)
    run = runtime.tick(workflow=flow, run_id=run_id)
    assert run.status == RunStatus.COMPLETED

    bundle = export(runtime, run_id, include_session=True)
    assert bundle["run"]["duration_ms"] == 3250.0
    (turn,) = bundle["session"]["turns"]
    assert turn["duration_ms"] == 3250.0

    broken = runtime.get_state(run_id)
    broken.created_at = "not a time"
    runtime.run_store.save(broken)
    assert export(runtime, run_id)["run"]["duration_ms"] is None


def test_waiting_run_summary_carries_the_wait(make_runtime: MakeRuntime) -> None:
    def ask(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(
            node_id="ask",
            effect=Effect(type=EffectType.ASK_USER, payload={"prompt": "name?"}, result_key="name"),
            next_node="ask",
        )

    flow = WorkflowSpec(workflow_id="wf_ask", entry_node="ask", nodes={"ask": ask})
    runtime = make_runtime()
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    waiting = export(runtime, run_id)["run"]["waiting"]
    assert waiting["reason"] == "user"
    assert waiting["wait_key"] == f"user:{run_id}:ask"
    assert waiting["prompt"] == "name?"
    assert set(waiting) == {
        "reason", "wait_key", "until", "resume_to_node", "result_key", "prompt", "choices", "allow_free_text", "details"
    }  # fmt: skip


def test_errors(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    with pytest.raises(ValueError):
        export(runtime, "")
    with pytest.raises(InvalidRecordError):
        export(runtime, "   ")
    with pytest.raises(KeyError):
        export(runtime, "missing")
    with pytest.raises(RunNotFoundError):
        export(runtime, "missing")
    flow = answer_flow("wf", 0)
    run_id = runtime.start(workflow=flow)
    with pytest.raises(ValueError, match="ledger_mode"):
        export(runtime, run_id, ledger_mode="head")


def test_export_is_pure(tmp_path: Path, make_runtime: MakeRuntime) -> None:
    db = SqliteDatabase(tmp_path / "r.db")
    runtime = make_runtime(run_store=SqliteRunStore(db), ledger_store=SqliteLedgerStore(db))
    flow = answer_flow("wf", 3)
    run_id = runtime.start(workflow=flow, vars={"big": "y" * 2000})
    runtime.tick(workflow=flow, run_id=run_id)
    before = dataclasses.asdict(runtime.get_state(run_id))
    revision = runtime.run_store.current_revision(run_id)  # type: ignore[attr-defined]
    count = len(runtime.get_ledger(run_id))
    export(
        runtime, run_id, artifact_store=InMemoryArtifactStore(), include_session=True, max_inline_bytes=100
    )
    assert dataclasses.asdict(runtime.get_state(run_id)) == before
    assert runtime.run_store.current_revision(run_id) == revision  # type: ignore[attr-defined]
    assert len(runtime.get_ledger(run_id)) == count


# -- ledgers -----------------------------------------------------------------------------------------
def test_full_and_tail_modes_with_1_based_cursors(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    flow = answer_flow("wf", 10)
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    records = runtime.get_ledger(run_id)
    total = len(records)
    assert total == 22  # 10 x (started, completed) + completion + status event

    full = export(runtime, run_id, ledger_mode="full", ledger_max_items=5)["ledgers"][run_id]
    assert (full["run_id"], full["total"], full["cursor_start"], full["cursor_end"]) == (
        run_id,
        total,
        1,
        total,
    )
    assert [i["cursor"] for i in full["items"]] == list(range(1, total + 1))
    assert [i["record"]["step_id"] for i in full["items"]] == [r["step_id"] for r in records]
    assert full["items"][0]["record"]["status"] == "started"

    tail = export(runtime, run_id, ledger_mode="tail", ledger_max_items=5)["ledgers"][run_id]
    assert (tail["total"], tail["cursor_start"], tail["cursor_end"]) == (total, total - 4, total)
    assert [i["cursor"] for i in tail["items"]] == list(range(total - 4, total + 1))
    assert [i["record"]["step_id"] for i in tail["items"]] == [r["step_id"] for r in records[-5:]]

    default = export(runtime, run_id)["ledgers"][run_id]  # tail of 2000 keeps everything here
    assert default["cursor_start"] == 1 and len(default["items"]) == total
    unlimited = export(runtime, run_id, ledger_max_items=0)["ledgers"][run_id]
    assert len(unlimited["items"]) == total


def test_empty_ledger_page(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    run_id = runtime.start(workflow=answer_flow("wf", 1))
    page = export(runtime, run_id)["ledgers"][run_id]
    assert page == {"run_id": run_id, "total": 0, "cursor_start": 0, "cursor_end": 0, "items": []}


def test_sqlite_tail_reads_the_same_page(tmp_path: Path, make_runtime: MakeRuntime) -> None:
    db = SqliteDatabase(tmp_path / "r.db")
    runtime = make_runtime(run_store=SqliteRunStore(db), ledger_store=SqliteLedgerStore(db))
    flow = answer_flow("wf", 10)
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    records = runtime.get_ledger(run_id)
    tail = export(runtime, run_id, ledger_max_items=7)["ledgers"][run_id]
    assert (tail["total"], tail["cursor_start"], tail["cursor_end"]) == (22, 16, 22)
    assert [i["record"] for i in tail["items"]] == records[-7:]


def test_tail_mode_tails_every_exported_ledger(make_runtime: MakeRuntime, clock: FakeClock) -> None:
    runtime = make_runtime()
    root_id, ids = run_tree(runtime, clock)
    pages = export(runtime, root_id, ledger_max_items=2)["ledgers"]
    assert list(pages) == [root_id, ids["a"], ids["b"], ids["g"]]
    cut = 0
    for rid, page in pages.items():
        records = runtime.get_ledger(rid)
        kept = records[-2:]
        cut += len(records) > len(kept)
        assert page["total"] == len(records)
        assert (page["cursor_start"], page["cursor_end"]) == (len(records) - len(kept) + 1, len(records))
        assert [i["record"]["step_id"] for i in page["items"]] == [r["step_id"] for r in kept]
    assert cut >= 2  # the root's and child a's ledgers are longer than the tail


def test_subruns_are_found_breadth_first(make_runtime: MakeRuntime, clock: FakeClock) -> None:
    runtime = make_runtime()
    root_id, ids = run_tree(runtime, clock)
    bundle = export(runtime, root_id)
    assert list(bundle["ledgers"]) == [root_id, ids["a"], ids["b"], ids["g"]]
    for rid, page in bundle["ledgers"].items():
        assert page["run_id"] == rid
        assert page["total"] == len(runtime.get_ledger(rid))
    assert {e["run_id"] for e in bundle["timeline"]} == {root_id, *ids.values()}

    only_root = export(runtime, root_id, include_subruns=False)
    assert list(only_root["ledgers"]) == [root_id]
    from_child = export(runtime, ids["a"])
    assert list(from_child["ledgers"]) == [ids["a"], ids["g"]]


def test_a_store_without_list_children_exports_the_root_only(
    make_runtime: MakeRuntime, clock: FakeClock
) -> None:
    runtime = make_runtime()
    root_id, _ = run_tree(runtime, clock)
    plain = PlainRunStore()
    plain.save(runtime.get_state(root_id))
    bundle = export_run_history_bundle(run_id=root_id, run_store=plain, ledger_store=runtime.ledger_store)
    assert list(bundle["ledgers"]) == [root_id]


# -- timeline -----------------------------------------------------------------------------------------
def test_timeline_entries_and_durations(make_runtime: MakeRuntime, clock: FakeClock) -> None:
    runtime = make_runtime(effect_handlers={EffectType.ANSWER_USER: slow_answer(clock)})
    flow = answer_flow("wf", 2)
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    timeline = export(runtime, run_id)["timeline"]
    records = runtime.get_ledger(run_id)
    assert len(timeline) == len(records) == 6
    assert all(set(e) == TIMELINE_KEYS for e in timeline)
    assert [e["cursor"] for e in timeline] == [1, 2, 3, 4, 5, 6]
    assert [e["status"] for e in timeline] == [
        "started",
        "completed",
        "started",
        "completed",
        "completed",
        "completed",
    ]
    assert [e["effect_type"] for e in timeline] == ["answer_user"] * 4 + [None, "emit_event"]
    assert [e["duration_ms"] for e in timeline] == [None, 1500.0, None, 1500.0, 0.0, 0.0]
    assert timeline[1]["started_at"] == records[1]["started_at"]
    assert timeline[1]["ended_at"] == records[1]["ended_at"]
    assert {e["node_id"] for e in timeline} == {"talk"}


def test_timeline_interleaves_runs_by_start_time(make_runtime: MakeRuntime, clock: FakeClock) -> None:
    runtime = make_runtime()
    root_id, ids = run_tree(runtime, clock)
    timeline = export(runtime, root_id)["timeline"]
    starts = [e["started_at"] for e in timeline]
    assert starts == sorted(starts)  # one fake-clock format, so string order is time order
    first_root = next(i for i, e in enumerate(timeline) if e["run_id"] == root_id)
    child_b = next(i for i, e in enumerate(timeline) if e["run_id"] == ids["b"])
    grandchild = next(i for i, e in enumerate(timeline) if e["run_id"] == ids["g"])
    assert first_root < grandchild < child_b


# -- input data -----------------------------------------------------------------------------------------
def test_input_data_drops_private_keys_and_offloads_large_values(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    flow = answer_flow("wf", 0)
    big = "z" * 5000
    run_id = runtime.start(
        workflow=flow, vars={"context": {"doc": big, "task": "t"}, "_temp": {"x": 1}, "n": 1}
    )
    runtime.tick(workflow=flow, run_id=run_id)

    inline = export(runtime, run_id)["input_data"]
    assert inline == {"context": {"doc": big, "task": "t"}, "n": 1, "i": 1}

    store = InMemoryArtifactStore()
    offloaded = export(runtime, run_id, artifact_store=store, max_inline_bytes=1000)["input_data"]
    ref = offloaded["context"]["doc"]
    assert is_artifact_ref(ref)
    assert store.load_text(ref["$artifact"]) == big
    assert offloaded["context"]["task"] == "t" and offloaded["n"] == 1
    assert runtime.get_state(run_id).vars["context"]["doc"] == big


def test_input_data_offload_limit_comes_from_the_environment(
    make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = make_runtime()
    flow = answer_flow("wf", 0)
    run_id = runtime.start(workflow=flow, vars={"doc": "q" * 3000})
    monkeypatch.setenv("ABSTRACTRUNTIME_MAX_INLINE_BYTES", "500")
    bundle = export(runtime, run_id, artifact_store=InMemoryArtifactStore())
    assert is_artifact_ref(bundle["input_data"]["doc"])


def test_input_data_can_be_limited_to_named_vars(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    flow = answer_flow("wf", 0)
    run_vars = {"context": {"task": "t"}, "topic": "x", "notes": [1, 2], "_temp": {"secret": 1}}
    run_id = runtime.start(workflow=flow, vars=run_vars)
    runtime.tick(workflow=flow, run_id=run_id)

    picked = export(runtime, run_id, input_data_keys=["topic", "context", "_temp", "absent"])
    assert picked["input_data"] == {"context": {"task": "t"}, "topic": "x"}  # private and unknown left out
    assert export(runtime, run_id, input_data_keys=())["input_data"] == {}
    everything = export(runtime, run_id, input_data_keys=None)["input_data"]
    assert everything == {"context": {"task": "t"}, "topic": "x", "notes": [1, 2], "i": 1}
    with pytest.raises(InvalidRecordError, match="input_data_keys"):
        export(runtime, run_id, input_data_keys="topic")

    store = InMemoryArtifactStore()  # the filter applies before offloading: only kept vars are stored
    big = {"doc": "d" * 5000, "other": "o" * 5000}
    run_id = runtime.start(workflow=flow, vars=big)
    bundle = export(runtime, run_id, artifact_store=store, max_inline_bytes=1000, input_data_keys=["doc"])
    assert list(bundle["input_data"]) == ["doc"]
    assert [m.tags["path"] for m in store.list_by_run(run_id)] == ["input_data.doc"]


# -- session turns ----------------------------------------------------------------------------------------
def chat_flow() -> WorkflowSpec:
    def reply(run: RunState, ctx: Any) -> StepPlan:
        task = run.vars["context"]["task"]
        return StepPlan(node_id="reply", complete_output={"success": True, "answer": f"re: {task}"})

    return WorkflowSpec(workflow_id="wf_chat", entry_node="reply", nodes={"reply": reply})


def session_runs(runtime: Runtime, clock: FakeClock) -> list[str]:
    flow = chat_flow()
    ids = []
    for n in range(3):
        clock.advance(10)
        attachments = [{"$artifact": f"att{n}", "filename": f"f{n}.txt"}] if n == 1 else []
        run_id = runtime.start(
            workflow=flow, vars={"context": {"task": f"q{n}", "attachments": attachments}}, session_id="s1"
        )
        runtime.tick(workflow=flow, run_id=run_id)
        ids.append(run_id)
    # a child in the same session and a run of another session are not turns
    runtime.start(workflow=flow, vars={"context": {"task": "child"}}, session_id="s1", parent_run_id=ids[0])
    runtime.start(workflow=flow, vars={"context": {"task": "other"}}, session_id="s2")
    # a run without a prompt: a plain workflow turn answered through output.result
    clock.advance(10)
    plain = WorkflowSpec(
        workflow_id="wf_plain",
        entry_node="go",
        nodes={
            "go": lambda run, ctx: StepPlan(
                node_id="go", effect=Effect(type=EffectType.ANSWER_USER, payload={"message": "done"})
            )
        },
    )
    run_id = runtime.start(workflow=plain, session_id="s1")
    runtime.tick(workflow=plain, run_id=run_id)
    ids.append(run_id)
    return ids


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[RunStore, LedgerStore]:
    if request.param == "memory":
        return InMemoryRunStore(), InMemoryLedgerStore()
    db = SqliteDatabase(tmp_path / "s.db")
    return SqliteRunStore(db), SqliteLedgerStore(db)


def test_session_turns(make_runtime: MakeRuntime, clock: FakeClock, stores: Sequence[Any]) -> None:
    runtime = make_runtime(run_store=stores[0], ledger_store=stores[1])
    ids = session_runs(runtime, clock)
    session = export(runtime, ids[2], include_session=True)["session"]
    assert session["session_id"] == "s1"
    turns = session["turns"]
    assert [t["run_id"] for t in turns] == ids  # oldest first, roots of s1 only
    first = turns[0]
    assert set(first) == {
        "run_id", "workflow_id", "kind", "status", "created_at", "updated_at", "duration_ms",
        "prompt", "attachments", "answer", "answer_meta", "stats",
    }  # fmt: skip
    assert (first["workflow_id"], first["kind"], first["status"]) == ("wf_chat", "chat", "completed")
    assert (first["prompt"], first["answer"]) == ("q0", "re: q0")
    assert first["answer_meta"] == {"source": "output.answer", "success": True, "error": None}
    assert first["attachments"] == []
    assert turns[1]["attachments"] == [{"$artifact": "att1", "filename": "f1.txt"}]
    assert first["stats"] == {"steps": 2, "llm_calls": 0, "tool_calls": 0, "tokens_total": 0}
    plain = turns[3]
    assert (plain["kind"], plain["prompt"]) == ("workflow", None)
    assert (plain["answer"], plain["answer_meta"]["source"]) == ("done", "output.result.message")
    assert plain["stats"]["steps"] == 2  # completed records: the effect and the status event

    limited = export(runtime, ids[0], include_session=True, session_turn_limit=2)["session"]
    assert [t["run_id"] for t in limited["turns"]] == ids[2:]
    assert export(runtime, ids[0], include_session=True, session_turn_limit=0)["session"]["turns"] == []


def test_no_session_section_without_a_session_id(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    flow = chat_flow()
    run_id = runtime.start(workflow=flow, vars={"context": {"task": "q"}})
    runtime.tick(workflow=flow, run_id=run_id)
    assert export(runtime, run_id, include_session=True)["session"] is None


def test_turn_answers_from_messages_and_tool_stats(make_runtime: MakeRuntime) -> None:
    from observability_helpers import fake_tool_calls_handler

    runtime = make_runtime(effect_handlers={EffectType.TOOL_CALLS: fake_tool_calls_handler})
    flow = tool_flow(STANDARD_CALLS)
    messages = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "fetch it"},
    ]
    run_id = runtime.start(workflow=flow, vars={"context": {"messages": messages}}, session_id="s")
    runtime.tick(workflow=flow, run_id=run_id)
    state = runtime.get_state(run_id)
    state.vars["context"]["messages"].append({"role": "assistant", "content": "fetched"})
    state.output = {"success": True}
    runtime.run_store.save(state)
    (turn,) = export(runtime, run_id, include_session=True)["session"]["turns"]
    assert turn["prompt"] == "fetch it"
    assert turn["answer"] == "fetched"
    assert turn["answer_meta"]["source"] == "context.messages"
    assert turn["stats"]["tool_calls"] == 3


# -- workflow snapshots -------------------------------------------------------------------------------------
SNAPSHOT = {"nodes": [{"id": "b"}, {"id": "a"}], "entry": "a", "name": "démo"}


def canonical_sha(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("with_ledger", [True, False])
def test_persist_workflow_snapshot(tmp_path: Path, make_runtime: MakeRuntime, with_ledger: bool) -> None:
    db = SqliteDatabase(tmp_path / "r.db")
    runtime = make_runtime(run_store=SqliteRunStore(db), ledger_store=SqliteLedgerStore(db))
    artifacts = InMemoryArtifactStore()
    flow = answer_flow("wf_talk", 1)
    run_id = runtime.start(workflow=flow)
    revision = runtime.run_store.current_revision(run_id)  # type: ignore[attr-defined]
    ledger = runtime.ledger_store if with_ledger else None

    ref = persist_workflow_snapshot(
        run_store=runtime.run_store, artifact_store=artifacts, run_id=run_id, workflow_id="wf_talk",
        snapshot=SNAPSHOT, format="visualflow_json", ledger_store=ledger,
    )  # fmt: skip
    assert set(ref) == {"workflow_id", "format", "sha256", "artifact_id", "created_at"}
    assert (ref["workflow_id"], ref["format"], ref["sha256"]) == (
        "wf_talk",
        "visualflow_json",
        canonical_sha(SNAPSHOT),
    )
    assert artifacts.load_json(ref["artifact_id"]) == SNAPSHOT
    meta = artifacts.get_metadata(ref["artifact_id"])
    assert meta is not None and meta.run_id == run_id
    assert meta.tags == {
        "kind": "workflow_snapshot",
        "workflow_id": "wf_talk",
        "format": "visualflow_json",
        "sha256": ref["sha256"],
    }
    assert runtime.get_state(run_id).vars["_runtime"]["workflow_snapshot"] == ref
    assert runtime.run_store.current_revision(run_id) == revision + 1  # type: ignore[attr-defined]
    assert runtime.get_ledger(run_id) == []

    again = persist_workflow_snapshot(
        run_store=runtime.run_store, artifact_store=artifacts, run_id=run_id, workflow_id="wf_talk",
        snapshot={"changed": True}, format="other", ledger_store=ledger,
    )  # fmt: skip
    assert again == ref
    assert len(artifacts.list_by_run(run_id)) == 1
    assert runtime.run_store.current_revision(run_id) == revision + 1  # type: ignore[attr-defined]

    runtime.tick(workflow=flow, run_id=run_id)  # the driver still works after the out-of-band write
    assert export(runtime, run_id)["workflow_snapshot"] == ref


def test_persist_workflow_snapshot_on_a_plain_store() -> None:
    store = PlainRunStore()
    run = RunState.new(workflow_id="wf", entry_node="n")
    store.save(run)
    artifacts = InMemoryArtifactStore()
    ref = persist_workflow_snapshot(
        run_store=store,
        artifact_store=artifacts,
        run_id=run.run_id,
        workflow_id="wf",
        snapshot={"a": 1},
        format="json",
    )
    loaded = store.load(run.run_id)
    assert loaded is not None and loaded.vars["_runtime"]["workflow_snapshot"] == ref
    assert loaded.updated_at == run.updated_at


class RacedRunStore(SqliteRunStore):
    """Another writer commits a change to the run right before each of our first ``races`` commits."""

    def __init__(self, db: SqliteDatabase, races: int) -> None:
        super().__init__(db)
        self.races = races
        self.other_writer = SqliteRunStore(db)

    def commit(
        self,
        run: RunState,
        records: Sequence[Any],
        *,
        ledger_store: LedgerStore,
        expected_revision: int | None,
    ) -> int:
        if self.races > 0:
            self.races -= 1
            theirs = self.other_writer.load(run.run_id)
            assert theirs is not None
            theirs.vars[f"other_{self.races}"] = True
            self.other_writer.save(theirs)
        return super().commit(run, records, ledger_store=ledger_store, expected_revision=expected_revision)


def test_persist_workflow_snapshot_retries_a_lost_revision_race(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "r.db")
    store = RacedRunStore(db, races=2)
    run = RunState.new(workflow_id="wf", entry_node="n")
    store.save(run)
    ref = persist_workflow_snapshot(
        run_store=store, artifact_store=InMemoryArtifactStore(), run_id=run.run_id, workflow_id="wf",
        snapshot={"a": 1}, format="json", ledger_store=SqliteLedgerStore(db),
    )  # fmt: skip
    assert store.races == 0
    stored = store.load(run.run_id)
    assert stored is not None
    assert stored.vars["_runtime"]["workflow_snapshot"] == ref
    assert stored.vars["other_0"] is True and stored.vars["other_1"] is True  # nothing overwritten

    hopeless = RacedRunStore(db, races=100)
    other = RunState.new(workflow_id="wf", entry_node="n")
    hopeless.save(other)
    with pytest.raises(ConcurrencyError):
        persist_workflow_snapshot(
            run_store=hopeless, artifact_store=InMemoryArtifactStore(), run_id=other.run_id, workflow_id="wf",
            snapshot={"a": 1}, format="json", ledger_store=SqliteLedgerStore(db),
        )  # fmt: skip
    stored_other = hopeless.load(other.run_id)
    assert stored_other is not None and "workflow_snapshot" not in stored_other.vars.get("_runtime", {})


def test_persist_workflow_snapshot_errors() -> None:
    store = InMemoryRunStore()
    artifacts = InMemoryArtifactStore()
    run = RunState.new(workflow_id="wf", entry_node="n")
    store.save(run)
    common: dict[str, Any] = {
        "run_store": store,
        "artifact_store": artifacts,
        "workflow_id": "wf",
        "format": "json",
    }
    with pytest.raises(ValueError):
        persist_workflow_snapshot(run_id="", snapshot={}, **common)
    with pytest.raises(KeyError):
        persist_workflow_snapshot(run_id="nope", snapshot={}, **common)
    with pytest.raises(NotJsonSafeError, match=r"snapshot\.when"):
        persist_workflow_snapshot(run_id=run.run_id, snapshot={"when": object()}, **common)
    with pytest.raises(TypeError):
        persist_workflow_snapshot(run_id=run.run_id, snapshot=["not", "a", "dict"], **common)  # type: ignore[arg-type]
    assert artifacts.list_all() == []
