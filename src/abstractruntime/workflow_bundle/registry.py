"""A directory of installed WorkflowBundles with ref resolution (SPEC §9.3 "Registry").

Installed bundles live as ``<bundles_dir>/<bundle_id>@<bundle_version>.flow``.  The directory defaults
to :func:`default_workflow_bundles_dir`.  Refs understood by :meth:`WorkflowBundleRegistry.resolve_entrypoint`:

* ``id`` / ``id@ver``: the bundle's default entrypoint (or its only one, or the only one that
  implements the requested interface);
* ``id:flow`` / ``id@ver:flow``: a given flow (by flow id, else by entrypoint name, case-insensitive);
* ``<file>.flow``: a file name inside the bundles directory (no directory parts);
* a unique entrypoint name (case-insensitive) among the latest version of every bundle.

Without a version the highest semantic version wins when every installed version of that bundle
parses as semver (``MAJOR.MINOR.PATCH[-pre][+build]``, an optional leading ``v``); otherwise the
newest ``created_at`` wins.

Installation validates the bundle (the manifest, and every member decompressed with its CRC checked),
refuses ids longer than 100 characters and ids and versions that sanitizing would change, copies to
a temporary file in the directory and renames it into place (``overwrite=False`` uses a hard link,
so two concurrent installs of the same version cannot both win).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._errors import WorkflowBundleError, WorkflowBundleRegistryError
from ._safety import check_every_member
from .models import WorkflowBundleEntrypoint, WorkflowBundleManifest
from .reader import open_workflow_bundle

__all__ = [
    "InstalledWorkflowBundle",
    "WorkflowBundleRegistry",
    "WorkflowBundleRegistryError",
    "WorkflowEntrypointRef",
    "default_workflow_bundles_dir",
    "sanitize_bundle_id",
    "sanitize_bundle_version",
]

_MAX_NAME = 100  # characters of bundle_id and of bundle_version: the file name stays under 255 bytes
_ENV_VARS = ("ABSTRACTFRAMEWORK_WORKFLOWS_DIR", "ABSTRACTFLOW_PUBLISH_DIR", "ABSTRACTFLOW_FLOWS_DIR")
_SEMVER_RE = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)


def default_workflow_bundles_dir() -> Path:
    """Return the default bundles directory.

    Order: env ``ABSTRACTFRAMEWORK_WORKFLOWS_DIR``, env ``ABSTRACTFLOW_PUBLISH_DIR``, env
    ``ABSTRACTFLOW_FLOWS_DIR`` (blank values are ignored), ``./flows/bundles`` when it exists, then
    ``~/.abstractframework/workflows``.
    """
    for name in _ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return Path(value).expanduser()
    local = Path("flows") / "bundles"
    if local.is_dir():
        return local
    return Path.home() / ".abstractframework" / "workflows"


def sanitize_bundle_id(bundle_id: str) -> str:
    """Map every character outside ``[A-Za-z0-9_-]`` to ``-`` (after stripping whitespace)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", str(bundle_id).strip())


