"""``Runtime.resume_checkpoint`` and event delivery from listed checkpoints (no reload per listener)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abstractruntime import (
    Effect,
    EffectType,
    RunStatus,
    Runtime,
    SqliteDatabase,
    SqliteLedgerStore,
    SqliteRunStore,
    StepPlan,
    WorkflowRegistry,
    WorkflowSpec,
)
from abstractruntime.errors import ConcurrencyError
from abstractruntime.storage.base import CheckpointListingRunStore


def _listener() -> WorkflowSpec:
    def wait(run, ctx):  # type: ignore[no-untyped-def]
        effect = Effect(EffectType.WAIT_EVENT, {"scope": "global", "name": "go"}, result_key="event")
        return StepPlan("wait", effect=effect, next_node="done")

    def done(run, ctx):  # type: ignore[no-untyped-def]
        return StepPlan("done", complete_output={"got": run.vars["event"]["payload"]})

    return WorkflowSpec("listener", "wait", {"wait": wait, "done": done})


def _runtime(tmp_path: Path) -> tuple[Runtime, SqliteRunStore]:
    db = SqliteDatabase(tmp_path / "rt.db")
    runs = SqliteRunStore(db)
    registry = WorkflowRegistry()
    registry.register(_listener())
    return Runtime(run_store=runs, ledger_store=SqliteLedgerStore(db), workflow_registry=registry), runs


def _parked(runtime: Runtime, count: int) -> list[str]:
    flow = _listener()
    ids = []
    for _ in range(count):
        run_id = runtime.start(workflow=flow)
        assert runtime.tick(workflow=flow, run_id=run_id).status is RunStatus.WAITING
        ids.append(run_id)
    return ids


def test_list_checkpoints_lists_what_list_runs_lists_with_revisions(tmp_path: Path) -> None:
    runtime, runs = _runtime(tmp_path)
    ids = _parked(runtime, 3)
    assert isinstance(runs, CheckpointListingRunStore)
    listed = runs.list_checkpoints(status=RunStatus.WAITING)
    assert [c.run.run_id for c in listed] == [r.run_id for r in runs.list_runs(status=RunStatus.WAITING)]
    assert {c.run.run_id for c in listed} == set(ids)
    assert all(c.revision == runs.current_revision(c.run.run_id) for c in listed)


def test_resume_checkpoint_resumes_without_reloading_and_refuses_a_stale_copy(tmp_path: Path) -> None:
    runtime, runs = _runtime(tmp_path)
    first, second = _parked(runtime, 2)
    flow = _listener()
    fresh = runs.load_checkpoint(first)
    assert fresh is not None
    state = runtime.resume_checkpoint(
        workflow=flow, checkpoint=fresh, wait_key=None, payload={"payload": 1}, max_steps=10
    )
    assert state.status is RunStatus.COMPLETED and state.output == {"got": 1}
    stale = runs.load_checkpoint(second)
    assert stale is not None
    runtime.pause_run(second)  # another writer changes the run after it was read
    with pytest.raises(ConcurrencyError):
        runtime.resume_checkpoint(workflow=flow, checkpoint=stale, wait_key=None, payload={"payload": 2})
    assert runtime.get_state(second).status is RunStatus.WAITING


def test_an_emitted_event_wakes_every_listed_listener_once(tmp_path: Path) -> None:
    runtime, _runs = _runtime(tmp_path)
    ids = _parked(runtime, 300)  # more listeners than a wake batch (200)

    def emit(run, ctx):  # type: ignore[no-untyped-def]
        payload = {"scope": "global", "name": "go", "payload": {"n": 7}, "max_steps": 5}
        return StepPlan(
            "emit", effect=Effect(EffectType.EMIT_EVENT, payload, result_key="report"), next_node=None
        )

    emitter = WorkflowSpec("emitter", "emit", {"emit": emit})
    state = runtime.tick(workflow=emitter, run_id=runtime.start(workflow=emitter))
    assert state.vars["report"]["delivered"] == 300
    for run_id in ids:
        done = runtime.get_state(run_id)
        assert done.status is RunStatus.COMPLETED and done.output == {"got": {"n": 7}}
        resumes = [r for r in runtime.get_ledger(run_id) if (r.get("effect") or {}).get("type") == "resume"]
        assert len(resumes) == 1


def test_tick_checkpoint_goes_on_from_what_resume_checkpoint_committed(tmp_path: Path) -> None:
    runtime, runs = _runtime(tmp_path)
    (run_id,) = _parked(runtime, 1)
    flow = _listener()
    checkpoint = runs.load_checkpoint(run_id)
    assert checkpoint is not None
    woken = runtime.resume_checkpoint(
        workflow=flow, checkpoint=checkpoint, wait_key=None, payload={"payload": 3}, max_steps=0
    )
    assert woken.status is RunStatus.RUNNING
    assert checkpoint.run is woken and checkpoint.revision == runs.current_revision(run_id)
    done = runtime.tick_checkpoint(workflow=flow, checkpoint=checkpoint)
    assert done.status is RunStatus.COMPLETED and done.output == {"got": 3}
    assert checkpoint.revision == runs.current_revision(run_id)
    assert runtime.get_state(run_id).status is RunStatus.COMPLETED


def test_tick_checkpoint_refuses_a_copy_another_writer_has_overtaken(tmp_path: Path) -> None:
    runtime, runs = _runtime(tmp_path)
    (run_id,) = _parked(runtime, 1)
    flow = _listener()
    checkpoint = runs.load_checkpoint(run_id)
    assert checkpoint is not None
    runtime.resume_checkpoint(
        workflow=flow, checkpoint=checkpoint, wait_key=None, payload={"payload": 4}, max_steps=0
    )
    other = runtime.tick(workflow=flow, run_id=run_id)  # another driver finishes the run first
    assert other.status is RunStatus.COMPLETED
    with pytest.raises(ConcurrencyError):
        runtime.tick_checkpoint(workflow=flow, checkpoint=checkpoint)
    ends = [r for r in runtime.get_ledger(run_id) if (r.get("effect") or {}).get("type") == "emit_event"]
    assert len(ends) == 1  # the stale copy wrote nothing
    assert runtime.get_state(run_id).output == {"got": 4}
