"""Open a WorkflowBundle from a ``.flow`` zip or from an unpacked directory (SPEC §9.3).

Opening validates the whole bundle up front: for a zip every entry is checked from its headers (safe
name, no symlink, size limits, see :mod:`._safety`) and ``manifest.json`` is parsed and validated.
Reads are confined to the bundle: a relative path is checked with the same safe-path rules, a zip
read streams with the size limit enforced, and a directory read refuses any path that resolves
outside the bundle directory (for example through a symlink).  Whatever a hostile zip or JSON document
makes the standard library raise (deep nesting, huge integers, corrupt headers, wrong types) surfaces
as :class:`WorkflowBundleError` (see :func:`._safety.bundle_errors`).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _safety
from ._errors import WorkflowBundleError
from ._safety import bundle_errors, check_safe_relpath, checked_zip_members, read_zip_member
from .models import WorkflowBundleManifest, workflow_bundle_manifest_from_dict

__all__ = ["MANIFEST_NAME", "WorkflowBundle", "open_workflow_bundle"]

#: Name of the manifest member at the root of every bundle.
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class WorkflowBundle:
    """An opened bundle: where it lives and its validated manifest.

    Attributes:
        source: the ``.flow`` zip file or the bundle directory.
        manifest: the parsed ``manifest.json``.
    """

    source: Path
    manifest: WorkflowBundleManifest

    @property
    def is_zip(self) -> bool:
        """True when :attr:`source` is a zip file rather than a directory."""
        return not self.source.is_dir()

    def read_bytes(self, relpath: str) -> bytes:
        """Return the bytes of the member ``relpath``.

        Raises:
            WorkflowBundleError: unsafe path, missing member, symlink escape or oversize member.
        """
        check_safe_relpath(relpath, what="bundle path")
        if self.is_zip:
            return _zip_read(self.source, relpath)
        return _dir_read(self.source, relpath)

    def read_text(self, relpath: str, encoding: str = "utf-8") -> str:
        """Return the member ``relpath`` decoded as text."""
        try:
            return self.read_bytes(relpath).decode(encoding)
        except UnicodeDecodeError as exc:
            raise WorkflowBundleError(f"bundle member {relpath!r} is not valid {encoding}") from exc

    def read_json(self, relpath: str) -> Any:
        """Return the member ``relpath`` parsed as JSON.

        Raises:
            WorkflowBundleError: unreadable member, or not JSON (including nesting too deep to parse and
                integers too long to convert).
        """
        text = self.read_text(relpath)
        with bundle_errors(f"bundle member {relpath!r} is not valid JSON"):
            return json.loads(text)

    def flow_ids(self) -> list[str]:
        """Return the ids of every flow listed in the manifest, sorted."""
        return sorted(self.manifest.flows)

    def read_flow(self, flow_id: str) -> dict[str, Any]:
        """Return the VisualFlow JSON object of ``flow_id``.

        Raises:
            WorkflowBundleError: the flow is not listed or its file is not a JSON object.
        """
        relpath = self.manifest.flow_path_for(flow_id)
        if relpath is None:
            raise WorkflowBundleError(f"bundle has no flow {flow_id!r}")
        data = self.read_json(relpath)
        if not isinstance(data, dict):
            raise WorkflowBundleError(f"flow {flow_id!r} is not a JSON object")
        return data

    def read_flows(self) -> dict[str, dict[str, Any]]:
        """Return every flow of the bundle as ``{flow_id: visualflow_json}`` (for compile_visualflow_tree)."""
        return {flow_id: self.read_flow(flow_id) for flow_id in self.flow_ids()}


def _zip_read(path: Path, relpath: str) -> bytes:
    try:
        with bundle_errors(f"not a valid bundle zip: {path}"), zipfile.ZipFile(path, "r") as zf:
            members = checked_zip_members(zf)
            info = members.get(relpath)
            if info is None:
                raise WorkflowBundleError(f"bundle {path.name!r} has no member {relpath!r}")
            return read_zip_member(zf, info)
    except OSError as exc:
        raise WorkflowBundleError(f"cannot read bundle {path}: {exc}") from exc


def _dir_read(root: Path, relpath: str) -> bytes:
    try:
        base = root.resolve()
        target = (base / relpath).resolve()
        if not target.is_relative_to(base):
            raise WorkflowBundleError(f"bundle path escapes the bundle directory: {relpath!r}")
        if not target.is_file():
            raise WorkflowBundleError(f"bundle {root} has no file {relpath!r}")
        limit = _safety.MAX_MEMBER_BYTES
        size = target.stat().st_size
        if size > limit:
            raise WorkflowBundleError(f"bundle file {relpath!r} is {size} bytes (limit {limit})")
        with target.open("rb") as fh:
            data = fh.read(limit + 1)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on Python < 3.13
        raise WorkflowBundleError(f"cannot read bundle file {relpath!r} of {root}: {exc}") from exc
    if len(data) > limit:
        raise WorkflowBundleError(f"bundle file {relpath!r} exceeds {limit} bytes")
    return data


def _parse_manifest(raw: bytes, source: Path) -> WorkflowBundleManifest:
    with bundle_errors(f"{source}: manifest.json is not valid JSON"):
        data = json.loads(raw.decode("utf-8"))
    with bundle_errors(f"{source}: invalid manifest.json"):
        return workflow_bundle_manifest_from_dict(data)


def open_workflow_bundle(source: str | Path) -> WorkflowBundle:
    """Open and validate the bundle at ``source`` (a ``.flow`` zip or an unpacked directory).

    Raises:
        WorkflowBundleError: the source is missing, not a zip, unsafe (traversal, symlink, oversize
            member) or its manifest is invalid.
    """
    path = Path(source)
    if path.is_dir():
        manifest = _parse_manifest(_dir_read(path, MANIFEST_NAME), path)
        present = {rel for rel in manifest.flows.values() if _is_file(path / rel)}
        _check_flows_present(manifest, present, path)
        return WorkflowBundle(source=path, manifest=manifest)
    if not path.is_file():
        raise WorkflowBundleError(f"bundle not found: {path}")
    try:
        with bundle_errors(f"not a valid bundle zip: {path}"), zipfile.ZipFile(path, "r") as zf:
            members = checked_zip_members(zf)
            info = members.get(MANIFEST_NAME)
            if info is None:
                raise WorkflowBundleError(f"bundle {path.name!r} has no {MANIFEST_NAME}")
            raw = read_zip_member(zf, info)
    except OSError as exc:
        raise WorkflowBundleError(f"cannot read bundle {path}: {exc}") from exc
    manifest = _parse_manifest(raw, path)
    _check_flows_present(manifest, set(members), path)
    return WorkflowBundle(source=path, manifest=manifest)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long, a symlink loop: not a usable file
        return False


def _check_flows_present(manifest: WorkflowBundleManifest, members: set[str], source: Path) -> None:
    missing = sorted(fid for fid, rel in manifest.flows.items() if rel not in members)
    if missing:
        raise WorkflowBundleError(f"bundle {source.name!r} lacks the files of flows {missing}")