def sanitize_bundle_version(bundle_version: str) -> str:
    """Map every character outside ``[A-Za-z0-9_.-]`` to ``-`` (after stripping whitespace)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", str(bundle_version).strip())


_Num = tuple[int, str]


def _semver_key(version: str) -> tuple[_Num, _Num, _Num, int, tuple[tuple[int, _Num], ...]] | None:
    """A semver sort key or None; numbers compare as ``(digits, text)``, never through ``int()``."""
    match = _SEMVER_RE.match(version.strip())
    if match is None:
        return None
    major, minor, patch = ((len(g), g) for g in match.groups()[:3])
    pre: str | None = match.group(4)
    if pre is None:
        return (major, minor, patch, 1, ())
    parts = tuple((0, (len(p), p)) if p.isdigit() else (1, (0, p)) for p in pre.split("."))
    return (major, minor, patch, 0, parts)


@dataclass(frozen=True)
class InstalledWorkflowBundle:
    """A bundle file found in (or installed into) the registry directory."""

    bundle_id: str
    bundle_version: str
    path: Path
    manifest: WorkflowBundleManifest
    sha256: str | None = None

    @property
    def bundle_ref(self) -> str:
        """``"<bundle_id>@<bundle_version>"``."""
        return f"{self.bundle_id}@{self.bundle_version}"


@dataclass(frozen=True)
class WorkflowEntrypointRef:
    """One resolved entrypoint of an installed bundle."""

    bundle_id: str
    bundle_version: str
    flow_id: str
    name: str
    description: str
    interfaces: list[str]
    is_default: bool

    @property
    def bundle_ref(self) -> str:
        """``"<bundle_id>@<bundle_version>"``."""
        return f"{self.bundle_id}@{self.bundle_version}"

    @property
    def workflow_id(self) -> str:
        """The namespaced workflow id hosts register: ``"<bundle_id>@<bundle_version>:<flow_id>"``."""
        return f"{self.bundle_id}@{self.bundle_version}:{self.flow_id}"


def _ref_for(bundle: InstalledWorkflowBundle, ep: WorkflowBundleEntrypoint) -> WorkflowEntrypointRef:
    return WorkflowEntrypointRef(
        bundle_id=bundle.bundle_id,
        bundle_version=bundle.bundle_version,
        flow_id=ep.flow_id,
        name=ep.name,
        description=ep.description,
        interfaces=list(ep.interfaces),
        is_default=bundle.manifest.default_entrypoint == ep.flow_id,
    )


def _pick_latest(versions: list[InstalledWorkflowBundle]) -> InstalledWorkflowBundle:
    keyed = [(_semver_key(b.bundle_version), b) for b in versions]
    semver = [(key, b) for key, b in keyed if key is not None]
    if len(semver) == len(versions):
        return max(semver, key=lambda kv: kv[0])[1]
    return max(versions, key=lambda b: (b.manifest.created_at, b.bundle_version))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


class WorkflowBundleRegistry:
    """Installed ``.flow`` bundles in one directory.

    Args:
        bundles_dir: the directory; defaults to :func:`default_workflow_bundles_dir`.
    """

    def __init__(self, bundles_dir: str | Path | None = None) -> None:
        self.bundles_dir = Path(bundles_dir) if bundles_dir is not None else default_workflow_bundles_dir()

    def ensure_dir(self) -> Path:
        """Create the bundles directory when missing and return it."""
        self.bundles_dir.mkdir(parents=True, exist_ok=True)
        return self.bundles_dir

    def _load(self, path: Path, *, with_sha: bool = False) -> InstalledWorkflowBundle:
        manifest = open_workflow_bundle(path).manifest
        return InstalledWorkflowBundle(
            bundle_id=manifest.bundle_id,
            bundle_version=manifest.bundle_version,
            path=path,
            manifest=manifest,
            sha256=_sha256(path) if with_sha else None,
        )

    def scan(self) -> list[InstalledWorkflowBundle]:
        """Return every readable ``*.flow`` file of the directory (sorted by file name).

        Unreadable or invalid files are skipped.
        """
        if not self.bundles_dir.is_dir():
            return []
        out: list[InstalledWorkflowBundle] = []
        for path in sorted(self.bundles_dir.glob("*.flow")):
            if not path.is_file():
                continue
            try:
                out.append(self._load(path))
            except (WorkflowBundleError, OSError):
                continue
        return out

    def bundles_by_id(self) -> dict[str, list[InstalledWorkflowBundle]]:
        """Group :meth:`scan` by bundle id; each list is in file-name order."""
        grouped: dict[str, list[InstalledWorkflowBundle]] = {}
        for bundle in self.scan():
            grouped.setdefault(bundle.bundle_id, []).append(bundle)
        return grouped

    def resolve_bundle(self, ref: str) -> InstalledWorkflowBundle:
        """Resolve ``"id"`` (latest version) or ``"id@ver"`` to an installed bundle.

        Raises:
            WorkflowBundleRegistryError: no such bundle or version.
        """
        bundle_id, _, version = ref.strip().partition("@")
        versions = self.bundles_by_id().get(bundle_id)
        if not versions:
            raise WorkflowBundleRegistryError(f"bundle not found: {bundle_id!r}")
        if not version:
            return _pick_latest(versions)
        for bundle in versions:
            if bundle.bundle_version == version:
                return bundle
        raise WorkflowBundleRegistryError(f"bundle version not found: {bundle_id}@{version}")

    def _entrypoint_of(
        self, bundle: InstalledWorkflowBundle, flow: str | None, interface: str | None
    ) -> WorkflowEntrypointRef:
        eps = bundle.manifest.entrypoints
        if interface is not None:
            eps = [ep for ep in eps if interface in ep.interfaces]
        if flow:
            match = next((ep for ep in eps if ep.flow_id == flow), None)
            if match is None:
                named = [ep for ep in eps if ep.name.casefold() == flow.casefold()]
                match = named[0] if len(named) == 1 else None
            if match is None:
                raise WorkflowBundleRegistryError(
                    f"{bundle.bundle_ref} has no entrypoint {flow!r}"
                    + (f" implementing {interface!r}" if interface else "")
                )
            return _ref_for(bundle, match)
        default = next((ep for ep in eps if ep.flow_id == bundle.manifest.default_entrypoint), None)
        if default is not None:
            return _ref_for(bundle, default)
        if len(eps) == 1:
            return _ref_for(bundle, eps[0])
        if not eps:
            raise WorkflowBundleRegistryError(
                f"{bundle.bundle_ref} has no entrypoint implementing {interface!r}"
            )
        raise WorkflowBundleRegistryError(
            f"{bundle.bundle_ref} has several entrypoints and no default; use '<id>:<flow_id>'"
        )

    def resolve_entrypoint(self, ref: str, *, interface: str | None = None) -> WorkflowEntrypointRef:
        """Resolve a ref (see the module docstring) to one entrypoint.

        Args:
            ref: ``id``, ``id@ver``, ``id:flow``, ``id@ver:flow``, ``<file>.flow`` or an entrypoint name.
            interface: when given, only entrypoints listing this interface match.

        Raises:
            WorkflowBundleRegistryError: unknown, ambiguous or non-matching ref.
        """
        text = ref.strip()
        if not text:
            raise WorkflowBundleRegistryError("empty workflow ref")
        if text.endswith(".flow") and "/" not in text and "\\" not in text and ":" not in text:
            path = self.bundles_dir / text
            if path.is_file():
                try:
                    bundle = self._load(path)
                except WorkflowBundleError as exc:
                    raise WorkflowBundleRegistryError(f"cannot open {text!r}: {exc}") from exc
                return self._entrypoint_of(bundle, None, interface)
        bundle_part, _, flow = text.partition(":")
        bundle_id = bundle_part.partition("@")[0]
        grouped = self.bundles_by_id()
        if bundle_id in grouped:
            return self._entrypoint_of(self.resolve_bundle(bundle_part), flow or None, interface)
        if ":" in text or "@" in text:
            raise WorkflowBundleRegistryError(f"bundle not found: {bundle_id!r}")
        matches = [
            ep
            for ep in self.list_entrypoints(interface=interface, latest_only=True)
            if ep.name.casefold() == text.casefold()
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise WorkflowBundleRegistryError(f"no bundle or entrypoint named {text!r}")
        refs = ", ".join(m.workflow_id for m in matches)
        raise WorkflowBundleRegistryError(f"entrypoint name {text!r} is ambiguous: {refs}")

    def list_entrypoints(
        self, *, interface: str | None = None, latest_only: bool = True
    ) -> list[WorkflowEntrypointRef]:
        """List entrypoints of installed bundles (only each bundle's latest version by default).

        Sorted by bundle id, then version order as installed, then manifest order.
        """
        out: list[WorkflowEntrypointRef] = []
        for _bundle_id, versions in sorted(self.bundles_by_id().items()):
            chosen = [_pick_latest(versions)] if latest_only else versions
            for bundle in chosen:
                for ep in bundle.manifest.entrypoints:
                    if interface is None or interface in ep.interfaces:
                        out.append(_ref_for(bundle, ep))
        return out

    def _check_names(self, manifest: WorkflowBundleManifest) -> str:
        if max(len(manifest.bundle_id), len(manifest.bundle_version)) > _MAX_NAME:
            raise WorkflowBundleRegistryError(
                f"bundle_id and bundle_version are limited to {_MAX_NAME} chars"
            )
        if sanitize_bundle_id(manifest.bundle_id) != manifest.bundle_id:
            raise WorkflowBundleRegistryError(
                f"bundle_id {manifest.bundle_id!r} has characters outside [A-Za-z0-9_-]"
            )
        if sanitize_bundle_version(manifest.bundle_version) != manifest.bundle_version:
            raise WorkflowBundleRegistryError(
                f"bundle_version {manifest.bundle_version!r} has characters outside [A-Za-z0-9_.-]"
            )
        return f"{manifest.bundle_id}@{manifest.bundle_version}.flow"

    def _commit(self, tmp: Path, dest: Path, *, overwrite: bool) -> None:
        """Move the fully written ``tmp`` to ``dest`` atomically."""
        if overwrite:
            os.replace(tmp, dest)
            return
        try:
            os.link(tmp, dest)
        except FileExistsError:
            raise WorkflowBundleRegistryError(
                f"already installed: {dest.name} (use overwrite=True)"
            ) from None
        except OSError:
            if dest.exists():
                raise WorkflowBundleRegistryError(
                    f"already installed: {dest.name} (use overwrite=True)"
                ) from None
            os.replace(tmp, dest)
            return
        tmp.unlink(missing_ok=True)

    def _install_from_temp(self, tmp: Path, *, overwrite: bool, label: str) -> InstalledWorkflowBundle:
        try:
            manifest = open_workflow_bundle(tmp).manifest
            check_every_member(tmp)  # a corrupt flow would otherwise only fail when a run loads it
        except WorkflowBundleError as exc:
            raise WorkflowBundleRegistryError(f"invalid bundle {label}: {exc}") from exc
        dest = self.bundles_dir / self._check_names(manifest)
        self._commit(tmp, dest, overwrite=overwrite)
        return InstalledWorkflowBundle(
            bundle_id=manifest.bundle_id,
            bundle_version=manifest.bundle_version,
            path=dest,
            manifest=manifest,
            sha256=_sha256(dest),
        )

    def _temp_file(self) -> tuple[int, Path]:
        self.ensure_dir()
        fd, name = tempfile.mkstemp(prefix=".install-", suffix=".tmp", dir=self.bundles_dir)
        return fd, Path(name)

    def install(self, path: str | Path, *, overwrite: bool = False) -> InstalledWorkflowBundle:
        """Validate the bundle zip at ``path`` and copy it to ``<dir>/<bundle_id>@<bundle_version>.flow``.

        Raises:
            WorkflowBundleRegistryError: invalid bundle, id/version that sanitizing would change, or
                the version is already installed and ``overwrite`` is False.
        """
        src = Path(path)
        if not src.is_file():
            raise WorkflowBundleRegistryError(f"bundle file not found: {src}")
        fd, tmp = self._temp_file()
        try:
            with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
                shutil.copyfileobj(inp, out)
                out.flush()
                os.fsync(out.fileno())
            return self._install_from_temp(tmp, overwrite=overwrite, label=str(src))
        finally:
            tmp.unlink(missing_ok=True)

    def install_bytes(
        self, content: bytes, *, filename_hint: str = "bundle.flow", overwrite: bool = False
    ) -> InstalledWorkflowBundle:
        """Install a bundle given as bytes (for example an upload); ``filename_hint`` names it in errors."""
        fd, tmp = self._temp_file()
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            return self._install_from_temp(tmp, overwrite=overwrite, label=repr(filename_hint))
        finally:
            tmp.unlink(missing_ok=True)

    def remove(self, ref: str) -> int:
        """Delete every installed file of ``"id"`` (all versions) or ``"id@ver"``; return how many."""
        bundle_id, _, version = ref.strip().partition("@")
        count = 0
        for bundle in self.bundles_by_id().get(bundle_id, []):
            if version and bundle.bundle_version != version:
                continue
            bundle.path.unlink(missing_ok=True)
            count += 1
        return count
