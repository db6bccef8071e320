"""WorkflowBundles: portable ``.flow`` zips of VisualFlow JSON (SPEC §9.3).

* :mod:`.models`: the manifest (:class:`WorkflowBundleManifest`, dict conversion, validation);
* :mod:`.packer`: :func:`pack_workflow_bundle`, :func:`inspect_workflow_bundle`, :func:`unpack_workflow_bundle`;
* :mod:`.reader`: :func:`open_workflow_bundle` and :class:`WorkflowBundle`;
* :mod:`.registry`: :class:`WorkflowBundleRegistry`, a directory of installed bundles.

Each name loads its module on first access (PEP 562, ``abstractruntime._lazy``), so importing the
package imports neither ``zipfile`` nor the packer.  See ``docs/bundles.md`` for the format and the
security limits.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the real imports, for static typing; at run time these load on first access
    from ._errors import WorkflowBundleError, WorkflowBundleRegistryError
    from .models import (
        WORKFLOW_BUNDLE_FORMAT_VERSION_V1,
        WorkflowBundleEntrypoint,
        WorkflowBundleManifest,
        workflow_bundle_manifest_from_dict,
        workflow_bundle_manifest_to_dict,
    )
    from .packer import (
        PackedWorkflowBundle,
        inspect_workflow_bundle,
        pack_workflow_bundle,
        unpack_workflow_bundle,
    )
    from .reader import WorkflowBundle, open_workflow_bundle
    from .registry import (
        InstalledWorkflowBundle,
        WorkflowBundleRegistry,
        WorkflowEntrypointRef,
        default_workflow_bundles_dir,
        sanitize_bundle_id,
        sanitize_bundle_version,
    )

__all__ = [
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
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        "._errors": ("WorkflowBundleError", "WorkflowBundleRegistryError"),
        ".models": (
            "WORKFLOW_BUNDLE_FORMAT_VERSION_V1",
            "WorkflowBundleEntrypoint",
            "WorkflowBundleManifest",
            "workflow_bundle_manifest_from_dict",
            "workflow_bundle_manifest_to_dict",
        ),
        ".packer": (
            "PackedWorkflowBundle",
            "inspect_workflow_bundle",
            "pack_workflow_bundle",
            "unpack_workflow_bundle",
        ),
        ".reader": ("WorkflowBundle", "open_workflow_bundle"),
        ".registry": (
            "InstalledWorkflowBundle",
            "WorkflowBundleRegistry",
            "WorkflowEntrypointRef",
            "default_workflow_bundles_dir",
            "sanitize_bundle_id",
            "sanitize_bundle_version",
        ),
    },
)
