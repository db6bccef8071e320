"""Packing real example flows, opening zips and directories, unpacking, inspecting."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.workflow_bundle import (
    PackedWorkflowBundle,
    WorkflowBundle,
    WorkflowBundleEntrypoint,
    WorkflowBundleError,
    inspect_workflow_bundle,
    open_workflow_bundle,
    pack_workflow_bundle,
    unpack_workflow_bundle,
    workflow_bundle_manifest_to_dict,
)


def _pack_advanced_agent(examples_dir: Path, out: Path) -> PackedWorkflowBundle:
    # advanced-agent (4189916b) calls 15f19f7f, 1cd9eec9 and 72b51d91; 1cd9eec9 and 72b51d91 call 15f19f7f again.
    return pack_workflow_bundle(
        root_flow_json=examples_dir / "4189916b.json", out_path=out, bundle_version="1.2.3"
    )


def test_pack_real_flow_lists_subflows(examples_dir: Path, tmp_path: Path) -> None:
    packed = _pack_advanced_agent(examples_dir, tmp_path / "out" / "agent.flow")
    assert packed.path.is_file()
    manifest = packed.manifest
    assert manifest.bundle_id == "4189916b"
    assert manifest.bundle_version == "1.2.3"
    assert manifest.flows == {
        fid: f"flows/{fid}.json" for fid in ("15f19f7f", "1cd9eec9", "4189916b", "72b51d91")
    }
    assert manifest.entrypoints == [
        WorkflowBundleEntrypoint(
            flow_id="4189916b", name="advanced-agent", description="", interfaces=["abstractcode.agent.v1"]
        )
    ]
    assert manifest.default_entrypoint is None
    with zipfile.ZipFile(packed.path) as zf:
        names = zf.namelist()
        assert names[0] == "manifest.json"
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in zf.infolist())
        written = json.loads(zf.read("manifest.json"))
        assert written == workflow_bundle_manifest_to_dict(manifest)
        # raw flow bytes are stored unchanged
        assert zf.read("flows/72b51d91.json") == (examples_dir / "72b51d91.json").read_bytes()
    assert not list(packed.path.parent.glob("*.tmp"))


def test_pack_transitive_and_recursive(examples_dir: Path, tmp_path: Path) -> None:
    # ac-advanced-agent (8dfdea6b) -> 4ed3b340, 60a97e4d (self-recursive) -> 15f19f7f
    packed = pack_workflow_bundle(root_flow_json=examples_dir / "8dfdea6b.json", out_path=tmp_path / "a.flow")
    assert sorted(packed.manifest.flows) == ["15f19f7f", "4ed3b340", "60a97e4d", "8dfdea6b"]


def test_pack_root_file_named_differently_from_id(examples_dir: Path, tmp_path: Path) -> None:
    packed = pack_workflow_bundle(
        root_flow_json=examples_dir / "ac-advanced-agent-v2.json", out_path=tmp_path / "v2.flow"
    )
    assert packed.manifest.bundle_id == "33853f39"
    assert "33853f39" in packed.manifest.flows


def test_pack_missing_subflow_raises(examples_dir: Path, tmp_path: Path) -> None:
    # benchmark-agentic references be0a6c02, which exists only under another file name.
    with pytest.raises(WorkflowBundleError, match="be0a6c02"):
        pack_workflow_bundle(
            root_flow_json=examples_dir / "benchmark-agentic.json", out_path=tmp_path / "b.flow"
        )
    assert not (tmp_path / "b.flow").exists()


@pytest.mark.parametrize("as_dir", [False, True])
def test_open_zip_and_directory_and_read_every_flow(examples_dir: Path, tmp_path: Path, as_dir: bool) -> None:
    packed = _pack_advanced_agent(examples_dir, tmp_path / "agent.flow")
    source = (
        unpack_workflow_bundle(bundle_path=packed.path, out_dir=tmp_path / "unpacked")
        if as_dir
        else packed.path
    )
    bundle = open_workflow_bundle(source)
    assert isinstance(bundle, WorkflowBundle)
    assert bundle.is_zip is not as_dir
    assert bundle.manifest == packed.manifest
    flows = bundle.read_flows()
    assert sorted(flows) == sorted(packed.manifest.flows)
    for flow_id, data in flows.items():
        original = json.loads((examples_dir / f"{flow_id}.json").read_text(encoding="utf-8"))
        assert data == original
        relpath = packed.manifest.flows[flow_id]
        assert bundle.read_bytes(relpath) == (examples_dir / f"{flow_id}.json").read_bytes()
        assert json.loads(bundle.read_text(relpath)) == bundle.read_json(relpath)
    with pytest.raises(WorkflowBundleError):
        bundle.read_bytes("flows/missing.json")
    with pytest.raises(WorkflowBundleError):
        bundle.read_bytes("../agent.flow")
    with pytest.raises(WorkflowBundleError):
        bundle.read_flow("nope")


def test_round_trip_pack_unpack_repack(examples_dir: Path, tmp_path: Path) -> None:
    packed = _pack_advanced_agent(examples_dir, tmp_path / "one.flow")
    out = unpack_workflow_bundle(bundle_path=packed.path, out_dir=tmp_path / "dir")
    assert inspect_workflow_bundle(bundle_path=out) == packed.manifest
    assert inspect_workflow_bundle(bundle_path=packed.path) == packed.manifest
    repacked = pack_workflow_bundle(
        root_flow_json=out / "flows" / "4189916b.json", out_path=tmp_path / "two.flow", bundle_version="1.2.3"
    )
    assert repacked.manifest.flows == packed.manifest.flows
    one, two = open_workflow_bundle(packed.path), open_workflow_bundle(repacked.path)
    assert one.read_flows() == two.read_flows()


def test_entrypoints_defaults_and_metadata(
    make_flow_dir: Callable[..., Path], flow_factory: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    flows_dir = make_flow_dir(
        {
            "root": flow_factory("Root", calls=["child"], interfaces=["x.v1"]),
            "child": flow_factory("Child"),
            "extra": flow_factory("Extra", calls=["leaf"]),
            "leaf": flow_factory("Leaf"),
        }
    )
    packed = pack_workflow_bundle(
        root_flow_json=flows_dir / "root.json",
        out_path=tmp_path / "b.flow",
        bundle_id="my-bundle",
        entrypoints=["root", {"flow_id": "extra", "name": "Custom", "interfaces": ["y.v1"]}],
        default_entrypoint="extra",
        metadata={"author": "me"},
    )
    m = packed.manifest
    assert sorted(m.flows) == ["child", "extra", "leaf", "root"]
    assert [(e.flow_id, e.name, e.interfaces) for e in m.entrypoints] == [
        ("root", "Root", ["x.v1"]),
        ("extra", "Custom", ["y.v1"]),
    ]
    assert m.entrypoints[0].description == "Root flow"
    assert m.default_entrypoint == "extra"
    assert m.metadata == {"author": "me"}
    with pytest.raises(WorkflowBundleError, match="default_entrypoint"):
        pack_workflow_bundle(
            root_flow_json=flows_dir / "root.json", out_path=tmp_path / "c.flow", default_entrypoint="child"
        )


def test_only_exec_reachable_subflows_are_followed(
    make_flow_dir: Callable[..., Path], flow_factory: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    root = flow_factory("Root", calls=["child"])
    # an orphan subflow node (no exec edges) whose target file does not exist
    root["nodes"].append({"id": "orphan", "type": "subflow", "data": {"flowId": "ghost"}})
    flows_dir = make_flow_dir({"root": root, "child": flow_factory("Child")})
    packed = pack_workflow_bundle(root_flow_json=flows_dir / "root.json", out_path=tmp_path / "b.flow")
    assert sorted(packed.manifest.flows) == ["child", "root"]


def test_flows_dir_override_and_unsafe_subflow_id(
    make_flow_dir: Callable[..., Path], flow_factory: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    flows_dir = make_flow_dir({"child": flow_factory("Child")})
    root = tmp_path / "elsewhere" / "root.json"
    root.parent.mkdir()
    root.write_text(json.dumps({"id": "root", **flow_factory("Root", calls=["child"])}), encoding="utf-8")
    packed = pack_workflow_bundle(root_flow_json=root, out_path=tmp_path / "b.flow", flows_dir=flows_dir)
    assert sorted(packed.manifest.flows) == ["child", "root"]
    root.write_text(json.dumps({"id": "root", **flow_factory("Root", calls=["../child"])}), encoding="utf-8")
    with pytest.raises(WorkflowBundleError):
        pack_workflow_bundle(root_flow_json=root, out_path=tmp_path / "c.flow", flows_dir=flows_dir)


def test_open_missing_or_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(WorkflowBundleError):
        open_workflow_bundle(tmp_path / "missing.flow")
    junk = tmp_path / "junk.flow"
    junk.write_bytes(b"not a zip")
    with pytest.raises(WorkflowBundleError):
        open_workflow_bundle(junk)
    with pytest.raises(WorkflowBundleError):
        open_workflow_bundle(tmp_path)  # a directory without manifest.json


def test_open_refuses_manifest_naming_missing_flow_file(
    tmp_path: Path, manifest_factory: Callable[..., dict[str, Any]]
) -> None:
    path = tmp_path / "b.flow"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest_factory()))
    with pytest.raises(WorkflowBundleError, match="lacks"):
        open_workflow_bundle(path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "manifest.json").write_text(json.dumps(manifest_factory()), encoding="utf-8")
    with pytest.raises(WorkflowBundleError, match="lacks"):
        open_workflow_bundle(tmp_path / "d")


def test_subflow_file_must_declare_its_id(
    make_flow_dir: Callable[..., Path], flow_factory: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    flows_dir = make_flow_dir({"root": flow_factory("Root", calls=["child"])})
    (flows_dir / "child.json").write_text(json.dumps({"id": "other", **flow_factory("C")}), encoding="utf-8")
    with pytest.raises(WorkflowBundleError, match="declares id"):
        pack_workflow_bundle(root_flow_json=flows_dir / "root.json", out_path=tmp_path / "b.flow")
