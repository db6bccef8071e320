"""Artifact stores (SPEC §7.6): ids, references, dedup, legacy layout, gc, id validation.

Listing, search, last-store-wins and delete_by_run are the artifact contract
(tests/contract/test_artifact_contract.py), run on every backend."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from abstractruntime.errors import CorruptArtifactError, InvalidArtifactIdError
from abstractruntime.storage.artifacts import (
    Artifact,
    ArtifactMetadata,
    ArtifactStore,
    FileArtifactStore,
    InMemoryArtifactStore,
    artifact_ref,
    compute_artifact_id,
    get_artifact_id,
    is_artifact_ref,
    resolve_artifact,
)
from abstractruntime.testing import FakeClock

START = "2026-01-01T00:00:00+00:00"


def _memory(tmp_path: Path, clock: FakeClock) -> ArtifactStore:
    return InMemoryArtifactStore(clock=clock)


def _files(tmp_path: Path, clock: FakeClock) -> ArtifactStore:
    return FileArtifactStore(tmp_path, clock=clock)


STORES: dict[str, Callable[[Path, FakeClock], ArtifactStore]] = {"memory": _memory, "files": _files}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    return STORES[request.param](tmp_path, FakeClock(START))


# -- ids and references ----------------------------------------------------------------------------
def test_compute_artifact_id_matches_an_independent_sha256() -> None:
    content = "héllo wörld".encode()
    assert compute_artifact_id(content) == hashlib.sha256(content).hexdigest()[:32]
    scoped = hashlib.sha256(b"run-1" + b"\x00" + content).hexdigest()[:32]
    assert compute_artifact_id(content, run_id="run-1") == scoped
    assert len(scoped) == 32 and scoped != compute_artifact_id(content)


def test_store_computes_ids_and_blob_ids(store: ArtifactStore) -> None:
    meta = store.store(b"abc", content_type="text/plain", run_id="r1", tags={"k": "v"})
    assert meta.artifact_id == hashlib.sha256(b"r1\x00abc").hexdigest()[:32]
    assert meta.blob_id == hashlib.sha256(b"abc").hexdigest()
    assert (meta.size_bytes, meta.run_id, meta.tags, meta.content_type) == (3, "r1", {"k": "v"}, "text/plain")
    assert meta.created_at == START
    explicit = store.store(b"abc", artifact_id="my-id_1")
    assert explicit.artifact_id == "my-id_1"
    loaded = store.load("my-id_1")
    assert loaded is not None and loaded.content == b"abc"


def test_references() -> None:
    ref = artifact_ref("abc")
    assert ref == {"$artifact": "abc"}
    assert is_artifact_ref(ref)
    assert is_artifact_ref({"$artifact": "abc", "content_type": "text/plain", "filename": "x.txt"})
    assert not is_artifact_ref({"artifact": "abc"})
    assert not is_artifact_ref("abc") and not is_artifact_ref(["$artifact"])
    assert get_artifact_id({"$artifact": "abc", "filename": "f"}) == "abc"


def test_resolve_artifact(store: ArtifactStore) -> None:
    meta = store.store_text("hello")
    found = resolve_artifact(artifact_ref(meta.artifact_id), store)
    assert found is not None and found.as_text() == "hello"
    assert resolve_artifact({"$artifact": "0" * 32}, store) is None
    assert resolve_artifact("not a ref", store) is None


# -- records -------------------------------------------------------------------------------------
def test_metadata_round_trip_and_artifact_accessors() -> None:
    meta = ArtifactMetadata("a1", "application/json", 7, START, blob_id="b", run_id="r", tags={"x": "y"})
    data = meta.to_dict()
    assert data == {
        "artifact_id": "a1",
        "content_type": "application/json",
        "size_bytes": 7,
        "created_at": START,
        "blob_id": "b",
        "run_id": "r",
        "tags": {"x": "y"},
    }
    assert ArtifactMetadata.from_dict(data) == meta
    legacy = ArtifactMetadata.from_dict({"artifact_id": "a2", "content_type": "text/plain", "size_bytes": 1})
    assert legacy.blob_id is None and legacy.tags == {} and legacy.run_id is None
    with pytest.raises(CorruptArtifactError) as info:
        ArtifactMetadata.from_dict({"content_type": "x"})
    assert isinstance(info.value, ValueError)
    artifact = Artifact(meta, b'{"a": [1]}')
    assert artifact.artifact_id == "a1" and artifact.content_type == "application/json"
    assert artifact.as_json() == {"a": [1]}
    assert Artifact(meta, "é".encode("latin-1")).as_text("latin-1") == "é"


def test_text_and_json_helpers(store: ArtifactStore) -> None:
    meta = store.store_json({"b": "é", "a": [1, 2]}, run_id="r")
    assert meta.content_type == "application/json"
    loaded = store.load(meta.artifact_id)
    assert loaded is not None and loaded.content == '{"b":"é","a":[1,2]}'.encode()
    assert store.load_json(meta.artifact_id) == {"b": "é", "a": [1, 2]}
    text = store.store_text("ünïcode")
    assert text.content_type == "text/plain"
    assert store.load_text(text.artifact_id) == "ünïcode"
    assert store.load_text("0" * 32) is None and store.load_json("0" * 32) is None


def test_get_exists_delete(store: ArtifactStore) -> None:
    meta = store.store(b"x", run_id="r")
    assert store.exists(meta.artifact_id)
    found = store.get_metadata(meta.artifact_id)
    assert found is not None and found.to_dict() == meta.to_dict()
    assert store.delete(meta.artifact_id) is True
    assert store.delete(meta.artifact_id) is False
    assert not store.exists(meta.artifact_id)
    assert store.load(meta.artifact_id) is None and store.get_metadata(meta.artifact_id) is None


def test_in_memory_store_is_thread_safe() -> None:
    store = InMemoryArtifactStore()

    def work(n: int) -> None:
        for i in range(50):
            meta = store.store(f"{i % 5}".encode(), run_id=f"r{n}")
            if i % 3 == 0:
                store.delete(meta.artifact_id)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for meta in store.list_all():
        loaded = store.load(meta.artifact_id)
        assert loaded is not None and loaded.content.decode() in {"0", "1", "2", "3", "4"}


# -- the file layout -----------------------------------------------------------------------------------
def test_file_layout_and_dedup_across_runs(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    content = b"x" * 1000
    one = store.store(content, run_id="run-a")
    two = store.store(content, run_id="run-b")
    blob = tmp_path / "artifacts" / "blobs" / f"{hashlib.sha256(content).hexdigest()}.bin"
    assert blob.read_bytes() == content
    assert sorted(p.name for p in (tmp_path / "artifacts" / "blobs").iterdir()) == [blob.name]
    for meta in (one, two):
        ref = tmp_path / "artifacts" / "refs" / f"{meta.artifact_id}.meta"
        text = ref.read_text()
        assert "\n  " in text  # indented JSON
        assert json.loads(text) == meta.to_dict()
    reopened = FileArtifactStore(tmp_path)
    loaded = reopened.load(two.artifact_id)
    assert loaded is not None and loaded.content == content and loaded.metadata.run_id == "run-b"


def test_an_existing_blob_is_not_rewritten_unless_damaged(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    meta = store.store(b"payload", run_id="a")
    blob = tmp_path / "artifacts" / "blobs" / f"{meta.blob_id}.bin"
    inode = blob.stat().st_ino
    store.store(b"payload", run_id="b")
    assert blob.stat().st_ino == inode  # not replaced
    blob.write_bytes(b"pay")  # truncated by something outside the store
    store.store(b"payload", run_id="c")
    assert blob.read_bytes() == b"payload"


def test_legacy_layout_is_still_read(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    root.mkdir()
    legacy = {"artifact_id": "legacy1", "content_type": "text/plain", "size_bytes": 3,
              "created_at": START, "run_id": "old-run", "tags": {"a": "b"}}  # fmt: skip
    (root / "legacy1.meta").write_text(json.dumps(legacy))
    (root / "legacy1.bin").write_bytes(b"old")
    store = FileArtifactStore(tmp_path)
    assert store.exists("legacy1")
    loaded = store.load("legacy1")
    assert loaded is not None and loaded.as_text() == "old" and loaded.metadata.blob_id is None
    assert [m.artifact_id for m in store.list_by_run("old-run")] == ["legacy1"]
    assert store.search(tags={"a": "b"})[0].artifact_id == "legacy1"
    assert store.delete("legacy1") is True
    assert not (root / "legacy1.meta").exists() and not (root / "legacy1.bin").exists()
    assert store.load("legacy1") is None


@pytest.mark.parametrize(
    "bad", ["../etc/passwd", "a/b", "..", "", "a.b", "a b", "ä", "x\x00y", "/abs", "a\\b"]
)
def test_path_forming_ids_are_validated(tmp_path: Path, bad: str) -> None:
    store = FileArtifactStore(tmp_path)
    for call in (store.load, store.get_metadata, store.exists, store.delete):
        with pytest.raises(InvalidArtifactIdError) as info:
            call(bad)
        assert isinstance(info.value, ValueError) and info.value.artifact_id == bad
    with pytest.raises(InvalidArtifactIdError):
        store.store(b"x", artifact_id=bad or "../x")
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_artifact_id_errors_say_what_is_wrong(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    with pytest.raises(InvalidArtifactIdError, match=r"^Invalid artifact_id '\.\./x': only letters"):
        store.load("../x")
    with pytest.raises(InvalidArtifactIdError, match=r"^Invalid artifact_id 'a b'"):
        store.store(b"x", artifact_id="a b")
    for empty in ("", None):
        with pytest.raises(ValueError, match=r"^Invalid artifact_id: artifact_id cannot be empty$") as info:
            store.get_metadata(empty)  # type: ignore[arg-type]
        assert isinstance(info.value, InvalidArtifactIdError) and info.value.artifact_id == empty
    with pytest.raises(InvalidArtifactIdError, match=r"^Invalid artifact_id 7: "):
        store.exists(7)  # type: ignore[arg-type]


def test_a_tampered_blob_id_in_metadata_is_not_followed(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    meta = store.store(b"secret", run_id="r")
    ref = tmp_path / "artifacts" / "refs" / f"{meta.artifact_id}.meta"
    data = json.loads(ref.read_text())
    data["blob_id"] = "../../outside"
    ref.write_text(json.dumps(data))
    (tmp_path / "outside.bin").write_bytes(b"leak")
    assert store.load(meta.artifact_id) is None


def test_unreadable_metadata_is_skipped_by_lists(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = FileArtifactStore(tmp_path)
    good = store.store(b"good", run_id="r")
    (tmp_path / "artifacts" / "refs" / "broken.meta").write_text("{not json")
    assert [m.artifact_id for m in store.list_all()] == [good.artifact_id]
    assert store.get_metadata("broken") is None
    assert "broken.meta" in caplog.text


def test_gc_reports_and_removes_unreferenced_blobs(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    kept = store.store(b"kept" * 10, run_id="r")
    gone = store.store(b"gone" * 25, run_id="r")
    shared_a = store.store(b"shared", run_id="a")
    store.store(b"shared", run_id="b")
    store.delete(gone.artifact_id)
    store.delete(shared_a.artifact_id)  # the other run still references the blob
    blobs = tmp_path / "artifacts" / "blobs"
    report = store.gc()
    assert report == {
        "dry_run": True,
        "blobs_total": 3,
        "blobs_referenced": 2,
        "blobs_deleted": 1,
        "bytes_reclaimed": 100,
        "errors": [],
    }
    assert len(list(blobs.iterdir())) == 3  # a dry run deletes nothing
    report = store.gc(dry_run=False)
    assert report["dry_run"] is False and report["blobs_deleted"] == 1 and report["bytes_reclaimed"] == 100
    assert sorted(p.name for p in blobs.iterdir()) == sorted(f"{m.blob_id}.bin" for m in (kept, shared_a))
    assert store.gc(dry_run=False)["blobs_deleted"] == 0
    loaded = store.load(kept.artifact_id)
    assert loaded is not None and loaded.content == b"kept" * 10


def test_gc_keeps_young_blobs_and_stops_on_unreadable_metadata(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path)
    orphan = store.store(b"orphan", run_id="r")
    store.delete(orphan.artifact_id)
    assert store.gc(dry_run=False, min_age_s=3600)["blobs_deleted"] == 0
    (tmp_path / "artifacts" / "refs" / "broken.meta").write_text("{")
    report = store.gc(dry_run=False)
    assert report["blobs_deleted"] == 0 and len(report["errors"]) == 1
    assert (tmp_path / "artifacts" / "blobs" / f"{orphan.blob_id}.bin").exists()
