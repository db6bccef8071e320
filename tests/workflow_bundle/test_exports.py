"""The package and module exports named by SPEC §1.3 and §15."""

from __future__ import annotations

import importlib

import abstractruntime.workflow_bundle as wb
from abstractruntime.errors import AbstractRuntimeError

EXPECTED = {
    "WORKFLOW_BUNDLE_FORMAT_VERSION_V1",
    "WorkflowBundleError",
    "WorkflowBundleEntrypoint",
    "WorkflowBundleManifest",
    "WorkflowBundle",
    "InstalledWorkflowBundle",
    "WorkflowBundleRegistry",
    "WorkflowBundleRegistryError",
    "WorkflowEntrypointRef",
    "default_workflow_bundles_dir",
    "sanitize_bundle_id",
    "sanitize_bundle_version",
    "workflow_bundle_manifest_from_dict",
    "workflow_bundle_manifest_to_dict",
    "open_workflow_bundle",
    "PackedWorkflowBundle",
    "pack_workflow_bundle",
    "inspect_workflow_bundle",
    "unpack_workflow_bundle",
}

MODULES = {
    "models": {
        "WORKFLOW_BUNDLE_FORMAT_VERSION_V1",
        "WorkflowBundleError",
        "WorkflowBundleEntrypoint",
        "WorkflowBundleManifest",
        "workflow_bundle_manifest_from_dict",
        "workflow_bundle_manifest_to_dict",
    },
    "packer": {
        "PackedWorkflowBundle",
        "pack_workflow_bundle",
        "inspect_workflow_bundle",
        "unpack_workflow_bundle",
    },
    "reader": {"WorkflowBundle", "open_workflow_bundle"},
    "registry": {
        "InstalledWorkflowBundle",
        "WorkflowBundleRegistry",
        "WorkflowBundleRegistryError",
        "WorkflowEntrypointRef",
        "default_workflow_bundles_dir",
        "sanitize_bundle_id",
        "sanitize_bundle_version",
    },
}


def test_package_all() -> None:
    assert len(wb.__all__) == 19
    assert set(wb.__all__) == EXPECTED
    for name in wb.__all__:
        assert getattr(wb, name) is not None


def test_module_paths() -> None:
    for module_name, names in MODULES.items():
        module = importlib.import_module(f"abstractruntime.workflow_bundle.{module_name}")
        for name in names:
            assert getattr(module, name) is getattr(wb, name), (module_name, name)


def test_error_hierarchy() -> None:
    for err in (wb.WorkflowBundleError, wb.WorkflowBundleRegistryError):
        assert issubclass(err, AbstractRuntimeError)
        assert issubclass(err, ValueError)
    assert wb.WORKFLOW_BUNDLE_FORMAT_VERSION_V1 == "1"
