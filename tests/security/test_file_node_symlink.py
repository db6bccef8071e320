"""A symlink swapped in between the workspace policy check and the open never leads a file node outside.

The deterministic tests swap the symlink right after ``WorkspacePolicy.resolve`` returns (the check), so
the open sees the attack every time; the threaded test flips a directory and a symlink for ~2 s while
reads and writes run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from abstractruntime import InMemoryLedgerStore, InMemoryRunStore, Runtime
from abstractruntime.core.models import RunStatus
from abstractruntime.scheduler.registry import WorkflowRegistry
from abstractruntime.visualflow_compiler import compile_visualflow_tree
from abstractruntime.visualflow_compiler.nodes import workspace
from abstractruntime.visualflow_compiler.nodes.confined_fs import read_confined, write_confined
from abstractruntime.visualflow_compiler.nodes.workspace import WorkspaceError, policy_from_vars

pytestmark = pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="POSIX symlink semantics")

SECRET = "top secret"


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """``ws/sub/f.txt`` (inside) and ``outside/f.txt`` (the secret, same relative name)."""
    root, outside = tmp_path / "ws", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "sub" / "f.txt").write_text("inside")
    (root / "f.txt").write_text("inside")
    (outside / "f.txt").write_text(SECRET)
    return root, outside


def _swap_dir_for_link(directory: Path, target: Path) -> None:
    shutil.rmtree(directory)
    os.symlink(target, directory)


def _swap_file_for_link(file: Path, target: Path) -> None:
    file.unlink()
    os.symlink(target, file)


def _after_check(monkeypatch: pytest.MonkeyPatch, attack: Callable[[], None]) -> None:
    """Run ``attack`` right after the policy check returns (between check and open)."""
    original = workspace.WorkspacePolicy.resolve

    def resolve(self: workspace.WorkspacePolicy, raw_path: Any, *, write: bool) -> Path:
        resolved = original(self, raw_path, write=write)
        attack()
        return resolved

    monkeypatch.setattr(workspace.WorkspacePolicy, "resolve", resolve)


def _pin(pin_id: str) -> dict[str, Any]:
    return {"id": pin_id, "type": "any"}


def _edge(source: str, handle: str, target: str, target_handle: str = "exec-in") -> dict[str, Any]:
    return {"source": source, "sourceHandle": handle, "target": target, "targetHandle": target_handle}


def _node_flow(kind: str) -> dict[str, Any]:
    """start(path, content) -> <kind> -> end(content)."""
    exec_in, exec_out = {"id": "exec-in", "type": "execution"}, {"id": "exec-out", "type": "execution"}
    ins = [exec_in, _pin("file_path")] + ([_pin("content")] if kind == "write_file" else [])
    nodes = [
        {
            "id": "s",
            "type": "on_flow_start",
            "data": {"inputs": [], "outputs": [exec_out, _pin("path"), _pin("content")]},
        },
        {"id": "n", "type": kind, "data": {"inputs": ins, "outputs": [exec_out, _pin("content")]}},
        {"id": "e", "type": "on_flow_end", "data": {"inputs": [exec_in, _pin("content")], "outputs": []}},
    ]
    edges = [
        _edge("s", "exec-out", "n"),
        _edge("s", "path", "n", "file_path"),
        _edge("n", "exec-out", "e"),
        _edge("n", "content", "e", "content"),
    ]
    if kind == "write_file":
        edges.append(_edge("s", "content", "n", "content"))
    return {"id": "f", "name": "f", "nodes": nodes, "edges": edges}


def _run(kind: str, vars: dict[str, Any]) -> Any:
    doc = _node_flow(kind)
    specs = compile_visualflow_tree(root_id=doc["id"], flows_by_id={doc["id"]: doc})
    registry = WorkflowRegistry()
    for spec in specs.values():
        registry.register(spec)
    runtime = Runtime(
        run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore(), workflow_registry=registry
    )
    run_id = runtime.start(workflow=specs[doc["id"]], vars=vars)
    return runtime.tick(workflow=specs[doc["id"]], run_id=run_id, max_steps=20)


def _refused(state: Any) -> str:
    assert state.status == RunStatus.COMPLETED and state.output["success"] is False
    return str(state.vars["_flow_error"])


# -- deterministic: the swap happens between the check and the open -------------------------------
def test_write_through_directory_swapped_for_symlink_is_refused(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = layout
    _after_check(monkeypatch, lambda: _swap_dir_for_link(root / "sub", outside))
    state = _run("write_file", {"workspace_root": str(root), "path": "sub/f.txt", "content": "pwned"})
    assert "symlink" in _refused(state)
    assert (outside / "f.txt").read_text() == SECRET and sorted(os.listdir(outside)) == ["f.txt"]


def test_read_through_directory_swapped_for_symlink_is_refused(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = layout
    _after_check(monkeypatch, lambda: _swap_dir_for_link(root / "sub", outside))
    state = _run("read_file", {"workspace_root": str(root), "path": "sub/f.txt"})
    assert "symlink" in _refused(state)
    assert SECRET not in repr(state.vars)


def test_read_of_file_swapped_for_symlink_is_refused(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = layout
    _after_check(monkeypatch, lambda: _swap_file_for_link(root / "f.txt", outside / "f.txt"))
    state = _run("read_file", {"workspace_root": str(root), "path": "f.txt"})
    assert "symlink" in _refused(state)
    assert SECRET not in repr(state.vars)


def test_write_over_file_swapped_for_symlink_replaces_the_link_not_the_target(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = layout
    _after_check(monkeypatch, lambda: _swap_file_for_link(root / "f.txt", outside / "f.txt"))
    state = _run("write_file", {"workspace_root": str(root), "path": "f.txt", "content": "new"})
    assert state.output["success"] is True
    assert (outside / "f.txt").read_text() == SECRET  # the rename replaced the symlink itself
    assert not (root / "f.txt").is_symlink() and (root / "f.txt").read_text() == "new"
    assert sorted(os.listdir(root)) == ["f.txt", "sub"]  # no temp file left


def test_fifo_swapped_in_is_not_opened_blocking(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _outside = layout

    def swap() -> None:
        (root / "f.txt").unlink()
        os.mkfifo(root / "f.txt")

    _after_check(monkeypatch, swap)
    state = _run("read_file", {"workspace_root": str(root), "path": "f.txt"})
    assert "not a file" in _refused(state)


def test_write_creates_missing_directories_inside(layout: tuple[Path, Path]) -> None:
    root, _outside = layout
    state = _run("write_file", {"workspace_root": str(root), "path": "a/b/c.txt", "content": "x"})
    assert state.output["success"] is True and (root / "a" / "b" / "c.txt").read_text() == "x"


def test_allowed_path_anchor_refuses_swaps_too(tmp_path: Path) -> None:
    root, shared, outside = tmp_path / "ws", tmp_path / "shared", tmp_path / "outside"
    for d in (root, shared / "d", outside):
        d.mkdir(parents=True)
    policy = policy_from_vars(
        {
            "workspace_root": str(root),
            "workspace_access_mode": "workspace_or_allowed",
            "workspace_allowed_paths": [str(shared)],
        }
    )
    path = policy.resolve(str(shared / "d" / "x.txt"), write=True)
    _swap_dir_for_link(shared / "d", outside)
    with pytest.raises(WorkspaceError, match="symlink"):
        write_confined(policy, path, b"x")
    assert not list(outside.iterdir())


# -- threaded: a racer flips ws/sub between a directory and a symlink for ~2 s ----------------------
def test_racing_symlink_flips_never_escape(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    sub, parked = root / "sub", root / "parked"
    stop = threading.Event()
    flips = 0
    racer_errors: list[BaseException] = []

    def restore() -> None:
        """Put the real directory back (a write may have created a fresh ``sub`` meanwhile)."""
        while True:
            if sub.is_symlink():
                sub.unlink()
            elif sub.is_dir():
                shutil.rmtree(sub, ignore_errors=True)
            try:
                os.rename(parked, sub)
                return
            except OSError:
                continue

    def racer() -> None:
        nonlocal flips
        try:
            while not stop.is_set():
                os.rename(sub, parked)
                with contextlib.suppress(FileExistsError):  # a write re-created ``sub`` first
                    os.symlink(outside, sub)
                time.sleep(0)
                restore()
                flips += 1
        except BaseException as exc:
            racer_errors.append(exc)

    policy = policy_from_vars({"workspace_root": str(root)})
    thread = threading.Thread(target=racer, daemon=True)
    thread.start()
    outcomes = {"ok": 0, "refused": 0}
    deadline = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            for attempt in (
                lambda: write_confined(policy, policy.resolve("sub/f.txt", write=True), b"written"),
                lambda: read_confined(policy, policy.resolve("sub/f.txt", write=False), limit=1 << 20),
            ):
                try:
                    result = attempt()
                except (WorkspaceError, FileNotFoundError, NotADirectoryError):
                    outcomes["refused"] += 1
                    continue
                assert result is None or result in (b"inside", b"written")  # never the secret
                outcomes["ok"] += 1
    finally:
        stop.set()
        thread.join(5)
    assert (outside / "f.txt").read_text() == SECRET
    assert sorted(os.listdir(outside)) == ["f.txt"]  # no file written, no temp file left outside
    assert not racer_errors and flips > 0
    assert outcomes["ok"] > 0 and outcomes["refused"] > 0  # both sides of the race were exercised
