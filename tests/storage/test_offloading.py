"""Offloading large values to artifacts (SPEC §7.8): the walker, the run and ledger decorators, and
a Runtime over them keeping durability, optimistic concurrency and idempotent reuse."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import Effect, EffectType, RunState, RunStatus, Runtime, StepPlan, WorkflowSpec
from abstractruntime.core.models import StepRecord
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.errors import CapabilityError, ConcurrencyError, CyclicValueError
from abstractruntime.storage import InMemoryLedgerStore, InMemoryRunStore
from abstractruntime.storage.artifacts import (
    ArtifactStore,
    FileArtifactStore,
    InMemoryArtifactStore,
    artifact_ref,
    get_artifact_id,
    is_artifact_ref,
    resolve_artifact,
)
from abstractruntime.storage.base import (
    LedgerStore,
    QueryableRunStore,
    RevisionedRunStore,
    RunStore,
)
from abstractruntime.storage.json_files import JsonFileRunStore, JsonlLedgerStore
from abstractruntime.storage.ledger_chain import HashChainedLedgerStore, verify_ledger_chain
from abstractruntime.storage.observable import ObservableLedgerStore
from abstractruntime.storage.offloading import (
    DEFAULT_MAX_INLINE_BYTES,
    MAX_INLINE_BYTES_ENV,
    OffloadingLedgerStore,
    OffloadingRunStore,
    offload_large_values,
)
from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLedgerStore, SqliteRunStore
from abstractruntime.testing.contract.factory import make_run


def _offload(value: Any, store: ArtifactStore, limit: int = 100, **kwargs: Any) -> Any:
    return offload_large_values(value, artifact_store=store, run_id="run-1", max_inline_bytes=limit, **kwargs)


def _meta(store: ArtifactStore, ref: Any) -> Any:
    assert is_artifact_ref(ref), ref
    meta = store.get_metadata(get_artifact_id(ref))
    assert meta is not None
    return meta


# -- offload_large_values ------------------------------------------------------------------------------
def test_small_values_come_back_as_the_same_object() -> None:
    store = InMemoryArtifactStore()
    value = {"a": "x" * 50, "b": [1, 2.5, None, True], "é": "ü" * 10}
    assert _offload(value, store) is value
    assert store.list_all() == []


def test_a_large_string_becomes_a_text_artifact_tagged_with_its_path() -> None:
    store = InMemoryArtifactStore()
    big = "é" * 60  # 120 UTF-8 bytes, 60 characters
    value = {"x": [big, "small"], "keep": 1}
    out = _offload(value, store, base_tags={"source": "test"}, root_path="vars._temp")
    ref = out["x"][0]
    assert ref == artifact_ref(get_artifact_id(ref))
    meta = _meta(store, ref)
    assert meta.content_type == "text/plain" and meta.run_id == "run-1" and meta.size_bytes == 120
    assert meta.tags == {"source": "test", "path": "vars._temp.x[0]", "kind": "text"}
    assert resolve_artifact(ref, store).as_text() == big  # type: ignore[union-attr]
    assert out["x"][1] == "small" and out["keep"] == 1
    assert value == {"x": [big, "small"], "keep": 1}  # the input is untouched


def test_bytes_are_always_offloaded() -> None:
    store = InMemoryArtifactStore()
    out = _offload({"blob": b"\x00\x01", "nested": {"raw": bytearray(b"ab")}}, store, limit=10_000)
    meta = _meta(store, out["blob"])
    assert meta.content_type == "application/octet-stream" and meta.tags == {"path": "blob", "kind": "bytes"}
    assert store.load(get_artifact_id(out["nested"]["raw"])).content == b"ab"  # type: ignore[union-attr]


def test_a_container_still_too_large_after_its_children_is_stored_whole_as_json() -> None:
    store = InMemoryArtifactStore()
    items = [f"item-{i:03d}" for i in range(30)]  # each small, together over the limit
    out = _offload({"list": items, "n": 1}, store, root_path="output")
    meta = _meta(store, out["list"])
    assert meta.content_type == "application/json"
    assert meta.tags == {"path": "output.list", "kind": "json"}
    assert store.load_json(get_artifact_id(out["list"])) == items
    # children are processed first: the stored JSON holds the child's reference, not the child
    mixed = {"deep": {"big": "y" * 150, "rest": ["z" * 20] * 4}}
    result = _offload(mixed, store)
    stored = store.load_json(get_artifact_id(result["deep"]))
    assert is_artifact_ref(stored["big"]) and stored["rest"] == ["z" * 20] * 4
    assert store.load_text(get_artifact_id(stored["big"])) == "y" * 150


def test_the_root_is_replaced_only_when_allowed() -> None:
    store = InMemoryArtifactStore()
    assert _offload("r" * 200, store) == "r" * 200
    root_list = ["s" * 30] * 5
    assert _offload(root_list, store) is root_list
    replaced = _offload("r" * 200, store, allow_root_replace=True, root_path="output")
    assert _meta(store, replaced).tags == {"path": "output", "kind": "text"}
    whole = _offload(root_list, store, allow_root_replace=True)
    assert store.load_json(get_artifact_id(whole)) == root_list


def test_existing_references_are_kept() -> None:
    store = InMemoryArtifactStore()
    ref = {"$artifact": "abc", "content_type": "text/plain", "filename": "f" * 500}
    value = {"ref": ref}
    out = _offload(value, store, limit=10)
    assert out is value and out["ref"] is ref
    assert store.list_all() == []


def test_allow_offload_limits_what_is_replaced() -> None:
    store = InMemoryArtifactStore()
    value = {"a": "x" * 200, "b": "y" * 200}
    out = _offload(value, store, allow_offload=lambda path: path == "b")
    assert out["a"] == "x" * 200 and is_artifact_ref(out["b"])


def test_allow_offload_is_called_with_key_and_value() -> None:
    store = InMemoryArtifactStore()
    seen: list[tuple[str, Any]] = []

    def allow(key: str, value: Any) -> bool:
        seen.append((key, value))
        return not (isinstance(value, str) and value.startswith("keep"))

    value = {"a": "keep" + "x" * 200, "b": "drop" + "y" * 200, "c": [b"raw"], "small": "s" * 90}
    out = _offload(value, store, root_path="vars._temp", allow_offload=allow)
    assert seen == [
        ("vars._temp.a", value["a"]),
        ("vars._temp.b", value["b"]),
        ("vars._temp.c[0]", b"raw"),
    ]  # only values about to be replaced are offered; ones under the limit are not
    assert out["a"] == value["a"] and out["small"] == value["small"]
    assert store.load_text(get_artifact_id(out["b"])) == value["b"]
    assert is_artifact_ref(out["c"][0])

    # a container is offered after its children were processed (here: its large child is kept)
    offered: list[tuple[str, Any]] = []

    def all_but_keep(key: str, value: Any) -> bool:
        offered.append((key, value))
        return key != "box.keep"

    nested = {"box": {"keep": "k" * 200, "n": [1, 2]}}
    out = _offload(nested, store, allow_offload=all_but_keep)
    assert offered == [("box.keep", nested["box"]["keep"]), ("box", nested["box"])]
    assert store.load_json(get_artifact_id(out["box"])) == nested["box"]


def test_a_one_argument_allow_offload_still_gets_the_key_only() -> None:
    store = InMemoryArtifactStore()
    keys: list[str] = []

    def by_key(key: str) -> bool:
        keys.append(key)
        return key == "b"

    out = _offload({"a": "x" * 200, "b": "y" * 200}, store, allow_offload=by_key)
    assert keys == ["a", "b"]
    assert out["a"] == "x" * 200 and is_artifact_ref(out["b"])


def test_a_cycle_raises_a_typed_value_error() -> None:
    store = InMemoryArtifactStore()
    loop: dict[str, Any] = {"pad": "p" * 200}
    loop["self"] = {"back": loop}
    with pytest.raises(CyclicValueError) as info:
        _offload({"root": loop}, store, root_path="vars")
    assert isinstance(info.value, ValueError)
    assert info.value.path == "vars.root.self.back"


def test_a_limit_of_zero_or_less_disables_offloading() -> None:
    store = InMemoryArtifactStore()
    value = {"big": "x" * 10_000, "raw": b"bytes"}
    for limit in (0, -1):
        assert _offload(value, store, limit=limit) is value
    assert store.list_all() == []


def test_offloading_the_same_value_twice_stores_it_once() -> None:
    store = InMemoryArtifactStore()
    first = _offload({"a": "q" * 500}, store)
    second = _offload({"b": "q" * 500}, store)
    assert first["a"] == second["b"]
    assert len(store.list_all()) == 1


def test_values_without_json_form_are_left_inline() -> None:
    store = InMemoryArtifactStore()
    odd = {1, 2}
    out = _offload({"sub": {"set": odd, "pad": "p" * 90}}, store)
    assert out["sub"]["set"] is odd  # cannot be stored as JSON: left for the inner store to judge


# -- the inline limit ----------------------------------------------------------------------------------
def test_default_limit_and_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULT_MAX_INLINE_BYTES == 262144
    assert MAX_INLINE_BYTES_ENV == "ABSTRACTRUNTIME_MAX_INLINE_BYTES"
    artifacts = InMemoryArtifactStore()
    monkeypatch.delenv(MAX_INLINE_BYTES_ENV, raising=False)
    assert OffloadingRunStore(InMemoryRunStore(), artifact_store=artifacts).max_inline_bytes == 262144
    monkeypatch.setenv(MAX_INLINE_BYTES_ENV, "1024")
    assert OffloadingLedgerStore(InMemoryLedgerStore(), artifact_store=artifacts).max_inline_bytes == 1024
    assert OffloadingRunStore(InMemoryRunStore(), artifact_store=artifacts).max_inline_bytes == 1024
    explicit = OffloadingRunStore(InMemoryRunStore(), artifact_store=artifacts, max_inline_bytes=7)
    assert explicit.max_inline_bytes == 7
    monkeypatch.setenv(MAX_INLINE_BYTES_ENV, "lots")
    assert OffloadingRunStore(InMemoryRunStore(), artifact_store=artifacts).max_inline_bytes == 262144
    monkeypatch.setenv(MAX_INLINE_BYTES_ENV, "0")
    store = OffloadingRunStore(InMemoryRunStore(), artifact_store=artifacts)
    run = make_run(status=RunStatus.COMPLETED, vars={"_temp": {"big": "x" * 300_000}})
    store.save(run)
    assert store.load(run.run_id).vars["_temp"]["big"] == "x" * 300_000  # type: ignore[union-attr]


# -- OffloadingRunStore -------------------------------------------------------------------------------
def _vars() -> dict[str, Any]:
    return {
        "_temp": {"big": "t" * 300, "small": "s", "rows": [{"text": "r" * 300}]},
        "_runtime": "n" * 300,  # a namespace value itself is never replaced
        "public": {"big": "p" * 300},  # not a _-prefixed namespace
    }


def test_run_store_offloads_only_terminal_runs_and_saves_a_copy() -> None:
    artifacts = InMemoryArtifactStore()
    inner = InMemoryRunStore()
    store = OffloadingRunStore(inner, artifact_store=artifacts, max_inline_bytes=100)
    run = make_run(vars=_vars())
    store.save(run)
    assert inner.load(run.run_id) is run  # running: passed on as is
    assert artifacts.list_all() == []
    run.status, run.output = RunStatus.COMPLETED, {"answer": "a" * 300}
    before = copy.deepcopy(run.to_dict())
    store.save(run)
    assert run.to_dict() == before  # the caller's object is not modified
    stored = store.load(run.run_id)
    assert stored is not None and stored is not run
    assert is_artifact_ref(stored.vars["_temp"]["big"]) and stored.vars["_temp"]["small"] == "s"
    assert is_artifact_ref(stored.vars["_temp"]["rows"][0]["text"])
    assert stored.vars["_runtime"] == "n" * 300 and stored.vars["public"] == {"big": "p" * 300}
    assert is_artifact_ref(stored.output["answer"])  # type: ignore[index]
    tags = {m.tags["path"]: m.tags for m in artifacts.list_by_run(run.run_id)}
    assert tags["vars._temp.big"] == {"source": "run_store_offload", "path": "vars._temp.big", "kind": "text"}
    assert "vars._temp.rows[0].text" in tags
    assert tags["output.answer"]["source"] == "run_output_offload"


@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.CANCELLED])
def test_failed_and_cancelled_runs_are_terminal_too(status: RunStatus) -> None:
    artifacts = InMemoryArtifactStore()
    store = OffloadingRunStore(InMemoryRunStore(), artifact_store=artifacts, max_inline_bytes=100)
    run = make_run(status=status, vars={"_temp": {"big": "b" * 200}})
    store.save(run)
    assert is_artifact_ref(store.load(run.run_id).vars["_temp"]["big"])  # type: ignore[union-attr]


def test_the_output_root_may_be_replaced() -> None:
    artifacts = InMemoryArtifactStore()
    store = OffloadingRunStore(InMemoryRunStore(), artifact_store=artifacts, max_inline_bytes=100)
    run = make_run(status=RunStatus.COMPLETED)
    run.output = {f"k{i}": "v" * 20 for i in range(10)}
    store.save(run)
    stored = store.load(run.run_id)
    assert stored is not None and is_artifact_ref(stored.output)
    assert artifacts.load_json(get_artifact_id(stored.output)) == run.output  # type: ignore[arg-type]
    assert _meta(artifacts, stored.output).tags == {
        "source": "run_output_offload",
        "path": "output",
        "kind": "json",
    }


class _PlainRunStore(RunStore):
    """A SPEC §7.1 store: save/load only (no queries, no revisions)."""

    def __init__(self) -> None:
        self.runs: dict[str, RunState] = {}

    def save(self, run: RunState) -> None:
        self.runs[run.run_id] = copy.deepcopy(run)

    def load(self, run_id: str) -> RunState | None:
        return copy.deepcopy(self.runs.get(run_id))


def test_capabilities_are_reported_truthfully(tmp_path: Path) -> None:
    artifacts = InMemoryArtifactStore()
    plain = OffloadingRunStore(_PlainRunStore(), artifact_store=artifacts)
    assert isinstance(plain, OffloadingRunStore) and isinstance(plain, RunStore)
    assert not isinstance(plain, RevisionedRunStore)
    assert not hasattr(plain, "commit") and not hasattr(plain, "load_checkpoint")
    db = SqliteDatabase(tmp_path / "runs.db")
    try:
        for inner in (InMemoryRunStore(), SqliteRunStore(db), JsonFileRunStore(tmp_path / "files")):
            wrapped = OffloadingRunStore(inner, artifact_store=artifacts)
            assert isinstance(wrapped, OffloadingRunStore) and isinstance(wrapped, RevisionedRunStore)
            assert wrapped.inner is inner
    finally:
        db.close()


def test_a_subclass_keeps_its_behaviour_and_gets_the_capability() -> None:
    class Custom(OffloadingRunStore):
        def hello(self) -> str:
            return "hi"

    wrapped = Custom(InMemoryRunStore(), artifact_store=InMemoryArtifactStore())
    assert isinstance(wrapped, Custom) and isinstance(wrapped, RevisionedRunStore)
    assert wrapped.hello() == "hi" and type(wrapped).__name__ == "Custom"
    assert not isinstance(
        Custom(_PlainRunStore(), artifact_store=InMemoryArtifactStore()), RevisionedRunStore
    )


def test_queries_are_forwarded_or_not_implemented() -> None:
    artifacts = InMemoryArtifactStore()
    inner = InMemoryRunStore()
    store = OffloadingRunStore(inner, artifact_store=artifacts)
    assert isinstance(store, QueryableRunStore)
    parent = make_run()
    child = make_run(parent_run_id=parent.run_id, status=RunStatus.COMPLETED)
    for run in (parent, child):
        store.save(run)
    assert [r.run_id for r in store.list_runs(status=RunStatus.COMPLETED)] == [child.run_id]
    assert [r.run_id for r in store.list_children(parent_run_id=parent.run_id)] == [child.run_id]
    assert store.list_due_wait_until(now_iso="2030-01-01T00:00:00+00:00") == []
    assert len(store.list_run_index(root_only=True)) == 1
    plain = OffloadingRunStore(_PlainRunStore(), artifact_store=artifacts)
    with pytest.raises(NotImplementedError):
        plain.list_runs()
    with pytest.raises(NotImplementedError):
        plain.list_due_wait_until(now_iso="2030-01-01T00:00:00+00:00")
    with pytest.raises(NotImplementedError):
        plain.list_children(parent_run_id="p")
    with pytest.raises(NotImplementedError):
        plain.list_run_index()


def test_commit_offloads_the_terminal_copy_and_checks_the_revision(tmp_path: Path) -> None:
    artifacts = InMemoryArtifactStore()
    db = SqliteDatabase(tmp_path / "runs.db")
    try:
        runs = OffloadingRunStore(SqliteRunStore(db), artifact_store=artifacts, max_inline_bytes=100)
        ledger = OffloadingLedgerStore(SqliteLedgerStore(db), artifact_store=artifacts, max_inline_bytes=100)
        assert isinstance(runs, RevisionedRunStore)
        run = make_run(vars={"_temp": {"big": "b" * 200}})
        first = runs.commit(run, [], ledger_store=ledger, expected_revision=None)
        assert runs.current_revision(run.run_id) == first
        checkpoint = runs.load_checkpoint(run.run_id)
        assert checkpoint is not None and checkpoint.run.vars["_temp"]["big"] == "b" * 200
        run.status = RunStatus.COMPLETED
        record = StepRecord.start(run=run, node_id="n", effect=None).finish_success({"r": "x" * 300})
        second = runs.commit(run, [record], ledger_store=ledger, expected_revision=first)
        stored = runs.load(run.run_id)
        assert stored is not None and is_artifact_ref(stored.vars["_temp"]["big"])
        assert run.vars["_temp"]["big"] == "b" * 200
        assert is_artifact_ref(ledger.list(run.run_id)[0]["result"]["r"])
        with pytest.raises(ConcurrencyError):
            runs.commit(run, [record], ledger_store=ledger, expected_revision=first)
        assert runs.current_revision(run.run_id) == second
        assert len(ledger.list(run.run_id)) == 1
    finally:
        db.close()


def test_without_revisions_the_runtime_falls_back_to_append_and_save() -> None:
    artifacts = InMemoryArtifactStore()
    inner = _PlainRunStore()
    runs = OffloadingRunStore(inner, artifact_store=artifacts, max_inline_bytes=100)
    ledger = OffloadingLedgerStore(InMemoryLedgerStore(), artifact_store=artifacts, max_inline_bytes=100)

    def node(run: RunState, ctx: Any) -> StepPlan:
        run.vars.setdefault("_temp", {})["big"] = "z" * 500
        return StepPlan(node_id="node", complete_output={"echo": "o" * 500})

    flow = WorkflowSpec(workflow_id="plain", entry_node="node", nodes={"node": node})
    runtime = Runtime(run_store=runs, ledger_store=ledger)
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)
    assert state.status is RunStatus.COMPLETED and state.vars["_temp"]["big"] == "z" * 500
    stored = inner.runs[run_id]
    assert is_artifact_ref(stored.vars["_temp"]["big"]) and is_artifact_ref(stored.output["echo"])  # type: ignore[index]
    completion = [r for r in ledger.list(run_id) if (r["result"] or {}).get("completed")]
    assert is_artifact_ref(completion[0]["result"]["output"]["echo"])


# -- OffloadingLedgerStore ---------------------------------------------------------------------------
def _record(payload: dict[str, Any], result: dict[str, Any] | None = None) -> StepRecord:
    run = make_run()
    record = StepRecord.start(
        run=run, node_id="n", effect=Effect(EffectType.LLM_CALL, payload), idempotency_key="k"
    )
    return record if result is None else record.finish_success(result)


def test_ledger_offloads_inside_effect_and_result_never_their_roots() -> None:
    artifacts = InMemoryArtifactStore()
    ledger = OffloadingLedgerStore(InMemoryLedgerStore(), artifact_store=artifacts, max_inline_bytes=100)
    record = _record({"prompt": "p" * 300, "n": 1}, {"content": "c" * 300})
    original = copy.deepcopy(record.to_dict())
    ledger.append(record)
    assert record.to_dict() == original  # the caller's record is untouched
    stored = ledger.list(record.run_id)[0]
    assert stored["effect"]["type"] == "llm_call" and stored["effect"]["payload"]["n"] == 1
    prompt = _meta(artifacts, stored["effect"]["payload"]["prompt"])
    assert prompt.tags == {
        "source": "ledger_effect_offload",
        "path": "ledger.effect.payload.prompt",
        "kind": "text",
    }
    content = _meta(artifacts, stored["result"]["content"])
    assert content.tags == {
        "source": "ledger_result_offload",
        "path": "ledger.result.content",
        "kind": "text",
    }
    many = {f"k{i}": "v" * 30 for i in range(10)}  # the result as a whole is too big; its root stays
    big_result = _record({"x": 1}, many)
    ledger.append(big_result)
    stored_result = ledger.list(big_result.run_id)[0]["result"]
    assert isinstance(stored_result, dict) and not is_artifact_ref(stored_result)
    found = ledger.find_completed(record.run_id, "k")
    assert found is not None and is_artifact_ref(found["result"]["content"])


def test_ledger_append_many_and_forwarded_extras(tmp_path: Path) -> None:
    artifacts = InMemoryArtifactStore()
    db = SqliteDatabase(tmp_path / "ledger.db")
    try:
        ledger = OffloadingLedgerStore(SqliteLedgerStore(db), artifact_store=artifacts, max_inline_bytes=100)
        first = _record({"prompt": "p" * 300})
        second = StepRecord.start(run=make_run(), node_id="n", effect=None)
        second.run_id = first.run_id
        ledger.append_many([first, second.finish_success({"content": "c" * 300})])
        records = ledger.list(first.run_id)
        assert len(records) == 2 and is_artifact_ref(records[0]["effect"]["payload"]["prompt"])
        assert ledger.count(first.run_id) == 2
        assert ledger.count_many([first.run_id, "none"]) == {first.run_id: 2}  # unknown ids omitted
        assert ledger.metrics_many([first.run_id])[first.run_id]["steps"] == 1
        page, cursor = ledger.list_after(run_id=first.run_id, after=1)
        assert len(page) == 1 and cursor == 2
    finally:
        db.close()
    memory = OffloadingLedgerStore(InMemoryLedgerStore(), artifact_store=artifacts)
    with pytest.raises(CapabilityError):
        memory.metrics_many(["x"])
    with pytest.raises(CapabilityError):
        memory.list_after(run_id="x", after=0)
    with pytest.raises(CapabilityError):
        memory.subscribe(lambda record: None)


def test_ledger_subscribe_is_forwarded() -> None:
    artifacts = InMemoryArtifactStore()
    observable = ObservableLedgerStore(InMemoryLedgerStore())
    ledger = OffloadingLedgerStore(observable, artifact_store=artifacts, max_inline_bytes=100)
    seen: list[dict[str, Any]] = []
    unsubscribe = ledger.subscribe(seen.append)
    ledger.append(_record({"prompt": "p" * 300}))
    unsubscribe()
    assert len(seen) == 1 and is_artifact_ref(seen[0]["effect"]["payload"]["prompt"])


@pytest.mark.parametrize("inner_kind", ["memory", "plain"])
def test_a_hash_chain_over_offloading_covers_the_stored_form(inner_kind: str) -> None:
    artifacts = InMemoryArtifactStore()

    class _NoLinked(LedgerStore):
        def __init__(self) -> None:
            self.inner = InMemoryLedgerStore()

        def append(self, record: StepRecord) -> None:
            self.inner.append(record)

        def list(self, run_id: str) -> list[dict[str, Any]]:
            return self.inner.list(run_id)

    base: LedgerStore = InMemoryLedgerStore() if inner_kind == "memory" else _NoLinked()
    offloading = OffloadingLedgerStore(base, artifact_store=artifacts, max_inline_bytes=100)
    chained = HashChainedLedgerStore(offloading)
    records = [_record({"prompt": "p" * 300}), _record({"x": 1}, {"content": "c" * 300})]
    for record in records[1:]:
        record.run_id = records[0].run_id
    for record in records:
        chained.append(record)
    stored = chained.list(records[0].run_id)
    assert is_artifact_ref(stored[0]["effect"]["payload"]["prompt"])
    report = verify_ledger_chain(stored)
    assert report["ok"] is True, report
    assert records[0].record_hash == stored[0]["record_hash"]  # chain fields copied back


# -- a Runtime over offloading durable stores ------------------------------------------------------------
TEN_MB = "0123456789abcdef" * 655_360  # 10,485,760 characters / bytes


def _make_big_flow() -> WorkflowSpec:
    def make(run: RunState, ctx: Any) -> StepPlan:
        run.vars.setdefault("_temp", {})["big"] = TEN_MB
        effect = Effect(EffectType.ASK_USER, {"prompt": "Done?"}, result_key="reply")
        return StepPlan(node_id="make", effect=effect, next_node="finish")

    def finish(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="finish", complete_output={"size": len(run.vars["_temp"]["big"])})

    return WorkflowSpec(workflow_id="big", entry_node="make", nodes={"make": make, "finish": finish})


class _Backend:
    """Opens offloading stores over files or SQLite (reopening simulates a restart)."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind, self.root = kind, root
        self.databases: list[SqliteDatabase] = []

    def open(self, max_inline_bytes: int | None = None) -> tuple[OffloadingRunStore, OffloadingLedgerStore]:
        artifacts = FileArtifactStore(self.root / "data")
        runs: RunStore
        ledger: LedgerStore
        if self.kind == "files":
            runs, ledger = JsonFileRunStore(self.root / "runs"), JsonlLedgerStore(self.root / "runs")
        else:
            db = SqliteDatabase(self.root / "runs.db")
            self.databases.append(db)
            runs, ledger = SqliteRunStore(db), SqliteLedgerStore(db)
        limit = {"max_inline_bytes": max_inline_bytes}
        return (
            OffloadingRunStore(runs, artifact_store=artifacts, **limit),
            OffloadingLedgerStore(ledger, artifact_store=artifacts, **limit),
        )

    def stored_run_bytes(self, run_id: str) -> int:
        if self.kind == "files":
            return (self.root / "runs" / f"run_{run_id}.json").stat().st_size
        row = (
            self.databases[-1]
            .connection()
            .execute("SELECT length(run_json) FROM runs WHERE run_id = ?", (run_id,))
            .fetchone()
        )
        return int(row[0])

    def close(self) -> None:
        for db in self.databases:
            db.close()


