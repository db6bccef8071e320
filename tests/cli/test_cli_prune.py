"""``runs prune`` and ``runs delete`` in subprocesses on SQLite and files stores."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.core.models import RunState, RunStatus
from abstractruntime.storage import open_stores
from abstractruntime.storage.deletion import delete_runs
from abstractruntime.testing.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "examples" / "flows"
KINDS = ["sqlite", "files"]


def _store(kind: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}" if kind == "sqlite" else (tmp_path / "store").as_uri()


def _cli(store: str, tmp_path: Path, *args: str) -> Any:
    return run_cli("--store", store, *args, cwd=tmp_path)


def _ids(store: str, tmp_path: Path) -> set[str]:
    return {r["run_id"] for r in json.loads(_cli(store, tmp_path, "runs", "list", "--json").stdout)}


def _seed_old(url: str) -> None:
    when = (datetime.now(timezone.utc) - timedelta(days=40)).isoformat()
    stores = open_stores(url)
    try:
        stores.run_store.save(
            RunState(
                run_id="old-1",
                workflow_id="wf",
                status=RunStatus.COMPLETED,
                current_node="n",
                created_at=when,
                updated_at=when,
            )
        )
    finally:
        stores.close()


@pytest.mark.parametrize("kind", KINDS)
def test_prune_deletes_old_ended_runs_with_children_and_ledgers(kind: str, tmp_path: Path) -> None:
    store = _store(kind, tmp_path)
    parent = json.loads(_cli(store, tmp_path, "run", str(FLOWS / "subflow_parent.json"), "--json").stdout)[
        "run_id"
    ]
    waiting = _cli(
        store, tmp_path, "run", str(FLOWS / "ask_and_answer.json"), "-i", "request=x", "--detach", "--json"
    )
    waiting_id = json.loads(waiting.stdout)["run_id"]
    _seed_old(store)
    assert len(_ids(store, tmp_path)) == 4  # parent, child, waiting, old-1

    month = _cli(store, tmp_path, "runs", "prune", "--older-than", "30d", "--json")
    assert json.loads(month.stdout)["deleted"] == [["old-1"]]
    assert "old-1" not in _ids(store, tmp_path) and parent in _ids(store, tmp_path)

    dry = _cli(
        store, tmp_path, "runs", "prune", "--older-than", "0s", "--status", "completed", "--dry-run", "--json"
    )
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] is True and [t[0] for t in planned["deleted"]] == [parent]
    assert len(planned["deleted"][0]) == 2 and len(_ids(store, tmp_path)) == 3

    done = _cli(store, tmp_path, "runs", "prune", "--older-than", "0s", "--status", "completed,cancelled")
    assert done.returncode == 0 and "Deleted 2 run(s)." in done.stdout
    assert _ids(store, tmp_path) == {waiting_id}
    gone = _cli(store, tmp_path, "ledger", "show", parent)
    assert gone.returncode == 3
    bad = _cli(store, tmp_path, "runs", "prune", "--older-than", "1d", "--status", "waiting")
    assert bad.returncode == 2


@pytest.mark.parametrize("kind", KINDS)
def test_delete_refuses_a_live_run_unless_forced(kind: str, tmp_path: Path) -> None:
    store = _store(kind, tmp_path)
    waiting = _cli(
        store, tmp_path, "run", str(FLOWS / "ask_and_answer.json"), "-i", "request=x", "--detach", "--json"
    )
    run_id = json.loads(waiting.stdout)["run_id"]
    refused = _cli(store, tmp_path, "runs", "delete", run_id[:8])
    assert refused.returncode == 2 and "not ended" in refused.stderr
    forced = _cli(store, tmp_path, "runs", "delete", run_id[:8], "--force")
    assert forced.returncode == 0, forced.stderr
    assert _ids(store, tmp_path) == set()
    assert _cli(store, tmp_path, "runs", "show", run_id).returncode == 3


def test_delete_runs_in_memory_stores() -> None:
    stores = open_stores("memory://")
    state = RunState(run_id="m-1", workflow_id="wf", status=RunStatus.COMPLETED, current_node="n")
    stores.run_store.save(state)
    assert delete_runs(stores, ["m-1", "m-2"]) == 1
    assert stores.run_store.load("m-1") is None and stores.ledger_store.list("m-1") == []


def test_prune_deletes_the_artifacts_a_run_owns(tmp_path: Path) -> None:
    from abstractruntime.storage.artifacts_files import FileArtifactStore

    store = _store("sqlite", tmp_path)
    run_id = json.loads(_cli(store, tmp_path, "run", str(FLOWS / "loop_strings.json"), "--json").stdout)[
        "run_id"
    ]
    artifacts = FileArtifactStore(f"{tmp_path / 'runs.db'}.artifacts")
    owned = artifacts.store(b"owned by the run", run_id=run_id).artifact_id
    shared = artifacts.store(b"no owner").artifact_id
    done = _cli(store, tmp_path, "runs", "prune", "--older-than", "0s")
    assert done.returncode == 0 and "Deleted 1 run(s)." in done.stdout
    assert not artifacts.exists(owned) and artifacts.exists(shared)
