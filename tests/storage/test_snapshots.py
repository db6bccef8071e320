"""Snapshots (SPEC §7.9): from_run, the stores' filters and ordering, atomic files, restore."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest

from abstractruntime import RunStatus, WaitReason, WaitState
from abstractruntime.errors import CorruptRunError, InvalidRecordError, NotJsonSafeError
from abstractruntime.storage import InMemoryRunStore
from abstractruntime.storage.json_files import JsonFileRunStore
from abstractruntime.storage.snapshots import (
    InMemorySnapshotStore,
    JsonSnapshotStore,
    Snapshot,
    SnapshotStore,
    restore_snapshot,
)
from abstractruntime.testing import FakeClock
from abstractruntime.testing.contract.factory import make_run

START = "2026-02-01T00:00:00+00:00"

STORES: dict[str, Callable[[Path, FakeClock], SnapshotStore]] = {
    "memory": lambda path, clock: InMemorySnapshotStore(clock=clock),
    "json": lambda path, clock: JsonSnapshotStore(path / "snaps", clock=clock),
}


@pytest.fixture(params=sorted(STORES))
def timed(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[SnapshotStore, FakeClock]:
    clock = FakeClock(START)
    return STORES[request.param](tmp_path, clock), clock


def _snap(
    run_id: str, name: str, *, created: str, tags: list[str] | None = None, description: str | None = None
) -> Snapshot:
    return Snapshot(
        snapshot_id=str(uuid.uuid4()),
        run_id=run_id,
        name=name,
        description=description,
        tags=tags or [],
        created_at=created,
        updated_at=created,
    )


def test_from_run_copies_the_run_object() -> None:
    wait = WaitState(reason=WaitReason.USER, wait_key="k", details={"a": [1]})
    run = make_run(status=RunStatus.WAITING, waiting=wait, vars={"x": {"y": [1, 2]}})
    snap = Snapshot.from_run(run=run, name="before", description="d", tags=["t"], step_id="s1")
    assert uuid.UUID(snap.snapshot_id).version == 4
    assert (snap.run_id, snap.name, snap.description, snap.tags, snap.step_id) == (
        run.run_id, "before", "d", ["t"], "s1",
    )  # fmt: skip
    assert snap.run_state == asdict(run)  # the 13-key object (enums compare equal to their values)
    assert set(snap.run_state) == set(run.to_dict())
    run.vars["x"]["y"].append(3)
    assert snap.run_state["vars"] == {"x": {"y": [1, 2]}}
    default = Snapshot(snapshot_id="s", run_id="r")
    assert (default.step_id, default.name, default.description, default.tags, default.run_state) == (
        None, "", None, [], {},
    )  # fmt: skip


def test_save_load_delete_and_updated_at(timed: tuple[SnapshotStore, FakeClock]) -> None:
    store, clock = timed
    snap = Snapshot.from_run(run=make_run(vars={"k": "é"}), name="one")
    clock.advance(60)
    store.save(snap)
    assert snap.updated_at == "2026-02-01T00:01:00+00:00"
    loaded = store.load(snap.snapshot_id)
    assert loaded is not None and loaded == snap and loaded is not snap
    loaded.name = "changed"
    assert store.load(snap.snapshot_id).name == "one"  # type: ignore[union-attr]
    assert store.load("missing") is None
    assert store.delete(snap.snapshot_id) is True
    assert store.delete(snap.snapshot_id) is False
    assert store.load(snap.snapshot_id) is None


def test_list_filters_and_orders_newest_first(timed: tuple[SnapshotStore, FakeClock]) -> None:
    store, _ = timed
    a = _snap("r1", "Alpha start", created="2026-01-01T00:00:01+00:00", tags=["Milestone"])
    b = _snap("r1", "beta", created="2026-01-01T00:00:03+00:00", description="after ALPHA review")
    c = _snap("r2", "gamma", created="2026-01-01T00:00:02+00:00", tags=["milestone", "x"])
    for snap in (a, b, c):
        store.save(snap)

    def ids(found: list[Snapshot]) -> list[str]:
        return [s.snapshot_id for s in found]

    assert ids(store.list()) == [b.snapshot_id, c.snapshot_id, a.snapshot_id]
    assert ids(store.list(run_id="r1")) == [b.snapshot_id, a.snapshot_id]
    assert ids(store.list(tag="MILESTONE")) == [c.snapshot_id, a.snapshot_id]
    assert store.list(tag="mile") == []  # exact, not substring
    assert ids(store.list(query="alpha")) == [b.snapshot_id, a.snapshot_id]
    assert ids(store.list(run_id="r1", tag="milestone", query="ALPHA")) == [a.snapshot_id]
    assert ids(store.list(limit=1)) == [b.snapshot_id]


def test_json_store_writes_one_indented_file_atomically(tmp_path: Path) -> None:
    store = JsonSnapshotStore(tmp_path)
    snap = Snapshot.from_run(run=make_run(vars={"ü": 1}), name="n")
    store.save(snap)
    path = tmp_path / f"snapshot_{snap.snapshot_id}.json"
    text = path.read_text(encoding="utf-8")
    assert '\n  "snapshot_id"' in text and "ü" in text
    assert json.loads(text)["run_state"]["vars"] == {"ü": 1}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    reopened = JsonSnapshotStore(tmp_path)
    assert reopened.load(snap.snapshot_id) == snap


def test_json_store_skips_corrupt_files_in_list(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = JsonSnapshotStore(tmp_path)
    good = Snapshot.from_run(run=make_run(), name="good")
    store.save(good)
    (tmp_path / "snapshot_broken.json").write_text("{oops")
    (tmp_path / "snapshot_array.json").write_text("[1, 2]")
    with caplog.at_level(logging.WARNING):
        assert [s.snapshot_id for s in store.list()] == [good.snapshot_id]
    assert "snapshot_broken.json" in caplog.text
    with pytest.raises(CorruptRunError):
        store.load("broken")


def test_json_store_guards_file_names_and_json(tmp_path: Path) -> None:
    store = JsonSnapshotStore(tmp_path / "snaps")
    bad = Snapshot(snapshot_id="../escape", run_id="r")
    with pytest.raises(InvalidRecordError) as info:
        store.save(bad)
    assert isinstance(info.value, ValueError)
    assert store.load("../escape") is None and store.delete("../escape") is False
    unsafe = Snapshot.from_run(run=make_run(), name="n")
    unsafe.run_state["vars"] = {"when": {1, 2}}
    before = unsafe.updated_at
    with pytest.raises(NotJsonSafeError):
        store.save(unsafe)
    assert unsafe.updated_at == before
    assert list((tmp_path / "snaps").iterdir()) == []


def test_restore_snapshot_rebuilds_and_saves_the_run(tmp_path: Path) -> None:
    runs = JsonFileRunStore(tmp_path)
    wait = WaitState(reason=WaitReason.USER, wait_key="user:k", prompt="?", choices=["a"])
    run = make_run(status=RunStatus.WAITING, waiting=wait, vars={"step": 1})
    runs.save(run)
    snap = Snapshot.from_run(run=run, name="checkpoint")
    run.status, run.waiting, run.vars = RunStatus.FAILED, None, {"step": 9}
    runs.save(run)
    restored = restore_snapshot(snap, runs)
    assert restored.status is RunStatus.WAITING and restored.vars == {"step": 1}
    loaded = runs.load(run.run_id)
    assert loaded is not None and loaded.to_dict() == snap.run_state
    assert loaded.waiting is not None and loaded.waiting.reason is WaitReason.USER
    restored.vars["step"] = 2
    assert snap.run_state["vars"] == {"step": 1}  # restoring copies


def test_restore_snapshot_refuses_bad_state() -> None:
    runs = InMemoryRunStore()
    with pytest.raises(CorruptRunError):
        restore_snapshot(Snapshot(snapshot_id="s", run_id="r"), runs)
    snap = Snapshot.from_run(run=make_run(), name="n")
    del snap.run_state["status"]
    with pytest.raises(CorruptRunError):
        restore_snapshot(snap, runs)
    other = Snapshot.from_run(run=make_run(), name="n")
    other.run_id = "someone-else"
    with pytest.raises(CorruptRunError):
        restore_snapshot(other, runs)
    waiting = Snapshot.from_run(
        run=make_run(status=RunStatus.WAITING, waiting=WaitState(reason=WaitReason.USER)), name="w"
    )
    del waiting.run_state["waiting"]["reason"]
    with pytest.raises(ValueError):
        restore_snapshot(waiting, runs)
    assert runs.list_runs() == []
