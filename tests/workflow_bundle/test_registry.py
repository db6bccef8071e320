"""WorkflowBundleRegistry: install, scan, resolve (semver, refs, names, interfaces), remove, default dir."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.workflow_bundle import (
    InstalledWorkflowBundle,
    WorkflowBundleRegistry,
    WorkflowBundleRegistryError,
    WorkflowEntrypointRef,
    default_workflow_bundles_dir,
    pack_workflow_bundle,
    sanitize_bundle_id,
    sanitize_bundle_version,
)

Packer = Callable[..., Path]


@pytest.fixture
def pack(
    make_flow_dir: Callable[..., Path], flow_factory: Callable[..., dict[str, Any]], tmp_path: Path
) -> Packer:
    flows_dir = make_flow_dir(
        {
            "chat": flow_factory("Chat Agent", calls=["helper"], interfaces=["abstractcode.agent.v1"]),
            "helper": flow_factory("Helper"),
            "report": flow_factory("Reporter", interfaces=["report.v1"]),
        }
    )
    out_dir = tmp_path / "packed"
    counter = iter(range(1_000_000))

    def do_pack(bundle_id: str, version: str, **kwargs: Any) -> Path:
        return pack_workflow_bundle(
            root_flow_json=flows_dir / "chat.json",
            out_path=out_dir / f"bundle-{next(counter)}.flow",
            bundle_id=bundle_id,
            bundle_version=version,
            **kwargs,
        ).path

    return do_pack


@pytest.fixture
def registry(tmp_path: Path) -> WorkflowBundleRegistry:
    return WorkflowBundleRegistry(tmp_path / "bundles")


def test_install_scan_and_conflicts(registry: WorkflowBundleRegistry, pack: Packer) -> None:
    installed = registry.install(pack("alpha", "1.0.0"))
    assert isinstance(installed, InstalledWorkflowBundle)
    assert installed.path == registry.bundles_dir / "alpha@1.0.0.flow"
    assert installed.bundle_ref == "alpha@1.0.0"
    assert installed.sha256 is not None and len(installed.sha256) == 64
    with pytest.raises(WorkflowBundleRegistryError, match="already installed"):
        registry.install(pack("alpha", "1.0.0"))
    registry.install(pack("alpha", "1.0.0"), overwrite=True)
    (registry.bundles_dir / "broken.flow").write_bytes(b"garbage")
    (registry.bundles_dir / "notes.txt").write_text("ignored", encoding="utf-8")
    scanned = registry.scan()
    assert [b.bundle_ref for b in scanned] == ["alpha@1.0.0"]
    assert not [p for p in registry.bundles_dir.iterdir() if p.name.endswith(".tmp")]


def test_install_bytes(registry: WorkflowBundleRegistry, pack: Packer) -> None:
    installed = registry.install_bytes(pack("beta", "0.1.0").read_bytes(), filename_hint="upload.flow")
    assert installed.path.name == "beta@0.1.0.flow"
    with pytest.raises(WorkflowBundleRegistryError, match="upload"):
        registry.install_bytes(b"not a zip", filename_hint="upload.flow")
    assert [p.name for p in registry.bundles_dir.iterdir()] == ["beta@0.1.0.flow"]


@pytest.mark.parametrize(("bundle_id", "version"), [("bad id", "1.0.0"), ("ok", "1.0.0/../x"), ("a:b", "1")])
def test_install_rejects_names_changed_by_sanitizing(
    registry: WorkflowBundleRegistry, pack: Packer, bundle_id: str, version: str
) -> None:
    bad = pack(bundle_id, version)
    with pytest.raises(WorkflowBundleRegistryError, match="outside"):
        registry.install(bad)
    with pytest.raises(WorkflowBundleRegistryError, match="outside"):
        registry.install_bytes(bad.read_bytes(), filename_hint="x.flow")
    assert not list(registry.bundles_dir.iterdir())
    with pytest.raises(WorkflowBundleRegistryError, match="not found"):
        registry.install(bad.parent / "missing.flow")


def test_sanitize_helpers() -> None:
    assert sanitize_bundle_id("my bundle/v2") == "my-bundle-v2"
    assert sanitize_bundle_id("ok_id-1") == "ok_id-1"
    assert sanitize_bundle_version("1.0.0+build 7") == "1.0.0-build-7"
    assert sanitize_bundle_version("1.2.3-rc.1") == "1.2.3-rc.1"


def test_resolve_bundle_semver_ordering(registry: WorkflowBundleRegistry, pack: Packer) -> None:
    for version in ("1.2.0", "1.10.0", "1.9.9", "1.10.0-rc.1", "0.9.0"):
        registry.install(pack("alpha", version))
    assert registry.resolve_bundle("alpha").bundle_version == "1.10.0"  # not lexicographic, release > rc
    assert registry.resolve_bundle("alpha@1.9.9").bundle_version == "1.9.9"
    with pytest.raises(WorkflowBundleRegistryError):
        registry.resolve_bundle("alpha@2.0.0")
    with pytest.raises(WorkflowBundleRegistryError):
        registry.resolve_bundle("nope")
    assert sorted(b.bundle_version for b in registry.bundles_by_id()["alpha"]) == [
        "0.9.0",
        "1.10.0",
        "1.10.0-rc.1",
        "1.2.0",
        "1.9.9",
    ]


def test_resolve_bundle_falls_back_to_created_at(registry: WorkflowBundleRegistry, pack: Packer) -> None:
    registry.install(pack("gamma", "nightly"))
    registry.install(pack("gamma", "2.0.0"))  # packed later: newer created_at
    assert registry.resolve_bundle("gamma").bundle_version == "2.0.0"
    registry.install(pack("gamma", "zzz-latest"))
    assert registry.resolve_bundle("gamma").bundle_version == "zzz-latest"


def test_resolve_entrypoint_refs(registry: WorkflowBundleRegistry, pack: Packer) -> None:
    registry.install(pack("alpha", "1.0.0"))
    registry.install(pack("alpha", "2.0.0", entrypoints=["chat", "report"], default_entrypoint="chat"))
    ref = registry.resolve_entrypoint("alpha")
    assert isinstance(ref, WorkflowEntrypointRef)
    assert (ref.bundle_version, ref.flow_id, ref.is_default) == ("2.0.0", "chat", True)
    assert ref.workflow_id == "alpha@2.0.0:chat"
    assert ref.bundle_ref == "alpha@2.0.0"
    assert registry.resolve_entrypoint("alpha@1.0.0").workflow_id == "alpha@1.0.0:chat"
    assert registry.resolve_entrypoint("alpha:report").workflow_id == "alpha@2.0.0:report"
    assert registry.resolve_entrypoint("alpha@2.0.0:report").name == "Reporter"
    assert registry.resolve_entrypoint("alpha:reporter").flow_id == "report"  # entrypoint name, any case
    assert registry.resolve_entrypoint("alpha@1.0.0.flow").workflow_id == "alpha@1.0.0:chat"
    with pytest.raises(WorkflowBundleRegistryError):
        registry.resolve_entrypoint("alpha@1.0.0:report")  # not an entrypoint in 1.0.0
    with pytest.raises(WorkflowBundleRegistryError):
        registry.resolve_entrypoint("alpha:helper")  # packed, but not an entrypoint
    with pytest.raises(WorkflowBundleRegistryError):
        registry.resolve_entrypoint("missing:chat")


def test_resolve_entrypoint_by_name_and_interface(registry: WorkflowBundleRegistry, pack: Packer) -> None:
    registry.install(pack("alpha", "1.0.0", entrypoints=["chat", "report"]))
    registry.install(pack("beta", "1.0.0", entrypoints=["report"]))
    assert registry.resolve_entrypoint("chat agent").workflow_id == "alpha@1.0.0:chat"
    with pytest.raises(WorkflowBundleRegistryError, match="ambiguous"):
        registry.resolve_entrypoint("Reporter")
    with pytest.raises(WorkflowBundleRegistryError):
        registry.resolve_entrypoint("alpha")  # two entrypoints, no default
    chosen = registry.resolve_entrypoint("alpha", interface="abstractcode.agent.v1")
    assert chosen.flow_id == "chat"
    assert registry.resolve_entrypoint("alpha", interface="report.v1").flow_id == "report"
    with pytest.raises(WorkflowBundleRegistryError):
        registry.resolve_entrypoint("alpha:chat", interface="report.v1")
    with pytest.raises(WorkflowBundleRegistryError):
        registry.resolve_entrypoint("nothing-called-this")


def test_list_entrypoints(registry: WorkflowBundleRegistry, pack: Packer) -> None:
    registry.install(pack("alpha", "1.0.0"))
    registry.install(pack("alpha", "1.1.0", entrypoints=["chat", "report"]))
    registry.install(pack("beta", "0.1.0", entrypoints=["report"]))
    latest = registry.list_entrypoints()
    assert [r.workflow_id for r in latest] == ["alpha@1.1.0:chat", "alpha@1.1.0:report", "beta@0.1.0:report"]
    every = registry.list_entrypoints(latest_only=False)
    assert len(every) == 4
    reports = registry.list_entrypoints(interface="report.v1")
    assert [r.bundle_id for r in reports] == ["alpha", "beta"]
    assert registry.list_entrypoints(interface="abstractcode.agent.v1")[0].interfaces == [
        "abstractcode.agent.v1"
    ]


def test_remove(registry: WorkflowBundleRegistry, pack: Packer) -> None:
    for version in ("1.0.0", "1.1.0"):
        registry.install(pack("alpha", version))
    registry.install(pack("beta", "1.0.0"))
    assert registry.remove("alpha@1.0.0") == 1
    assert registry.remove("alpha@1.0.0") == 0
    assert registry.resolve_bundle("alpha").bundle_version == "1.1.0"
    assert registry.remove("alpha") == 1
    assert registry.remove("nope") == 0
    assert [b.bundle_ref for b in registry.scan()] == ["beta@1.0.0"]


def test_ensure_dir_and_empty_scan(tmp_path: Path) -> None:
    registry = WorkflowBundleRegistry(tmp_path / "a" / "b")
    assert registry.scan() == []
    assert registry.ensure_dir().is_dir()


def test_real_example_bundle_install(
    registry: WorkflowBundleRegistry, examples_dir: Path, tmp_path: Path
) -> None:
    packed = pack_workflow_bundle(
        root_flow_json=examples_dir / "ac-echo.json", out_path=tmp_path / "echo.flow", bundle_version="0.2.0"
    )
    registry.install(packed.path)
    ref = registry.resolve_entrypoint("AbstractCode Echo Service")
    assert ref.workflow_id == "ac-echo@0.2.0:ac-echo"


ENV_VARS = ("ABSTRACTFRAMEWORK_WORKFLOWS_DIR", "ABSTRACTFLOW_PUBLISH_DIR", "ABSTRACTFLOW_FLOWS_DIR")


def test_default_dir_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_workflow_bundles_dir() == tmp_path / "home" / ".abstractframework" / "workflows"
    (tmp_path / "flows" / "bundles").mkdir(parents=True)
    assert default_workflow_bundles_dir() == Path("flows") / "bundles"
    monkeypatch.setenv("ABSTRACTFLOW_FLOWS_DIR", str(tmp_path / "c"))
    assert default_workflow_bundles_dir() == tmp_path / "c"
    monkeypatch.setenv("ABSTRACTFLOW_PUBLISH_DIR", str(tmp_path / "b"))
    assert default_workflow_bundles_dir() == tmp_path / "b"
    monkeypatch.setenv("ABSTRACTFRAMEWORK_WORKFLOWS_DIR", str(tmp_path / "a"))
    assert default_workflow_bundles_dir() == tmp_path / "a"
    monkeypatch.setenv("ABSTRACTFRAMEWORK_WORKFLOWS_DIR", "  ")
    assert default_workflow_bundles_dir() == tmp_path / "b"
    assert WorkflowBundleRegistry().bundles_dir == tmp_path / "b"
