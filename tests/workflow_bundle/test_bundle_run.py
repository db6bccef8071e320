"""Pack example flows into a ``.flow``, open it, compile its flows and run the entrypoint on SQLite.

The LLM/tools/agents are the test doubles (see ``tests/visualflow/vf_llm_support.py``); the bundle is
run both as the zip and after ``unpack_workflow_bundle``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.core.models import RunStatus
from abstractruntime.visualflow_compiler import compile_visualflow_tree
from abstractruntime.workflow_bundle import (
    WorkflowBundle,
    open_workflow_bundle,
    pack_workflow_bundle,
    unpack_workflow_bundle,
)
from abstractruntime.workflow_bundle.packer import reachable_subflow_ids

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "visualflow"))
from vf_llm_support import FlowHarness

# root flow -> every flow id the bundle must hold (root included)
ROOTS: dict[str, set[str]] = {
    # advanced-agent: agent + ask_user, subflows 15f19f7f, 1cd9eec9 and 72b51d91 (which call 15f19f7f)
    "4189916b": {"4189916b", "15f19f7f", "1cd9eec9", "72b51d91"},
    # ac-advanced-agent: 4ed3b340, the self-recursive 60a97e4d, 15f19f7f
    "8dfdea6b": {"8dfdea6b", "4ed3b340", "60a97e4d", "15f19f7f"},
}


def _copy_tree(examples_dir: Path, root: str, dest: Path) -> Path:
    """Copy the root flow and its subflows (only those) into ``dest``: a self-contained flow directory."""
    dest.mkdir()
    for flow_id in ROOTS[root]:
        shutil.copy(examples_dir / f"{flow_id}.json", dest / f"{flow_id}.json")
    return dest


def _run_bundle(bundle: WorkflowBundle, db: Path, workspace: Path) -> Any:
    flows = bundle.read_flows()
    entry = bundle.manifest.entrypoints[0].flow_id
    specs = compile_visualflow_tree(root_id=entry, flows_by_id=flows)
    assert set(specs) >= set(flows)
    harness = FlowHarness(flows, specs, db)
    try:
        workspace.mkdir(exist_ok=True)
        state = harness.run(entry, {"prompt": "hello", "request": "r", "workspace_root": str(workspace)})
    finally:
        harness.close()
    return state, harness


@pytest.mark.parametrize("root", sorted(ROOTS))
def test_packed_bundle_runs_to_completion(examples_dir: Path, tmp_path: Path, root: str) -> None:
    src = _copy_tree(examples_dir, root, tmp_path / "src")
    packed = pack_workflow_bundle(
        root_flow_json=src / f"{root}.json", out_path=tmp_path / f"{root}.flow", flows_dir=src
    )
    bundle = open_workflow_bundle(packed.path)
    assert bundle.is_zip
    assert set(bundle.flow_ids()) == ROOTS[root]
    assert set(reachable_subflow_ids(bundle.read_flow(root))) <= ROOTS[root]

    state, harness = _run_bundle(bundle, tmp_path / "zip.db", tmp_path / "ws1")
    assert state.status == RunStatus.COMPLETED, (state.status, state.waiting, state.error)
    assert isinstance(state.output, dict) and state.output.get("success") is True
    assert harness.llm.calls, "the flow made no LLM call"

    out_dir = unpack_workflow_bundle(bundle_path=packed.path, out_dir=tmp_path / "unpacked")
    unpacked = open_workflow_bundle(out_dir)
    assert not unpacked.is_zip
    assert unpacked.read_flows() == bundle.read_flows()
    again, _ = _run_bundle(unpacked, tmp_path / "dir.db", tmp_path / "ws2")
    assert again.status == RunStatus.COMPLETED
    assert again.output == state.output
