"""Hostile ``.flow`` bundles, replayed: each one is refused with ``WorkflowBundleError`` (or the registry's
``WorkflowBundleRegistryError``) and leaves nothing behind — no output directory, no staging directory,
no half-written file, no registry entry.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.workflow_bundle import (
    WorkflowBundleError,
    WorkflowBundleRegistry,
    WorkflowBundleRegistryError,
    open_workflow_bundle,
    unpack_workflow_bundle,
)

FLOW = {"id": "main", "nodes": [], "edges": []}


def _manifest(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "bundle_format_version": "1",
        "bundle_id": "demo",
        "bundle_version": "1.0.0",
        "created_at": "2026-01-01T00:00:00+00:00",
        "entrypoints": [{"flow_id": "main", "name": "Main", "description": "", "interfaces": []}],
        "flows": {"main": "flows/main.json"},
        "metadata": {},
    }
    base.update(overrides)
    return base


def _zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]], *, stored: bool = False) -> Path:
    kind = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", compression=kind) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def _good(path: Path, *, stored: bool = False, extra: list[tuple[str, bytes]] | None = None) -> Path:
    members: list[tuple[str | zipfile.ZipInfo, bytes]] = [
        ("manifest.json", json.dumps(_manifest()).encode()),
        ("flows/main.json", json.dumps(FLOW).encode()),
        *(extra or []),
    ]
    return _zip(path, members, stored=stored)


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _assert_unpack_refused(bundle: Path, work: Path, *, match: str | None = None) -> None:
    """Unpacking ``bundle`` into ``work/deep/out`` fails and leaves ``work`` exactly as it was."""
    before = _listing(work)
    with pytest.raises(WorkflowBundleError, match=match):
        unpack_workflow_bundle(bundle_path=bundle, out_dir=work / "deep" / "out")
    assert _listing(work) == before  # no out dir, no created parent, no staging directory


def _assert_install_refused(bundle: Path, work: Path) -> None:
    registry = work / "registry"
    with pytest.raises(WorkflowBundleRegistryError):
        WorkflowBundleRegistry(registry).install(bundle)
    assert not registry.exists() or _listing(registry) == []


def _patch_headers(path: Path, name: bytes, offsets: dict[bytes, int], value: int, fmt: str = "<I") -> None:
    """Rewrite the field at ``offsets[signature]`` of every header of member ``name``."""
    blob = bytearray(path.read_bytes())
    for signature, offset in offsets.items():
        start = 0
        while (pos := blob.find(signature, start)) != -1:
            name_at = pos + (30 if signature == b"PK\x03\x04" else 46)
            if blob[name_at : name_at + len(name)] == name:
                struct.pack_into(fmt, blob, pos + offset, value)
            start = pos + 4
    path.write_bytes(bytes(blob))


# -- corrupt archives ---------------------------------------------------------------------------
def test_crc_mismatch_refused_without_residue(tmp_path: Path) -> None:
    bundle = _good(tmp_path / "crc.flow", stored=True)
    blob = bytearray(bundle.read_bytes())
    at = blob.find(b'"edges"')
    blob[at + 1] ^= 0x20  # same length, different bytes: only the CRC can tell
    bundle.write_bytes(bytes(blob))
    open_workflow_bundle(bundle)  # the manifest itself is intact
    _assert_unpack_refused(bundle, tmp_path, match="CRC|Bad|corrupt")
    _assert_install_refused(bundle, tmp_path)


def test_truncated_member_refused_without_residue(tmp_path: Path) -> None:
    payload = json.dumps({**FLOW, "pad": "x" * 5000}).encode()
    bundle = _zip(tmp_path / "t.flow", [("manifest.json", json.dumps(_manifest()).encode())])
    with zipfile.ZipFile(bundle, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("flows/main.json", payload)
    with zipfile.ZipFile(bundle) as zf:
        size = zf.getinfo("flows/main.json").compress_size
    # the headers now claim the deflate stream is 3 bytes shorter than it is: a truncated member
    _patch_headers(bundle, b"flows/main.json", {b"PK\x03\x04": 18, b"PK\x01\x02": 20}, size - 3)
    _assert_unpack_refused(bundle, tmp_path)
    _assert_install_refused(bundle, tmp_path)


def test_truncated_archive_refused(tmp_path: Path) -> None:
    bundle = _good(tmp_path / "cut.flow")
    data = bundle.read_bytes()
    for cut in (len(data) // 3, len(data) - 10):
        bundle.write_bytes(data[:cut])
        with pytest.raises(WorkflowBundleError):
            open_workflow_bundle(bundle)
        _assert_unpack_refused(bundle, tmp_path)
        _assert_install_refused(bundle, tmp_path)


def test_invalid_utf8_member_name_refused(tmp_path: Path) -> None:
    bundle = _good(tmp_path / "u.flow", extra=[("assets/é.txt", b"x")])  # sets the UTF-8 name flag
    bundle.write_bytes(bundle.read_bytes().replace("é".encode(), b"\xff\xfe"))
    with pytest.raises(WorkflowBundleError):
        open_workflow_bundle(bundle)
    _assert_unpack_refused(bundle, tmp_path)
    _assert_install_refused(bundle, tmp_path)


def test_encrypted_member_refused(tmp_path: Path) -> None:
    bundle = _good(tmp_path / "enc.flow")
    _patch_headers(bundle, b"flows/main.json", {b"PK\x03\x04": 6, b"PK\x01\x02": 8}, 0x1, fmt="<H")
    _assert_unpack_refused(bundle, tmp_path)
    _assert_install_refused(bundle, tmp_path)


def test_random_corruption_never_escapes_the_typed_error(tmp_path: Path) -> None:
    good = _good(tmp_path / "g.flow", extra=[("assets/a.txt", b"hello " * 200)]).read_bytes()
    rng = random.Random(1234)
    bad = tmp_path / "bad.flow"
    for trial in range(150):
        blob = bytearray(good)
        if trial % 3 == 0:
            blob = blob[: rng.randrange(len(blob))]
        else:
            for _ in range(rng.randint(1, 4)):
                blob[rng.randrange(len(blob))] = rng.randrange(256)
        bad.write_bytes(bytes(blob))
        before = _listing(tmp_path)
        for action in (
            lambda: open_workflow_bundle(bad).read_flows(),
            lambda: unpack_workflow_bundle(bundle_path=bad, out_dir=tmp_path / "o" / "out"),
        ):
            try:
                action()
            except WorkflowBundleError:
                assert _listing(tmp_path) == before
        with contextlib.suppress(WorkflowBundleRegistryError):
            WorkflowBundleRegistry(tmp_path / "reg").install(bad, overwrite=True)
        for leftover in (tmp_path / "o", tmp_path / "reg"):
            if leftover.exists():
                assert not [p for p in leftover.rglob("*") if ".unpack" in p.name or ".tmp" in p.name]
        if (tmp_path / "o").exists():
            shutil.rmtree(tmp_path / "o")


# -- file / directory clashes --------------------------------------------------------------------
def test_member_used_as_file_and_directory_refused(tmp_path: Path) -> None:
    bundle = _good(tmp_path / "clash.flow", extra=[("assets/a", b"file"), ("assets/a/b", b"nested")])
    with pytest.raises(WorkflowBundleError, match="as a directory"):
        open_workflow_bundle(bundle)
    _assert_unpack_refused(bundle, tmp_path, match="as a directory")
    _assert_install_refused(bundle, tmp_path)


def test_target_that_is_a_file_is_left_alone(tmp_path: Path) -> None:
    bundle = _good(tmp_path / "ok.flow")
    target = tmp_path / "out"
    target.write_text("precious")
    before = _listing(tmp_path)
    with pytest.raises(WorkflowBundleError, match="not a directory"):
        unpack_workflow_bundle(bundle_path=bundle, out_dir=target)
    assert target.read_text() == "precious" and _listing(tmp_path) == before


def test_existing_output_with_a_file_where_a_directory_goes(tmp_path: Path) -> None:
    bundle = _good(tmp_path / "ok.flow")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("old")
    (out / "flows").write_text("a file, not a directory")
    with pytest.raises(WorkflowBundleError, match="clashes"):
        unpack_workflow_bundle(bundle_path=bundle, out_dir=out)
    assert (out / "manifest.json").read_text() == "old"  # nothing moved: every target checked first
    assert _listing(out) == ["flows", "manifest.json"] and _listing(tmp_path) == ["ok.flow", "out"]


def test_successful_unpack_renames_into_place(tmp_path: Path) -> None:
    bundle = _good(tmp_path / "ok.flow")
    out = unpack_workflow_bundle(bundle_path=bundle, out_dir=tmp_path / "a" / "b" / "out")
    assert json.loads((out / "flows" / "main.json").read_text()) == FLOW
    assert _listing(tmp_path / "a" / "b") == ["out"]  # no staging directory left
    again = unpack_workflow_bundle(bundle_path=bundle, out_dir=out)  # merge into a non-empty directory
    assert open_workflow_bundle(again).read_flows() == {"main": FLOW}
    assert _listing(tmp_path / "a" / "b") == ["out"]


# -- hostile manifests ---------------------------------------------------------------------------
DEEP = 200_000


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * DEEP + b"]" * DEEP, id="deeply-nested-array"),
        pytest.param(
            json.dumps(_manifest())[:-1].encode() + b', "x": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}",
            id="deeply-nested-metadata",
        ),
        pytest.param(
            json.dumps(_manifest())[:-1].encode() + b', "n": ' + b"7" * 5000 + b"}", id="5000-digit-integer"
        ),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"[]", id="array"),
    ],
)
def test_unparsable_manifest_refused(tmp_path: Path, raw: bytes) -> None:
    bundle = _zip(
        tmp_path / "m.flow", [("manifest.json", raw), ("flows/main.json", json.dumps(FLOW).encode())]
    )
    with pytest.raises(WorkflowBundleError):
        open_workflow_bundle(bundle)
    _assert_unpack_refused(bundle, tmp_path)
    _assert_install_refused(bundle, tmp_path)
    directory = tmp_path / "as_dir"
    (directory / "flows").mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_bytes(raw)
    (directory / "flows" / "main.json").write_text(json.dumps(FLOW))
    with pytest.raises(WorkflowBundleError):
        open_workflow_bundle(directory)


@pytest.mark.parametrize(
    "overrides",
    [
        {"default_entrypoint": ["main"]},
        {"default_entrypoint": {"a": 1}},
        {"entrypoints": [1, 2]},
        {"entrypoints": [{"flow_id": ["main"]}]},
        {"entrypoints": [{"flow_id": "main", "interfaces": {"a": 1}}]},
        {"entrypoints": [{"flow_id": "main", "name": 5}]},
        {"entrypoints": "main"},
        {"flows": ["flows/main.json"]},
        {"flows": {"main": 7}},
        {"bundle_id": {"x": 1}},
        {"bundle_version": 10**20},
        {"bundle_format_version": {"v": 1}},
        {"created_at": 12},
        {"metadata": [1]},
        {"assets": {"a": None}},
    ],
)
def test_wrong_types_in_manifest_refused(tmp_path: Path, overrides: dict[str, Any]) -> None:
    raw = json.dumps(_manifest(**overrides)).encode()
    bundle = _zip(
        tmp_path / "w.flow", [("manifest.json", raw), ("flows/main.json", json.dumps(FLOW).encode())]
    )
    with pytest.raises(WorkflowBundleError):
        open_workflow_bundle(bundle)
    _assert_unpack_refused(bundle, tmp_path)
    _assert_install_refused(bundle, tmp_path)


def test_hostile_flow_json_refused_on_read(tmp_path: Path) -> None:
    deep = b"[" * DEEP + b"]" * DEEP
    huge = b'{"id": "main", "n": ' + b"9" * 5000 + b"}"
    for raw in (deep, huge, b"\xff\xfe"):
        bundle = _zip(
            tmp_path / "f.flow",
            [("manifest.json", json.dumps(_manifest()).encode()), ("flows/main.json", raw)],
        )
        opened = open_workflow_bundle(bundle)
        with pytest.raises(WorkflowBundleError):
            opened.read_flows()


def test_huge_version_is_refused_by_the_registry(tmp_path: Path) -> None:
    raw = json.dumps(_manifest(bundle_version="1" * 5000 + ".0.0")).encode()
    bundle = _zip(
        tmp_path / "v.flow", [("manifest.json", raw), ("flows/main.json", json.dumps(FLOW).encode())]
    )
    _assert_install_refused(bundle, tmp_path)


def test_long_numeric_versions_sort_without_int_conversion(tmp_path: Path) -> None:
    registry = WorkflowBundleRegistry(tmp_path / "reg")
    for version in ("9" * 60 + ".0.0", "1" + "0" * 60 + ".0.0", "2.0.0-" + "7" * 80):
        raw = json.dumps(_manifest(bundle_version=version)).encode()
        blob = io.BytesIO()
        with zipfile.ZipFile(blob, "w") as zf:
            zf.writestr("manifest.json", raw)
            zf.writestr("flows/main.json", json.dumps(FLOW))
        registry.install_bytes(blob.getvalue())
    assert registry.resolve_bundle("demo").bundle_version == "1" + "0" * 60 + ".0.0"
