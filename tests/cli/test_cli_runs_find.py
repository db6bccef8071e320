"""Finding runs: unique run id prefixes everywhere, and the ``runs list`` filters, tree and paging
(subprocesses over SQLite and files stores)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from abstractruntime.core.models import RunState, RunStatus, WaitReason, WaitState
from abstractruntime.storage import open_stores
from abstractruntime.testing.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "examples" / "flows"
KINDS = ["sqlite", "files"]


def _store(kind: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}" if kind == "sqlite" else (tmp_path / "store").as_uri()


def _seed(url: str, *states: RunState) -> None:
    stores = open_stores(url)
    try:
        for state in states:
            stores.run_store.save(state)
    finally:
        stores.close()


def _state(run_id: str, *, created: datetime, **kw: object) -> RunState:
    iso = created.isoformat()
    return RunState(
        run_id=run_id,
        workflow_id="wf",
        status=kw.pop("status", RunStatus.COMPLETED),  # type: ignore[arg-type]
        current_node="n",
        created_at=iso,
        updated_at=iso,
        **kw,  # type: ignore[arg-type]
    )


def _listed(store: str, tmp_path: Path, *args: str) -> list[str]:
    done = run_cli("--store", store, "runs", "list", "--json", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return [row["run_id"] for row in json.loads(done.stdout)]


@pytest.mark.parametrize("kind", KINDS)
def test_a_unique_prefix_names_a_run_everywhere(kind: str, tmp_path: Path) -> None:
    store = _store(kind, tmp_path)
    started = run_cli(
        "--store",
        store,
        "run",
        str(FLOWS / "ask_and_answer.json"),
        "-i",
        "request=x",
        "--detach",
        "--json",
        cwd=tmp_path,
    )
    run_id = json.loads(started.stdout)["run_id"]
    prefix = run_id[:8]
    shown = run_cli("--store", store, "runs", "show", prefix, "--json", cwd=tmp_path)
    assert shown.returncode == 0 and json.loads(shown.stdout)["run_id"] == run_id
    assert run_cli("--store", store, "ledger", "verify", prefix, cwd=tmp_path).returncode == 0
    resumed = run_cli("--store", store, "resume", prefix, "--answer", "Ada", cwd=tmp_path)
    assert resumed.returncode == 0 and "You answered: Ada" in resumed.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_an_ambiguous_prefix_lists_the_candidates(kind: str, tmp_path: Path) -> None:
    store = _store(kind, tmp_path)
    run_cli("--store", store, "run", str(FLOWS / "loop_strings.json"), cwd=tmp_path)  # creates the store
    now = datetime.now(timezone.utc)
    _seed(store, _state("abc-1", created=now), _state("abc-2", created=now), _state("abd-3", created=now))
    ambiguous = run_cli("--store", store, "runs", "show", "ab", cwd=tmp_path)
    assert ambiguous.returncode == 2
    assert "ambiguous" in ambiguous.stderr and "abc-1, abc-2, abd-3" in ambiguous.stderr
    assert run_cli("--store", store, "runs", "show", "abd", cwd=tmp_path).returncode == 0
    missing = run_cli("--store", store, "cancel", "zzz", cwd=tmp_path)
    assert missing.returncode == 3 and "run not found: zzz" in missing.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_runs_list_filters_pages_and_trees(kind: str, tmp_path: Path) -> None:
    store = _store(kind, tmp_path)
    run_cli("--store", store, "run", str(FLOWS / "loop_strings.json"), cwd=tmp_path)
    now = datetime.now(timezone.utc)
    old = now - timedelta(days=3)
    wait = WaitState(reason=WaitReason.USER, wait_key="k", prompt="Which COLOUR do you like?")
    _seed(
        store,
        _state("p-root", created=now - timedelta(minutes=5), session_id="s1"),
        _state("p-kid", created=now - timedelta(minutes=4), parent_run_id="p-root", session_id="s1"),
        _state("w-ask", created=now - timedelta(minutes=3), status=RunStatus.WAITING, waiting=wait),
        _state("x-old", created=old),
    )
    assert _listed(store, tmp_path, "--session", "s1") == ["p-kid", "p-root"]
    assert _listed(store, tmp_path, "--parent", "p-r") == ["p-kid"]
    assert _listed(store, tmp_path, "--waiting-text", "colour") == ["w-ask"]
    assert "x-old" not in _listed(store, tmp_path, "--since", "2d")
    assert "x-old" in _listed(store, tmp_path, "--since", "4d")
    everything = _listed(store, tmp_path)
    assert len(everything) == 5 and everything[-1] == "x-old"
    pages = _listed(store, tmp_path, "--limit", "2") + _listed(
        store, tmp_path, "--limit", "2", "--offset", "2"
    )
    assert pages + _listed(store, tmp_path, "--limit", "2", "--offset", "4") == everything
    tree = run_cli("--store", store, "runs", "list", "--tree", "--session", "s1", "--json", cwd=tmp_path)
    rows = [(r["run_id"], r["depth"]) for r in json.loads(tree.stdout)]
    assert rows == [("p-root", 0), ("p-kid", 1)]
    text = run_cli("--store", store, "runs", "list", "--limit", "1", cwd=tmp_path)
    assert "loop_strings" in text.stdout or "wf" in text.stdout
    assert "next page: --offset 1" in text.stdout


def test_runs_list_shows_the_flow_name_of_cli_runs(tmp_path: Path) -> None:
    store = _store("sqlite", tmp_path)
    run_cli("--store", store, "run", str(FLOWS / "subflow_parent.json"), cwd=tmp_path)
    rows = json.loads(run_cli("--store", store, "runs", "list", "--tree", "--json", cwd=tmp_path).stdout)
    assert [(r["workflow_name"], r["depth"]) for r in rows] == [("subflow_parent", 0), ("greet_child", 1)]
    assert rows[0]["age"].endswith("s")
