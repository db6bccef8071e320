"""WorkflowBundle manifest model (SPEC §9.3): dataclasses, validation and dict conversion.

``manifest.json`` is written with snake_case keys; on read the camelCase aliases (``bundleId``,
``bundleVersion``, ``bundleFormatVersion``, ``createdAt``, ``defaultEntrypoint``, ``flowId``) are
accepted too.  Every path the manifest names must be a safe relative POSIX path (see
:func:`abstractruntime.workflow_bundle._safety.check_safe_relpath`); violations raise
:class:`WorkflowBundleError`, a ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import WorkflowBundleError
from ._safety import check_safe_relpath

__all__ = [
    "WORKFLOW_BUNDLE_FORMAT_VERSION_V1",
    "WorkflowBundleEntrypoint",
    "WorkflowBundleError",
    "WorkflowBundleManifest",
    "workflow_bundle_manifest_from_dict",
    "workflow_bundle_manifest_to_dict",
]

#: The only bundle format version this implementation reads and writes.
WORKFLOW_BUNDLE_FORMAT_VERSION_V1 = "1"


@dataclass
class WorkflowBundleEntrypoint:
    """A flow of the bundle that hosts may start directly.

    Attributes:
        flow_id: id of a flow listed in the manifest's ``flows``.
        name: display name (usually the flow's ``name``); used for name lookups in the registry.
        description: free text.
        interfaces: interface tags the flow implements (for example ``"abstractcode.agent.v1"``).
    """

    flow_id: str
    name: str = ""
    description: str = ""
    interfaces: list[str] = field(default_factory=list)


@dataclass
class WorkflowBundleManifest:
    """The content of ``manifest.json``.

    Attributes:
        bundle_format_version: always ``"1"``.
        bundle_id: non-empty bundle id.
        bundle_version: version string, ``"0.0.0"`` by default (semver recommended).
        created_at: ISO timestamp of packing.
        entrypoints: non-empty list with unique ``flow_id`` values.
        default_entrypoint: optional ``flow_id`` of one entrypoint.
        flows: ``{flow_id: "flows/<flow_id>.json"}``.
        artifacts: legacy mapping ``{flow_id: relpath}``, normally empty.
        assets: ``{name: relpath}``.
        metadata: free JSON object.
    """

    bundle_format_version: str = WORKFLOW_BUNDLE_FORMAT_VERSION_V1
    bundle_id: str = ""
    bundle_version: str = "0.0.0"
    created_at: str = ""
    entrypoints: list[WorkflowBundleEntrypoint] = field(default_factory=list)
    default_entrypoint: str | None = None
    flows: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    assets: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Check every field; raise :class:`WorkflowBundleError` on the first violation."""
        if self.bundle_format_version != WORKFLOW_BUNDLE_FORMAT_VERSION_V1:
            raise WorkflowBundleError(
                f"unsupported bundle_format_version {self.bundle_format_version!r} "
                f"(expected {WORKFLOW_BUNDLE_FORMAT_VERSION_V1!r})"
            )
        if not isinstance(self.bundle_id, str) or not self.bundle_id.strip():
            raise WorkflowBundleError("bundle_id must be a non-empty string")
        if not isinstance(self.bundle_version, str) or not self.bundle_version.strip():
            raise WorkflowBundleError("bundle_version must be a non-empty string")
        if not isinstance(self.created_at, str):
            raise WorkflowBundleError("created_at must be a string")
        for label, mapping in (("flows", self.flows), ("artifacts", self.artifacts), ("assets", self.assets)):
            _check_path_map(label, mapping)
        if not isinstance(self.metadata, dict):
            raise WorkflowBundleError("metadata must be an object")
        if not self.entrypoints:
            raise WorkflowBundleError("entrypoints must be a non-empty list")
        seen: set[str] = set()
        for ep in self.entrypoints:
            _check_entrypoint(ep)
            if ep.flow_id in seen:
                raise WorkflowBundleError(f"duplicate entrypoint flow_id {ep.flow_id!r}")
            seen.add(ep.flow_id)
            if ep.flow_id not in self.flows and ep.flow_id not in self.artifacts:
                raise WorkflowBundleError(f"entrypoint {ep.flow_id!r} is not listed in flows")
        if self.default_entrypoint is not None and not isinstance(self.default_entrypoint, str):
            raise WorkflowBundleError("default_entrypoint must be a string")
        if self.default_entrypoint is not None and self.default_entrypoint not in seen:
            raise WorkflowBundleError(f"default_entrypoint {self.default_entrypoint!r} is not an entrypoint")

    def flow_path_for(self, flow_id: str) -> str | None:
        """Return the relative path of ``flow_id``'s VisualFlow JSON, or None when not listed."""
        return self.flows.get(flow_id)

    def artifact_path_for(self, flow_id: str) -> str | None:
        """Return the legacy artifact path recorded for ``flow_id``, or None."""
        return self.artifacts.get(flow_id)

    def entrypoint(self, flow_id: str) -> WorkflowBundleEntrypoint | None:
        """Return the entrypoint whose ``flow_id`` matches, or None."""
        return next((ep for ep in self.entrypoints if ep.flow_id == flow_id), None)


def _check_path_map(label: str, mapping: object) -> None:
    if not isinstance(mapping, dict):
        raise WorkflowBundleError(f"{label} must be an object")
    for key, value in mapping.items():
        if not isinstance(key, str) or not key:
            raise WorkflowBundleError(f"{label} keys must be non-empty strings")
        check_safe_relpath(value, what=f"{label}[{key!r}]")


def _check_entrypoint(ep: object) -> None:
    if not isinstance(ep, WorkflowBundleEntrypoint):
        raise WorkflowBundleError("entrypoints must be WorkflowBundleEntrypoint objects")
    if not isinstance(ep.flow_id, str) or not ep.flow_id:
        raise WorkflowBundleError("entrypoint flow_id must be a non-empty string")
    if not isinstance(ep.name, str) or not isinstance(ep.description, str):
        raise WorkflowBundleError(f"entrypoint {ep.flow_id!r}: name and description must be strings")
    if not isinstance(ep.interfaces, list) or not all(isinstance(i, str) for i in ep.interfaces):
        raise WorkflowBundleError(f"entrypoint {ep.flow_id!r}: interfaces must be a list of strings")


def _pick(raw: Mapping[str, Any], snake: str, camel: str, default: Any = None) -> Any:
    if snake in raw:
        return raw[snake]
    return raw.get(camel, default)


def _str_map(raw: Mapping[str, Any], key: str) -> dict[str, str]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise WorkflowBundleError(f"{key} must be an object")
    return dict(value)


def _entrypoint_from_dict(raw: object) -> WorkflowBundleEntrypoint:
    if isinstance(raw, str):
        return WorkflowBundleEntrypoint(flow_id=raw)
    if not isinstance(raw, Mapping):
        raise WorkflowBundleError("each entrypoint must be an object")
    interfaces = raw.get("interfaces")
    return WorkflowBundleEntrypoint(
        flow_id=_pick(raw, "flow_id", "flowId", ""),
        name=raw.get("name") or "",
        description=raw.get("description") or "",
        interfaces=list(interfaces)
        if isinstance(interfaces, (list, tuple))
        else ([] if interfaces is None else interfaces),
    )


def workflow_bundle_manifest_from_dict(raw: Mapping[str, Any]) -> WorkflowBundleManifest:
    """Parse and validate a manifest dict (snake_case keys, camelCase aliases accepted).

    Raises:
        WorkflowBundleError: ``raw`` is not an object or any field is invalid.
    """
    if not isinstance(raw, Mapping):
        raise WorkflowBundleError("manifest must be a JSON object")
    fmt = _pick(raw, "bundle_format_version", "bundleFormatVersion")
    entrypoints = raw.get("entrypoints")
    if not isinstance(entrypoints, list):
        raise WorkflowBundleError("entrypoints must be a non-empty list")
    metadata = raw.get("metadata")
    bundle_version = _pick(raw, "bundle_version", "bundleVersion")
    manifest = WorkflowBundleManifest(
        bundle_format_version=str(fmt)
        if isinstance(fmt, (str, int)) and not isinstance(fmt, bool)
        else repr(fmt),
        bundle_id=_pick(raw, "bundle_id", "bundleId", ""),
        bundle_version="0.0.0" if bundle_version is None else bundle_version,
        created_at=_pick(raw, "created_at", "createdAt", "") or "",
        entrypoints=[_entrypoint_from_dict(ep) for ep in entrypoints],
        default_entrypoint=_pick(raw, "default_entrypoint", "defaultEntrypoint"),
        flows=_str_map(raw, "flows"),
        artifacts=_str_map(raw, "artifacts"),
        assets=_str_map(raw, "assets"),
        metadata={} if metadata is None else metadata,
    )
    manifest.validate()
    return manifest


def workflow_bundle_manifest_to_dict(manifest: WorkflowBundleManifest) -> dict[str, Any]:
    """Validate ``manifest`` and return its stable JSON form (snake_case, sorted path maps).

    ``default_entrypoint`` is omitted when it is None.
    """
    manifest.validate()
    out: dict[str, Any] = {
        "bundle_format_version": manifest.bundle_format_version,
        "bundle_id": manifest.bundle_id,
        "bundle_version": manifest.bundle_version,
        "created_at": manifest.created_at,
        "entrypoints": [
            {
                "flow_id": ep.flow_id,
                "name": ep.name,
                "description": ep.description,
                "interfaces": list(ep.interfaces),
            }
            for ep in manifest.entrypoints
        ],
    }
    if manifest.default_entrypoint is not None:
        out["default_entrypoint"] = manifest.default_entrypoint
    out["flows"] = dict(sorted(manifest.flows.items()))
    out["artifacts"] = dict(sorted(manifest.artifacts.items()))
    out["assets"] = dict(sorted(manifest.assets.items()))
    out["metadata"] = dict(manifest.metadata)
    return out
