"""read_file / write_file (workspace-confined), memact_compose and the unsupported media/catalog nodes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from vf_builders import EXEC, OUT, edge, end, flow, node, pin, start
from vf_support import make_runtime

from abstractruntime.core.models import RunStatus
from abstractruntime.visualflow_compiler import compile_visualflow_tree
from abstractruntime.visualflow_compiler.nodes import known_node_types, runner_for
from abstractruntime.visualflow_compiler.nodes.files import atomic_write


def _run(doc: dict[str, Any], vars: dict[str, Any]) -> Any:
    specs = compile_visualflow_tree(root_id=doc["id"], flows_by_id={doc["id"]: doc})
    runtime = make_runtime(specs)
    run_id = runtime.start(workflow=specs[doc["id"]], vars=vars)
    return runtime.tick(workflow=specs[doc["id"]], run_id=run_id, max_steps=100)


def _write_flow(**defaults: Any) -> dict[str, Any]:
    write = node(
        "w", "write_file", [EXEC, pin("file_path"), pin("content"), pin("format")],
        [OUT, pin("bytes"), pin("file_path")], pinDefaults=defaults,
    )  # fmt: skip
    return flow(
        "wf",
        [start("s", "path", "content"), write, end("e", "bytes", "file_path")],
        [
            edge("s", "exec-out", "w"), edge("s", "path", "w", "file_path"), edge("s", "content", "w", "content"),
            edge("w", "exec-out", "e"), edge("w", "bytes", "e", "bytes"), edge("w", "file_path", "e", "file_path"),
        ],
    )  # fmt: skip


def _read_flow(**defaults: Any) -> dict[str, Any]:
    read = node(
        "r", "read_file", [EXEC, pin("file_path"), pin("format")],
        [OUT, pin("content"), pin("data"), pin("bytes")], pinDefaults=defaults,
    )  # fmt: skip
    return flow(
        "rf",
        [start("s", "path"), read, end("e", "content", "data")],
        [
            edge("s", "exec-out", "r"), edge("s", "path", "r", "file_path"), edge("r", "exec-out", "e"),
            edge("r", "content", "e", "content"), edge("r", "data", "e", "data"),
        ],
    )  # fmt: skip


def _failed(state: Any, fragment: str) -> None:
    assert state.status == RunStatus.COMPLETED and state.output is not None
    assert state.output["success"] is False
    assert fragment in state.vars["_flow_error"]


def test_write_text_then_read_back(tmp_path: Path) -> None:
    state = _run(_write_flow(), {"workspace_root": str(tmp_path), "path": "out/story.md", "content": "héllo"})
    assert state.output == {"bytes": 6, "file_path": "out/story.md", "success": True}
    assert (tmp_path / "out" / "story.md").read_text(encoding="utf-8") == "héllo"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
    back = _run(_read_flow(), {"workspace_root": str(tmp_path), "path": "out/story.md"})
    assert back.output == {"content": "héllo", "data": None, "success": True}


def test_write_json_value_and_read_parsed(tmp_path: Path) -> None:
    state = _run(_write_flow(), {"workspace_root": str(tmp_path), "path": "d.json", "content": {"a": [1, 2]}})
    assert state.output is not None and state.output["success"] is True
    assert json.loads((tmp_path / "d.json").read_text()) == {"a": [1, 2]}
    back = _run(_read_flow(), {"workspace_root": str(tmp_path), "path": "d.json"})
    assert back.output is not None and back.output["data"] == {"a": [1, 2]}
    forced = _run(
        _write_flow(format="json"), {"workspace_root": str(tmp_path), "path": "s.txt", "content": "x"}
    )
    assert forced.output is not None and (tmp_path / "s.txt").read_text() == '"x"\n'


def test_write_overwrites_atomically(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_refused_without_workspace_root() -> None:
    _failed(_run(_write_flow(), {"path": "a.txt", "content": "x"}), "workspace_root is not set")
    _failed(_run(_read_flow(), {"path": "a.txt", "workspace_root": "  "}), "workspace_root is not set")


@pytest.mark.parametrize("path", ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "", "a/.."])
def test_escapes_refused(tmp_path: Path, path: str) -> None:
    root = tmp_path / "ws"
    state = _run(_write_flow(), {"workspace_root": str(root), "path": path, "content": "x"})
    assert state.output is not None and state.output["success"] is False
    assert state.vars["_flow_error_node"] == "w"
    assert not (tmp_path / "escape.txt").exists()
    _failed(_run(_read_flow(), {"workspace_root": str(root), "path": path}), "read_file")


def test_symlink_leaving_root_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "ws", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("s")
    os.symlink(outside, root / "link")
    os.symlink(outside / "secret.txt", root / "file_link")
    vars = {"workspace_root": str(root)}
    _failed(_run(_read_flow(), {**vars, "path": "link/secret.txt"}), "outside the workspace")
    _failed(_run(_read_flow(), {**vars, "path": "file_link"}), "outside the workspace")
    _failed(_run(_write_flow(), {**vars, "path": "link/new.txt", "content": "x"}), "outside the workspace")
    assert not (outside / "new.txt").exists() and (outside / "secret.txt").read_text() == "s"


def test_access_modes(tmp_path: Path) -> None:
    root, allowed = tmp_path / "ws", tmp_path / "shared"
    allowed.mkdir()
    base = {"workspace_root": str(root), "content": "x"}
    ro = _run(_write_flow(), {**base, "path": "a.txt", "workspace_access_mode": "read_only"})
    _failed(ro, "read-only")
    _failed(_run(_write_flow(), {**base, "path": "a.txt", "workspace_access_mode": "bogus"}), "invalid")
    target = str(allowed / "b.txt")
    _failed(
        _run(_write_flow(), {**base, "path": target, "workspace_access_mode": "workspace_or_allowed"}),
        "outside",
    )
    ok = _run(
        _write_flow(),
        {**base, "path": target, "workspace_access_mode": "workspace_or_allowed",
         "workspace_allowed_paths": [str(allowed)]},
    )  # fmt: skip
    assert ok.output is not None and ok.output["success"] is True and (allowed / "b.txt").read_text() == "x"
    ignored = {**base, "path": "secret/k.txt", "workspace_ignored_paths": ["secret"]}
    _failed(_run(_write_flow(), ignored), "workspace_ignored_paths")


def test_read_missing_file_is_node_error(tmp_path: Path) -> None:
    _failed(_run(_read_flow(), {"workspace_root": str(tmp_path), "path": "nope.txt"}), "does not exist")


def test_memact_compose_ranks_and_renders() -> None:
    compose = node(
        "m", "memact_compose", [EXEC, pin("kg_result"), pin("stimulus"), pin("marker"), pin("max_items")],
        [OUT, pin("ok"), pin("delta"), pin("trace"), pin("memact_system_prompt"), pin("memact_blocks")],
        pinDefaults={"marker": "KG:", "max_items": 2},
    )  # fmt: skip
    doc = flow(
        "mf",
        [start("s", "kg", "q"), compose, end("e", "ok", "delta", "trace", "memact_system_prompt")],
        [
            edge("s", "exec-out", "m"), edge("s", "kg", "m", "kg_result"), edge("s", "q", "m", "stimulus"),
            edge("m", "exec-out", "e"), edge("m", "ok", "e", "ok"), edge("m", "delta", "e", "delta"),
            edge("m", "trace", "e", "trace"), edge("m", "memact_system_prompt", "e", "memact_system_prompt"),
        ],
    )  # fmt: skip
    items = [
        {"subject": "ex:a", "predicate": "p", "object": "cats", "observed_at": "2026-01-01T00:00:01Z"},
        {"subject": "ex:b", "predicate": "p", "object": "dogs", "observed_at": "2026-01-01T00:00:09Z"},
        {"subject": "ex:c", "predicate": "p", "object": "birds", "observed_at": "2026-01-01T00:00:05Z"},
        {"subject": "ex:a", "predicate": "p", "object": "cats"},
    ]
    state = _run(doc, {"kg": {"items": items}, "q": "tell me about cats"})
    out = state.output
    assert out is not None and out["ok"] is True and out["success"] is True
    assert out["memact_system_prompt"] == (
        "## CURRENT CONTEXT\nStimulus: tell me about cats\n- KG: ex:a p cats\n- KG: ex:b p dogs"
    )
    assert out["delta"]["added"] == ["KG: ex:a p cats", "KG: ex:b p dogs"] and out["delta"]["removed"] == []
    assert out["trace"]["source_count"] == 4 and out["trace"]["dropped"] == 1
    empty = _run(doc, {"kg": None, "q": "x"})
    assert empty.output is not None and empty.output["memact_system_prompt"] == ""


@pytest.mark.parametrize(
    "node_type",
    ["model_catalog", "provider_catalog"],
)
def test_catalog_nodes_fail_the_run(node_type: str) -> None:
    """Catalog nodes have no capability here (the media nodes run: tests/visualflow/test_vf_media_nodes.py)."""
    doc = flow(
        "u",
        [start("s"), node("x", node_type, [EXEC, pin("prompt")], [OUT, pin("result")]), end("e", "result")],
        [edge("s", "exec-out", "x"), edge("x", "exec-out", "e"), edge("x", "result", "e", "result")],
    )
    state = _run(doc, {})
    _failed(state, f"'{node_type}' is not supported")
    assert state.vars["_flow_error_node"] == "x"
    assert state.vars["_temp"]["node_outputs"]["x"]["ok"] is False


def test_io_node_types_have_runners() -> None:
    for node_type in ("read_file", "write_file", "memact_compose", "generate_image", "model_catalog"):
        assert node_type in known_node_types()
        assert runner_for(node_type).__name__ != "_identity"
