"""Loading a ``run`` TARGET into WorkflowSpecs.

A TARGET is one of:

- a VisualFlow JSON file (``flows/root.json``): compiled with the subflows it reaches, read from the
  ``<id>.json`` files (or any ``*.json`` whose ``id`` matches) in the same directory;
- a ``.flow`` bundle (zip or unpacked directory), optionally ``bundle.flow:entrypoint``;
- a Python ``module:attribute`` or ``path/to/file.py:attribute`` naming a ``WorkflowSpec`` (or a
  zero-argument callable returning one).

:func:`load_target` normalizes a TARGET into the form stored in ``vars._runtime.cli_target`` (absolute
paths), which a later process accepts again.  Python targets run code, so a target read back from stored
state is imported only when its source still hashes to the ``code_sha256`` recorded when the operator named
it (``trusted_sha256``); otherwise the operator must name it again on the command line (``--target``).
Flows cannot write ``_runtime`` (see :mod:`abstractruntime.core.host_vars`), so they cannot redirect it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abstractruntime.core.spec import WorkflowSpec
from abstractruntime.scheduler import WorkflowRegistry

_SUBFLOW_KEYS = ("subflowId", "flowId", "workflowId", "workflow_id")


class TargetError(ValueError):
    """A TARGET that cannot be found, parsed or compiled."""


@dataclass
class LoadedTarget:
    kind: str  # "visualflow" | "bundle" | "python"
    ref: str  # normalized TARGET (stored in vars._runtime.cli_target)
    spec: WorkflowSpec
    specs: dict[str, WorkflowSpec] = field(default_factory=dict)
    code_sha256: str | None = None  # python targets: sha256 of the source files imported

    def registry_specs(self) -> list[WorkflowSpec]:
        return list({id(s): s for s in [self.spec, *self.specs.values()]}.values())

    def registry(self) -> WorkflowRegistry:
        registry = WorkflowRegistry()
        for spec in self.registry_specs():
            if registry.get(spec.workflow_id) is None:
                registry.register(spec)
        return registry


def _split_bundle_ref(target: str) -> tuple[str, str | None] | None:
    """``x.flow`` or ``x.flow:entry`` -> (path, entry); None when the target is no bundle ref."""
    if target.endswith(".flow"):
        return target, None
    marker = ".flow:"
    idx = target.rfind(marker)
    if idx > 0:
        return target[: idx + len(".flow")], target[idx + len(marker) :] or None
    return None


def _resolve(path: str, cwd: str | None) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute() and cwd:
        p = Path(cwd) / p
    return p.resolve()


def _subflow_ids(raw: dict[str, Any]) -> set[str]:
    ids: set[str] = set()
    for node in raw.get("nodes") or []:
        if not isinstance(node, dict):
            continue
        data_raw = node.get("data")
        data: dict[str, Any] = data_raw if isinstance(data_raw, dict) else {}
        node_type = node.get("type") or data.get("nodeType")
        if node_type != "subflow":
            continue
        for key in _SUBFLOW_KEYS:
            value = data.get(key)
            if isinstance(value, str) and value:
                ids.add(value)
                break
    return ids


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TargetError(f"cannot read VisualFlow {path}: {exc}") from exc


def _compile(root_id: str, flows: dict[str, Any]) -> dict[str, WorkflowSpec]:
    from abstractruntime.visualflow_compiler import compile_visualflow_tree

    try:
        return compile_visualflow_tree(root_id=root_id, flows_by_id=flows)
    except Exception as exc:  # the compiler raises several error types; report them uniformly
        raise TargetError(f"cannot compile flow {root_id!r}: {type(exc).__name__}: {exc}") from exc


def _load_visualflow(path: Path) -> LoadedTarget:
    raw = _read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), list):
        raise TargetError(f"{path} is not a VisualFlow (a JSON object with 'nodes')")
    root_id = str(raw.get("id") or path.stem)
    flows: dict[str, Any] = {root_id: raw}
    pending = list(_subflow_ids(raw))
    siblings: dict[str, Path] | None = None
    while pending:
        flow_id = pending.pop()
        if flow_id in flows:
            continue
        candidate = path.parent / f"{flow_id}.json"
        if not candidate.is_file():
            if siblings is None:
                siblings = {}
                for sibling in sorted(path.parent.glob("*.json")):
                    try:
                        data = json.loads(sibling.read_text(encoding="utf-8"))
                    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                        continue
                    if isinstance(data, dict) and isinstance(data.get("id"), str):
                        siblings.setdefault(data["id"], sibling)
            found = siblings.get(flow_id)
            if found is None:
                raise TargetError(f"subflow {flow_id!r} not found next to {path} (expected {candidate.name})")
            candidate = found
        sub = _read_json(candidate)
        if not isinstance(sub, dict):
            raise TargetError(f"{candidate} is not a VisualFlow")
        flows[flow_id] = sub
        pending.extend(_subflow_ids(sub))
    specs = _compile(root_id, flows)
    if root_id not in specs:
        raise TargetError(f"compiling {path} produced no workflow {root_id!r}")
    return LoadedTarget(kind="visualflow", ref=str(path), spec=specs[root_id], specs=specs)


def _load_bundle(path: Path, entry: str | None) -> LoadedTarget:
    from abstractruntime.workflow_bundle import WorkflowBundleError, open_workflow_bundle

    try:
        bundle = open_workflow_bundle(path)
        flows = bundle.read_flows()
    except (WorkflowBundleError, OSError) as exc:
        raise TargetError(f"cannot open bundle {path}: {exc}") from exc
    manifest = bundle.manifest
    if entry is None:
        entry = manifest.default_entrypoint or manifest.entrypoints[0].flow_id
    else:
        for ep in manifest.entrypoints:
            if entry in (ep.flow_id, ep.name) or (ep.name or "").lower() == entry.lower():
                entry = ep.flow_id
                break
        else:
            if entry not in flows:
                names = ", ".join(ep.flow_id for ep in manifest.entrypoints)
                raise TargetError(f"bundle {path} has no entrypoint {entry!r} (entrypoints: {names})")
    specs = _compile(entry, dict(flows))
    if entry not in specs:
        raise TargetError(f"bundle {path}: entrypoint {entry!r} did not compile")
    return LoadedTarget(kind="bundle", ref=f"{path}:{entry}", spec=specs[entry], specs=specs)


def _module_files(module_ref: str, base: str) -> list[Path]:
    """The source files importing ``module_ref`` executes (packages' ``__init__`` and the module itself),
    located without importing anything.

    Raises:
        TargetError: the module cannot be located.
    """
    files: list[Path] = []
    search: list[str] | None = [base, *sys.path]
    parts = module_ref.split(".")
    for i, part in enumerate(parts):
        name = ".".join(parts[: i + 1])
        loaded = sys.modules.get(name)
        origin = getattr(loaded, "__file__", None) if loaded is not None else None
        locations = getattr(loaded, "__path__", None) if loaded is not None else None
        if loaded is None:
            try:
                spec = importlib.machinery.PathFinder.find_spec(part, search)
            except (ImportError, ValueError) as exc:
                raise TargetError(f"cannot locate module {name!r}: {exc}") from exc
            if spec is None:
                raise TargetError(f"cannot locate module {name!r}")
            origin = spec.origin if spec.has_location else None
            locations = spec.submodule_search_locations
        if origin:
            files.append(Path(origin))
        search = list(locations) if locations is not None else None
        if search is None and i < len(parts) - 1:
            raise TargetError(f"{name!r} is not a package")
    return files


def _sha256_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TargetError(f"cannot read {path}: {exc}") from exc
        digest.update(str(path).encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def _check_pin(target: str, actual: str, trusted_sha256: str | None) -> None:
    if trusted_sha256 is None or actual != trusted_sha256:
        raise TargetError(
            f"refusing to import {target!r} from stored run state: its code "
            + ("was never pinned" if trusted_sha256 is None else "changed since the run started")
            + "; name it on the command line (--target) to trust it"
        )


def _load_python(target: str, cwd: str | None, *, stored: bool, trusted_sha256: str | None) -> LoadedTarget:
    module_ref, _, attr = target.rpartition(":")
    if not module_ref or not attr:
        raise TargetError(f"{target!r} is not module:attribute")
    ref = target
    if module_ref.endswith(".py"):
        file_path = _resolve(module_ref, cwd)
        if not file_path.is_file():
            raise TargetError(f"Python file not found: {file_path}")
        code_sha256 = _sha256_files([file_path])
        if stored:
            _check_pin(target, code_sha256, trusted_sha256)
        name = f"_abstractruntime_cli_{hashlib.sha256(str(file_path).encode()).hexdigest()[:16]}_{code_sha256[:12]}"
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, file_path)
            if spec is None or spec.loader is None:
                raise TargetError(f"cannot import {file_path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(name, None)
                raise TargetError(f"importing {file_path} failed: {type(exc).__name__}: {exc}") from exc
        ref = f"{file_path}:{attr}"
    else:
        base = cwd or str(Path.cwd())
        code_sha256 = _sha256_files(_module_files(module_ref, base))
        if stored:
            _check_pin(target, code_sha256, trusted_sha256)
        if base not in sys.path:
            sys.path.insert(0, base)
        try:
            module = importlib.import_module(module_ref)
        except Exception as exc:
            raise TargetError(f"cannot import module {module_ref!r}: {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise TargetError(f"{module_ref!r} has no attribute {attr!r}") from exc
    if not isinstance(obj, WorkflowSpec) and callable(obj):
        try:
            obj = obj()
        except Exception as exc:  # the user's factory: any error means an unusable target
            raise TargetError(f"calling {target!r} failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(obj, WorkflowSpec):
        raise TargetError(f"{target!r} is a {type(obj).__name__}, not a WorkflowSpec")
    return LoadedTarget(
        kind="python", ref=ref, spec=obj, specs={obj.workflow_id: obj}, code_sha256=code_sha256
    )


def load_target(
    target: str, *, cwd: str | None = None, stored: bool = False, trusted_sha256: str | None = None
) -> LoadedTarget:
    """Load ``target`` (see the module doc); relative paths are resolved against ``cwd``.

    Args:
        target: the TARGET as the operator typed it, or as stored in ``_runtime.cli_target``.
        cwd: the directory relative paths (and ``module:attr`` imports) are resolved against.
        stored: True when ``target`` comes from stored run state rather than the command line: a Python
            target is then imported only if its source hashes to ``trusted_sha256``.
        trusted_sha256: the ``code_sha256`` recorded when the operator started the run.

    Raises:
        TargetError: the target cannot be found, read, compiled, or (stored Python targets) trusted.
    """
    if not target or not target.strip():
        raise TargetError("empty TARGET")
    bundle_ref = _split_bundle_ref(target)
    if bundle_ref is not None:
        path = _resolve(bundle_ref[0], cwd)
        if not path.exists():
            raise TargetError(f"bundle not found: {path}")
        return _load_bundle(path, bundle_ref[1])
    path = _resolve(target, cwd)
    if path.is_dir() and (path / "manifest.json").is_file():
        return _load_bundle(path, None)
    if path.is_file() and path.suffix.lower() == ".json":
        return _load_visualflow(path)
    if ":" in target and not path.exists():
        return _load_python(target, cwd, stored=stored, trusted_sha256=trusted_sha256)
    if target.endswith(".json"):
        raise TargetError(f"VisualFlow file not found: {path}")
    raise TargetError(
        f"cannot understand TARGET {target!r}: expected a VisualFlow .json file, a .flow bundle "
        "(optionally bundle.flow:entrypoint) or a Python module:attribute"
    )
