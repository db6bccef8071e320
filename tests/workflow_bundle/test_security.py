"""Malicious bundles: path traversal, symlinks, oversize members and zip bombs are refused."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.workflow_bundle import (
    WorkflowBundleError,
    WorkflowBundleRegistry,
    WorkflowBundleRegistryError,
    _safety,
    open_workflow_bundle,
    unpack_workflow_bundle,
)

ZipWriter = Callable[[Path, list[tuple[zipfile.ZipInfo | str, bytes]]], Path]
FLOW = json.dumps({"id": "main", "nodes": [], "edges": []}).encode()


def _good_members(
    manifest_factory: Callable[..., dict[str, Any]],
) -> list[tuple[zipfile.ZipInfo | str, bytes]]:
    return [("manifest.json", json.dumps(manifest_factory()).encode()), ("flows/main.json", FLOW)]


def _assert_refused(path: Path, tmp_path: Path) -> None:
    with pytest.raises(WorkflowBundleError):
        open_workflow_bundle(path)
    out = tmp_path / "unpacked"
    with pytest.raises(WorkflowBundleError):
        unpack_workflow_bundle(bundle_path=path, out_dir=out)
    assert not out.exists() or not any(out.rglob("*"))
    with pytest.raises(WorkflowBundleRegistryError):
        WorkflowBundleRegistry(tmp_path / "registry").install(path)
    assert not list((tmp_path / "registry").glob("*"))


@pytest.mark.parametrize(
    "name",
    [
        "../evil.json",
        "flows/../../evil.json",
        "/abs/evil.json",
        "C:/evil.json",
        "flows\\evil.json",
        "flows/./x.json",
    ],
)
def test_traversal_members_refused(
    tmp_path: Path, zip_writer: ZipWriter, manifest_factory: Callable[..., dict[str, Any]], name: str
) -> None:
    path = zip_writer(tmp_path / "bad.flow", [*_good_members(manifest_factory), (name, b"pwned")])
    _assert_refused(path, tmp_path)
    assert not (tmp_path / "evil.json").exists()


def test_traversal_in_manifest_paths_refused(
    tmp_path: Path, zip_writer: ZipWriter, manifest_factory: Callable[..., dict[str, Any]]
) -> None:
    manifest = manifest_factory(flows={"main": "../main.json"})
    path = zip_writer(tmp_path / "bad.flow", [("manifest.json", json.dumps(manifest).encode())])
    _assert_refused(path, tmp_path)


def test_symlink_member_refused(
    tmp_path: Path, zip_writer: ZipWriter, manifest_factory: Callable[..., dict[str, Any]]
) -> None:
    link = zipfile.ZipInfo("flows/link.json")
    link.external_attr = (0o120777 << 16) | 0x20
    path = zip_writer(tmp_path / "bad.flow", [*_good_members(manifest_factory), (link, b"/etc/passwd")])
    _assert_refused(path, tmp_path)


def test_oversize_member_refused_from_headers(
    tmp_path: Path,
    zip_writer: ZipWriter,
    manifest_factory: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_safety, "MAX_MEMBER_BYTES", 10_000)
    path = zip_writer(
        tmp_path / "bad.flow", [*_good_members(manifest_factory), ("assets/big.bin", b"\0" * 20_000)]
    )
    _assert_refused(path, tmp_path)


def test_total_size_limit(
    tmp_path: Path,
    zip_writer: ZipWriter,
    manifest_factory: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_safety, "MAX_TOTAL_BYTES", 30_000)
    members = [*_good_members(manifest_factory)] + [(f"assets/{i}.bin", b"\0" * 9_000) for i in range(4)]
    _assert_refused(zip_writer(tmp_path / "bad.flow", members), tmp_path)


def test_member_count_limit(
    tmp_path: Path,
    zip_writer: ZipWriter,
    manifest_factory: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_safety, "MAX_MEMBERS", 5)
    members = [*_good_members(manifest_factory)] + [(f"assets/{i}.txt", b"x") for i in range(5)]
    _assert_refused(zip_writer(tmp_path / "bad.flow", members), tmp_path)


def _lie_about_sizes(path: Path, real: int, claimed: int) -> None:
    """Rewrite every uncompressed-size field equal to ``real`` to ``claimed`` (local + central headers)."""
    blob = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (pos := blob.find(signature, start)) != -1:
            field = pos + offset
            if struct.unpack_from("<I", blob, field)[0] == real:
                struct.pack_into("<I", blob, field, claimed)
            start = pos + 4
    path.write_bytes(bytes(blob))


def test_zip_bomb_with_lying_headers_refused(
    tmp_path: Path,
    zip_writer: ZipWriter,
    manifest_factory: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_safety, "MAX_MEMBER_BYTES", 10_000)
    manifest = json.dumps(manifest_factory()).encode() + b" " * 200_000  # compresses to almost nothing
    path = zip_writer(tmp_path / "bomb.flow", [("manifest.json", manifest), ("flows/main.json", FLOW)])
    _lie_about_sizes(path, len(manifest), 100)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("manifest.json").file_size == 100  # the headers now pass the size check
    _assert_refused(path, tmp_path)


def test_streaming_limit_is_enforced(tmp_path: Path, zip_writer: ZipWriter) -> None:
    path = zip_writer(tmp_path / "z.zip", [("data.bin", b"\0" * 50_000)])
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("data.bin")
        with pytest.raises(WorkflowBundleError, match="exceeds"):
            b"".join(_safety.stream_zip_member(zf, info, limit=1_000))
        assert len(_safety.read_zip_member(zf, info)) == 50_000


def test_directory_bundle_symlink_escape_refused(
    tmp_path: Path, manifest_factory: Callable[..., dict[str, Any]]
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"secret": true}', encoding="utf-8")
    bundle = tmp_path / "bundle"
    (bundle / "flows").mkdir(parents=True)
    (bundle / "manifest.json").write_text(json.dumps(manifest_factory()), encoding="utf-8")
    try:
        os.symlink(secret, bundle / "flows" / "main.json")
    except OSError:
        pytest.skip("symlinks not supported here")
    opened = open_workflow_bundle(bundle)
    with pytest.raises(WorkflowBundleError, match="escapes"):
        opened.read_flow("main")


def test_unpack_refuses_symlinked_output_subdir(
    tmp_path: Path, zip_writer: ZipWriter, manifest_factory: Callable[..., dict[str, Any]]
) -> None:
    path = zip_writer(tmp_path / "ok.flow", _good_members(manifest_factory))
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    try:
        os.symlink(outside, out / "flows", target_is_directory=True)
    except OSError:
        pytest.skip("symlinks not supported here")
    with pytest.raises(WorkflowBundleError, match="escapes"):
        unpack_workflow_bundle(bundle_path=path, out_dir=out)
    assert not any(outside.iterdir())


@pytest.mark.parametrize("bad", ["", "/x", "\\x", "a\\b", "C:x", "a//b", "a/./b", "a/../b", "..", "a\x00b"])
def test_check_safe_relpath_rejects(bad: str) -> None:
    with pytest.raises(WorkflowBundleError):
        _safety.check_safe_relpath(bad)


def test_check_safe_relpath_accepts() -> None:
    assert _safety.check_safe_relpath("flows/a.b-c_d.json") == "flows/a.b-c_d.json"
    assert _safety.check_safe_relpath("assets/..hidden") == "assets/..hidden"