@pytest.fixture(params=["files", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Backend]:
    opened = _Backend(request.param, tmp_path)
    yield opened
    opened.close()


def test_acceptance_a_10mb_value_is_stored_once_as_an_artifact_when_the_run_completes(
    backend: _Backend,
) -> None:
    flow = _make_big_flow()
    runs, ledger = backend.open()
    runtime = Runtime(run_store=runs, ledger_store=ledger)
    run_id = runtime.start(workflow=flow)
    waiting = runtime.tick(workflow=flow, run_id=run_id)
    assert waiting.status is RunStatus.WAITING and waiting.waiting is not None
    assert backend.stored_run_bytes(run_id) > len(TEN_MB)  # not terminal yet: kept inline
    done = runtime.resume(workflow=flow, run_id=run_id, wait_key=waiting.waiting.wait_key, payload={"ok": 1})
    assert done.status is RunStatus.COMPLETED and done.output == {"size": len(TEN_MB)}
    assert done.vars["_temp"]["big"] == TEN_MB  # the state handed back keeps the value
    assert backend.stored_run_bytes(run_id) < 100_000

    restarted_runs, _ = backend.open()  # a new process reads it back
    stored = restarted_runs.load(run_id)
    assert stored is not None and stored.status is RunStatus.COMPLETED
    ref = stored.vars["_temp"]["big"]
    assert ref == artifact_ref(get_artifact_id(ref))
    artifacts = restarted_runs.artifact_store
    artifact = resolve_artifact(ref, artifacts)
    assert artifact is not None and artifact.as_text() == TEN_MB
    assert artifact.metadata.size_bytes == len(TEN_MB) and artifact.content_type == "text/plain"
    assert artifact.metadata.tags == {"source": "run_store_offload", "path": "vars._temp.big", "kind": "text"}
    assert [m.artifact_id for m in artifacts.list_by_run(run_id)] == [get_artifact_id(ref)]  # stored once

    blobs = backend.root / "data" / "artifacts" / "blobs"
    assert [p.stat().st_size for p in blobs.iterdir()] == [len(TEN_MB)]
    second = runtime.start(workflow=flow)
    waiting = runtime.tick(workflow=flow, run_id=second)
    runtime.resume(workflow=flow, run_id=second, wait_key=waiting.waiting.wait_key, payload={})  # type: ignore[union-attr]
    other_ref = runs.load(second).vars["_temp"]["big"]  # type: ignore[union-attr]
    assert get_artifact_id(other_ref) != get_artifact_id(ref)  # one artifact per run...
    assert len(list(blobs.iterdir())) == 1  # ...and one blob on disk for identical content
    assert resolve_artifact(other_ref, artifacts).as_text() == TEN_MB  # type: ignore[union-attr]


class _CountingLLM:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        self.calls += 1
        return EffectOutcome.completed({"content": f"answer {self.calls} " + "w" * 5000})


def test_runtime_over_sqlite_offloading_reuses_completed_effects(tmp_path: Path) -> None:
    backend = _Backend("sqlite", tmp_path)
    try:
        counter = _CountingLLM()

        def call(run: RunState, ctx: Any) -> StepPlan:
            effect = Effect(EffectType.LLM_CALL, {"prompt": "hello " + "h" * 3000}, result_key="reply")
            return StepPlan(node_id="call", effect=effect, next_node="again")

        def again(run: RunState, ctx: Any) -> StepPlan:
            run.vars["visits"] = run.vars.get("visits", 0) + 1
            if run.vars["visits"] < 2:
                return StepPlan(node_id="again", next_node="call")
            return StepPlan(node_id="again", complete_output={"reply": run.vars["reply"]})

        flow = WorkflowSpec(workflow_id="loop", entry_node="call", nodes={"call": call, "again": again})
        runs, ledger = backend.open(max_inline_bytes=1024)
        first = Runtime(run_store=runs, ledger_store=ledger, effect_handlers={EffectType.LLM_CALL: counter})
        run_id = first.start(workflow=flow)
        first.tick(workflow=flow, run_id=run_id, max_steps=1)
        assert counter.calls == 1
        records = first.get_ledger(run_id)
        completed = [r for r in records if r["status"] == "completed"]
        assert is_artifact_ref(completed[0]["result"]["content"])  # the ledger holds the offloaded form
        assert is_artifact_ref(records[0]["effect"]["payload"]["prompt"])

        runs2, ledger2 = backend.open(max_inline_bytes=1024)  # a restart
        second = Runtime(
            run_store=runs2, ledger_store=ledger2, effect_handlers={EffectType.LLM_CALL: counter}
        )
        state = second.tick(workflow=flow, run_id=run_id)
        assert state.status is RunStatus.COMPLETED
        assert counter.calls == 1  # reused through find_completed, not executed again
        reply = state.output["reply"]  # type: ignore[index]
        text = resolve_artifact(reply["content"], runs2.artifact_store)
        assert text is not None and text.as_text() == "answer 1 " + "w" * 5000
    finally:
        backend.close()


def test_runtime_over_sqlite_offloading_keeps_optimistic_concurrency(tmp_path: Path) -> None:
    backend = _Backend("sqlite", tmp_path)
    try:
        runs, ledger = backend.open(max_inline_bytes=1024)
        operator = Runtime(
            run_store=runs,
            ledger_store=ledger,
            effect_handlers={
                EffectType.LLM_CALL: lambda run, effect, nxt: EffectOutcome.completed({"by": "A"})
            },
        )

        def call(run: RunState, ctx: Any) -> StepPlan:
            effect = Effect(EffectType.LLM_CALL, {"prompt": "p" * 2000}, result_key="reply")
            return StepPlan(node_id="call", effect=effect, next_node="done")

        def done(run: RunState, ctx: Any) -> StepPlan:
            return StepPlan(
                node_id="done", complete_output={"by": run.vars["reply"]["by"], "pad": "x" * 4000}
            )

        flow = WorkflowSpec(workflow_id="race", entry_node="call", nodes={"call": call, "done": done})

        def slow(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
            box: dict[str, Any] = {}
            thread = threading.Thread(
                target=lambda: box.update(state=operator.tick(workflow=flow, run_id=run.run_id))
            )
            thread.start()
            thread.join(timeout=30)
            assert box["state"].status is RunStatus.COMPLETED  # the other driver committed first
            return EffectOutcome.completed({"by": "B"})

        runs_b, ledger_b = backend.open(max_inline_bytes=1024)
        worker = Runtime(run_store=runs_b, ledger_store=ledger_b, effect_handlers={EffectType.LLM_CALL: slow})
        assert isinstance(worker.run_store, RevisionedRunStore)
        run_id = worker.start(workflow=flow)
        with pytest.raises(ConcurrencyError) as info:
            worker.tick(workflow=flow, run_id=run_id)
        assert info.value.run_id == run_id
        final = worker.get_state(run_id)
        assert final.status is RunStatus.COMPLETED and final.output is not None
        assert final.output["by"] == "A" and is_artifact_ref(final.output["pad"])
        assert not any((r["result"] or {}).get("by") == "B" for r in worker.get_ledger(run_id))
        stale = runs_b.load_checkpoint(run_id)  # type: ignore[attr-defined]
        runs.save(final)
        with pytest.raises(ConcurrencyError):
            runs_b.commit(stale.run, [], ledger_store=ledger_b, expected_revision=stale.revision)  # type: ignore[attr-defined]
    finally:
        backend.close()


def test_file_run_json_holds_only_the_reference(tmp_path: Path) -> None:
    artifacts = FileArtifactStore(tmp_path)
    runs = OffloadingRunStore(
        JsonFileRunStore(tmp_path / "runs"), artifact_store=artifacts, max_inline_bytes=64
    )
    run = make_run(status=RunStatus.COMPLETED, vars={"_temp": {"blob": b"\x00raw"}})
    runs.save(run)
    data = json.loads((tmp_path / "runs" / f"run_{run.run_id}.json").read_text())
    ref = data["vars"]["_temp"]["blob"]
    assert set(ref) == {"$artifact"}
    assert artifacts.load(ref["$artifact"]).content == b"\x00raw"  # type: ignore[union-attr]
