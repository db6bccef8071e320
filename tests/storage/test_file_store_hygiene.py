"""File store details: stale temp files, misnamed run files, malformed vars."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from abstractruntime.core.models import RunState
from abstractruntime.errors import CorruptRunError
from abstractruntime.storage.json_files import JsonFileRunStore


def test_stale_temp_files_from_killed_writers_are_removed_on_open(tmp_path: Path) -> None:
    stale = tmp_path / "run_abc.json.0123456789ab.tmp"
    fresh = tmp_path / "run_def.json.ba9876543210.tmp"
    unrelated = tmp_path / "notes.tmp"
    for path in (stale, fresh, unrelated):
        path.write_text("{")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(unrelated, (old, old))
    JsonFileRunStore(tmp_path)
    assert not stale.exists()
    assert fresh.exists(), "a temp file a live writer may still rename must stay"
    assert unrelated.exists()


def test_a_run_file_holding_another_run_is_corrupt_not_an_alias(tmp_path: Path) -> None:
    store = JsonFileRunStore(tmp_path)
    run = RunState.new(workflow_id="w", entry_node="a")
    store.save(run)
    (tmp_path / "run_copy.json").write_bytes((tmp_path / f"run_{run.run_id}.json").read_bytes())
    with pytest.raises(CorruptRunError) as info:
        store.load("copy")
    assert info.value.run_id == "copy"
    assert [r.run_id for r in store.list_runs()] == [run.run_id]


def test_non_object_vars_are_corrupt(tmp_path: Path) -> None:
    store = JsonFileRunStore(tmp_path)
    run = RunState.new(workflow_id="w", entry_node="a")
    store.save(run)
    path = tmp_path / f"run_{run.run_id}.json"
    data = json.loads(path.read_text())
    data["vars"] = [1, 2]
    path.write_text(json.dumps(data))
    with pytest.raises(CorruptRunError):
        JsonFileRunStore(tmp_path).load(run.run_id)
