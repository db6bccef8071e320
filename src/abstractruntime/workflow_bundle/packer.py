"""Pack, inspect and unpack WorkflowBundles (SPEC §9.3).

Packing starts from one root VisualFlow file and collects the closure of the flows it calls:
every ``subflow`` node (``data.subflowId``, ``flowId``, ``workflowId`` or ``workflow_id``) that is
reachable through execution edges (edges whose ``targetHandle`` is ``"exec-in"``) names a sibling file
``<flows_dir>/<id>.json``, which is packed too and followed in turn (cycles and self-references are
fine).  The walk starts from ``entryNode`` when the flow has one, plus every event-entry node
(``on_*`` types) and every node with outgoing but no incoming execution edges.  A referenced file
that does not exist raises :class:`WorkflowBundleError`.  This module parses the JSON itself and does
not depend on the VisualFlow compiler.

The zip is written to a temporary file next to ``out_path`` and renamed into place, so readers
never see a half-written bundle.  Members get a fixed timestamp, so packing the same flows twice
only differs in ``created_at``.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._errors import WorkflowBundleError
from ._safety import check_safe_relpath
from ._unpack import unpack_zip_atomically
from .models import (
    WORKFLOW_BUNDLE_FORMAT_VERSION_V1,
    WorkflowBundleEntrypoint,
    WorkflowBundleManifest,
    workflow_bundle_manifest_to_dict,
)
from .reader import MANIFEST_NAME, open_workflow_bundle

__all__ = [
    "PackedWorkflowBundle",
    "inspect_workflow_bundle",
    "pack_workflow_bundle",
    "unpack_workflow_bundle",
]

_SUBFLOW_KEYS = ("subflowId", "flowId", "workflowId", "workflow_id")
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)

EntrypointSpec = str | Mapping[str, Any] | WorkflowBundleEntrypoint


@dataclass(frozen=True)
class PackedWorkflowBundle:
    """Result of :func:`pack_workflow_bundle`: the written ``.flow`` file and its manifest."""

    path: Path
    manifest: WorkflowBundleManifest


def _flow_id_of(data: Mapping[str, Any], source: Path) -> str:
    for key in ("id", "flow_id", "workflow_id"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    raise WorkflowBundleError(f"flow file {source} has no 'id'")


def _load_flow(path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkflowBundleError(f"cannot read flow file {path}: {exc}") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorkflowBundleError(f"flow file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise WorkflowBundleError(f"flow file {path} is not a JSON object")
    return raw, data


def _check_file_id(data: Mapping[str, Any], expected: str, source: Path) -> None:
    """A flow loaded as ``<id>.json`` must declare that id, or the compiled workflow ids would not match."""
    actual = _flow_id_of(data, source)
    if actual != expected:
        raise WorkflowBundleError(f"flow file {source} declares id {actual!r}, expected {expected!r}")


def _subflow_target(node: Mapping[str, Any]) -> str | None:
    data = node.get("data")
    if not isinstance(data, Mapping):
        return None
    for key in _SUBFLOW_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def reachable_subflow_ids(flow: Mapping[str, Any]) -> list[str]:
    """Return the subflow ids referenced by ``subflow`` nodes reachable through execution edges.

    The order is the order of first discovery; duplicates are removed.
    """
    nodes_raw = flow.get("nodes")
    edges_raw = flow.get("edges")
    nodes = {
        str(n.get("id")): n
        for n in (nodes_raw if isinstance(nodes_raw, list) else [])
        if isinstance(n, Mapping)
    }
    succ: dict[str, list[str]] = {}
    has_incoming: set[str] = set()
    for edge in edges_raw if isinstance(edges_raw, list) else []:
        if not isinstance(edge, Mapping) or edge.get("targetHandle") != "exec-in":
            continue
        src, tgt = str(edge.get("source")), str(edge.get("target"))
        succ.setdefault(src, []).append(tgt)
        has_incoming.add(tgt)
    starts = [nid for nid, n in nodes.items() if str(n.get("type", "")).startswith("on_")]
    starts += [nid for nid in succ if nid not in has_incoming]
    entry = flow.get("entryNode")
    if isinstance(entry, str) and entry in nodes:
        starts.insert(0, entry)
    seen: set[str] = set()
    queue = deque(starts)
    out: list[str] = []
    while queue:
        nid = queue.popleft()
        if nid in seen or nid not in nodes:
            continue
        seen.add(nid)
        node = nodes[nid]
        if node.get("type") == "subflow":
            target = _subflow_target(node)
            if target is not None and target not in out:
                out.append(target)
        queue.extend(succ.get(nid, []))
    return out


def _flow_relpath(flow_id: str) -> str:
    if "/" in flow_id:
        raise WorkflowBundleError(f"flow id {flow_id!r} cannot be used as a file name")
    return check_safe_relpath(f"flows/{flow_id}.json", what=f"path of flow {flow_id!r}")


def _collect_flows(
    roots: Iterable[tuple[str, bytes, dict[str, Any]]], flows_dir: Path
) -> dict[str, tuple[bytes, dict[str, Any]]]:
    collected: dict[str, tuple[bytes, dict[str, Any]]] = {}
    queue: deque[tuple[str, bytes, dict[str, Any]]] = deque(roots)
    while queue:
        flow_id, raw, data = queue.popleft()
        if flow_id in collected:
            continue
        _flow_relpath(flow_id)
        collected[flow_id] = (raw, data)
        for sub_id in reachable_subflow_ids(data):
            if sub_id in collected:
                continue
            _flow_relpath(sub_id)
            sub_path = flows_dir / f"{sub_id}.json"
            if not sub_path.is_file():
                raise WorkflowBundleError(
                    f"flow {flow_id!r} references missing subflow {sub_id!r} ({sub_path})"
                )
            sub_raw, sub_data = _load_flow(sub_path)
            _check_file_id(sub_data, sub_id, sub_path)
            queue.append((sub_id, sub_raw, sub_data))
    return collected


def _entrypoint_for(
    spec: EntrypointSpec, flows: Mapping[str, tuple[bytes, dict[str, Any]]]
) -> WorkflowBundleEntrypoint:
    if isinstance(spec, WorkflowBundleEntrypoint):
        return spec
    if isinstance(spec, str):
        spec = {"flow_id": spec}
    flow_id = spec.get("flow_id") or spec.get("flowId")
    if not isinstance(flow_id, str) or flow_id not in flows:
        raise WorkflowBundleError(f"entrypoint {flow_id!r} is not a packed flow")
    data = flows[flow_id][1]
    interfaces = spec.get("interfaces", data.get("interfaces"))
    return WorkflowBundleEntrypoint(
        flow_id=flow_id,
        name=str(spec.get("name") or data.get("name") or flow_id),
        description=str(spec.get("description") or data.get("description") or ""),
        interfaces=[str(i) for i in interfaces] if isinstance(interfaces, list) else [],
    )


def _atomic_write_zip(out_path: Path, members: Sequence[tuple[str, bytes]]) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for name, data in members:
                    info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o100644 << 16
                    zf.writestr(info, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def pack_workflow_bundle(
    *,
    root_flow_json: str | Path,
    out_path: str | Path,
    bundle_id: str | None = None,
    bundle_version: str = "0.0.0",
    flows_dir: str | Path | None = None,
    entrypoints: Sequence[EntrypointSpec] | None = None,
    default_entrypoint: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> PackedWorkflowBundle:
    """Pack ``root_flow_json`` and every subflow it reaches into a ``.flow`` zip at ``out_path``.

    Args:
        root_flow_json: path of the root VisualFlow JSON file.
        out_path: where to write the bundle (parents are created; an existing file is replaced).
        bundle_id: defaults to the root flow id.
        bundle_version: defaults to ``"0.0.0"``.
        flows_dir: directory holding ``<id>.json`` subflow files; defaults to the root file's directory.
        entrypoints: flow ids, dicts (``flow_id``, optional ``name``/``description``/``interfaces``)
            or :class:`WorkflowBundleEntrypoint` objects; defaults to ``[root id]``.  Entry flows that
            the root does not reach are loaded from ``flows_dir`` and their subflows followed too.
            Missing names and descriptions are taken from the flow.
        default_entrypoint: optional flow id of one entrypoint.
        metadata: free JSON object stored in the manifest.

    Raises:
        WorkflowBundleError: unreadable root, missing subflow file, unsafe flow id, invalid manifest.
    """
    root_path = Path(root_flow_json)
    base_dir = Path(flows_dir) if flows_dir is not None else root_path.parent
    root_raw, root_data = _load_flow(root_path)
    root_id = _flow_id_of(root_data, root_path)
    roots: list[tuple[str, bytes, dict[str, Any]]] = [(root_id, root_raw, root_data)]
    for spec in entrypoints or ():
        ep_id = (
            spec.flow_id
            if isinstance(spec, WorkflowBundleEntrypoint)
            else (spec if isinstance(spec, str) else spec.get("flow_id") or spec.get("flowId"))
        )
        if isinstance(ep_id, str) and ep_id != root_id:
            _flow_relpath(ep_id)
            ep_raw, ep_data = _load_flow(base_dir / f"{ep_id}.json")
            _check_file_id(ep_data, ep_id, base_dir / f"{ep_id}.json")
            roots.append((ep_id, ep_raw, ep_data))
    flows = _collect_flows(roots, base_dir)
    eps = [_entrypoint_for(s, flows) for s in (entrypoints if entrypoints is not None else [root_id])]
    manifest = WorkflowBundleManifest(
        bundle_format_version=WORKFLOW_BUNDLE_FORMAT_VERSION_V1,
        bundle_id=bundle_id if bundle_id is not None else root_id,
        bundle_version=bundle_version,
        created_at=datetime.now(timezone.utc).isoformat(),
        entrypoints=eps,
        default_entrypoint=default_entrypoint,
        flows={fid: _flow_relpath(fid) for fid in sorted(flows)},
        metadata=dict(metadata or {}),
    )
    manifest_json = json.dumps(workflow_bundle_manifest_to_dict(manifest), indent=2, ensure_ascii=False)
    members = [(MANIFEST_NAME, manifest_json.encode("utf-8") + b"\n")]
    members += [(manifest.flows[fid], flows[fid][0]) for fid in sorted(flows)]
    out = Path(out_path)
    _atomic_write_zip(out, members)
    return PackedWorkflowBundle(path=out, manifest=manifest)


def inspect_workflow_bundle(*, bundle_path: str | Path) -> WorkflowBundleManifest:
    """Open the bundle (zip or directory), validate it and return its manifest."""
    return open_workflow_bundle(bundle_path).manifest


def unpack_workflow_bundle(*, bundle_path: str | Path, out_dir: str | Path) -> Path:
    """Extract a bundle zip into ``out_dir`` and return ``out_dir``.

    The bundle is validated first (manifest and every member, see :mod:`._safety`), then extracted
    into a staging directory beside ``out_dir`` and renamed into place (merged file by file, after
    checking every target, when ``out_dir`` is a non-empty directory; existing files with the same
    names are replaced).  On any failure nothing is left behind: no ``out_dir``, no staging
    directory.  See :mod:`._unpack`.

    Raises:
        WorkflowBundleError: invalid manifest, unsafe, oversize or corrupt member (bad CRC,
            truncated data), a file/directory name clash, ``out_dir`` exists as a file, or a symlinked
            sub-directory of ``out_dir``.
    """
    src = Path(bundle_path)
    if src.is_dir():
        raise WorkflowBundleError(f"bundle is already a directory: {src}")
    open_workflow_bundle(src)
    unpack_zip_atomically(src, Path(out_dir))
    return Path(out_dir)
