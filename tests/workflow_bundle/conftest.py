"""Shared fixtures for the WorkflowBundle tests."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path("/work/shared/flows/abstractflow-examples")


def manifest_dict(**overrides: Any) -> dict[str, Any]:
    """A minimal valid manifest dict (one flow ``main``)."""
    base: dict[str, Any] = {
        "bundle_format_version": "1",
        "bundle_id": "demo",
        "bundle_version": "1.0.0",
        "created_at": "2026-01-01T00:00:00+00:00",
        "entrypoints": [{"flow_id": "main", "name": "Main", "description": "", "interfaces": []}],
        "flows": {"main": "flows/main.json"},
        "artifacts": {},
        "assets": {},
        "metadata": {},
    }
    base.update(overrides)
    return base


@pytest.fixture
def examples_dir() -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip("example flows not available")
    return EXAMPLES


@pytest.fixture
def make_flow_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write small synthetic VisualFlow files; returns the directory."""

    def make(flows: dict[str, dict[str, Any]]) -> Path:
        d = tmp_path / "flows_src"
        d.mkdir(exist_ok=True)
        for fid, data in flows.items():
            (d / f"{fid}.json").write_text(json.dumps({"id": fid, **data}), encoding="utf-8")
        return d

    return make


def simple_flow(
    name: str, *, calls: list[str] | None = None, interfaces: list[str] | None = None
) -> dict[str, Any]:
    """A flow: start -> subflow nodes (one per callee, chained) -> end."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "on_flow_start", "data": {}}]
    edges: list[dict[str, Any]] = []
    prev = "start"
    for i, callee in enumerate(calls or []):
        nid = f"sub{i}"
        nodes.append({"id": nid, "type": "subflow", "data": {"subflowId": callee}})
        edges.append({"source": prev, "target": nid, "sourceHandle": "exec-out", "targetHandle": "exec-in"})
        prev = nid
    nodes.append({"id": "end", "type": "on_flow_end", "data": {}})
    edges.append({"source": prev, "target": "end", "sourceHandle": "exec-out", "targetHandle": "exec-in"})
    return {
        "name": name,
        "description": f"{name} flow",
        "interfaces": interfaces or [],
        "nodes": nodes,
        "edges": edges,
    }


def write_zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    """Write a zip with exactly the given members (no validation: used to build malicious bundles)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return path


def manifest_bytes(**overrides: Any) -> bytes:
    return json.dumps(manifest_dict(**overrides)).encode()


@pytest.fixture
def manifest_factory() -> Callable[..., dict[str, Any]]:
    return manifest_dict


@pytest.fixture
def flow_factory() -> Callable[..., dict[str, Any]]:
    return simple_flow


@pytest.fixture
def zip_writer() -> Callable[[Path, list[tuple[zipfile.ZipInfo | str, bytes]]], Path]:
    return write_zip
