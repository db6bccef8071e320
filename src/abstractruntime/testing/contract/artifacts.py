"""The artifact store contract (SPEC §7.6): what every ``ArtifactStore`` backend must do.

Subclass :class:`ArtifactStoreContract` and give an ``artifact_factory`` fixture returning an
:class:`ArtifactStoreFactory`::

    class TestMyArtifacts(ArtifactStoreContract):
        @pytest.fixture
        def artifact_factory(self, tmp_path):
            return ArtifactStoreFactory(name="mine", open=lambda clock: MyArtifactStore(tmp_path, clock=clock))
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from ...core.clock import Clock
from ...storage.artifacts import ArtifactMetadata, ArtifactStore, compute_artifact_id
from ..clock import FakeClock

__all__ = ["ArtifactStoreContract", "ArtifactStoreFactory"]

START = "2026-01-01T00:00:00+00:00"


@dataclass
class ArtifactStoreFactory:
    """Opens the artifact store under test.

    Args:
        name: a label for reports.
        open: ``open(clock)`` returns a store over the same storage on every call, stamping
            ``created_at`` from ``clock``.
        durable: True when artifacts survive ``open`` being called again (a restart).
    """

    name: str
    open: Callable[[Clock], ArtifactStore]
    durable: bool = True


def _ids(found: list[ArtifactMetadata]) -> list[str]:
    return [m.artifact_id for m in found]


class ArtifactStoreContract:
    """Contract tests for one ``ArtifactStore`` backend (needs an ``artifact_factory`` fixture)."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock(START)

    @pytest.fixture
    def artifacts(self, artifact_factory: ArtifactStoreFactory, clock: FakeClock) -> ArtifactStore:
        return artifact_factory.open(clock)

    def test_round_trip_of_bytes_and_metadata(self, artifacts: ArtifactStore) -> None:
        content = b"\x00\xffbinary\x00" + "héllo".encode()
        tags: dict[str, object] = {"kind": "shot", "n": 3}  # values are stored as str
        meta = artifacts.store(content, content_type="image/png", run_id="r1", tags=tags)  # type: ignore[arg-type]
        assert meta.artifact_id == compute_artifact_id(content, run_id="r1")
        assert meta.blob_id == hashlib.sha256(content).hexdigest()
        assert (meta.size_bytes, meta.run_id, meta.tags) == (len(content), "r1", {"kind": "shot", "n": "3"})
        loaded = artifacts.load(meta.artifact_id)
        assert loaded is not None and loaded.content == content
        assert loaded.metadata == meta == artifacts.get_metadata(meta.artifact_id)
        assert artifacts.exists(meta.artifact_id)
        empty = artifacts.store(b"", artifact_id="empty")
        assert empty.run_id is None and artifacts.load_text("empty") == ""
        assert artifacts.load("missing") is None and artifacts.get_metadata("missing") is None

    def test_text_and_json_helpers(self, artifacts: ArtifactStore) -> None:
        meta = artifacts.store_json({"a": [1, "ü"]}, run_id="r1")
        assert meta.content_type == "application/json"
        assert artifacts.load_json(meta.artifact_id) == {"a": [1, "ü"]}
        text = artifacts.store_text("línea", artifact_id="t1")
        assert (text.content_type, artifacts.load_text("t1")) == ("text/plain", "línea")

    def test_last_store_wins_and_runs_do_not_share_ids(self, artifacts: ArtifactStore) -> None:
        first = artifacts.store(b"same", run_id="r1", tags={"v": "1"})
        again = artifacts.store(b"same", run_id="r1", content_type="text/plain", tags={"v": "2"})
        other = artifacts.store(b"same", run_id="r2")
        assert first.artifact_id == again.artifact_id != other.artifact_id
        assert first.blob_id == other.blob_id
        meta = artifacts.get_metadata(first.artifact_id)
        assert meta is not None and (meta.tags, meta.content_type) == ({"v": "2"}, "text/plain")
        replaced = artifacts.store(b"new bytes", artifact_id=first.artifact_id)
        loaded = artifacts.load(first.artifact_id)
        assert loaded is not None and loaded.content == b"new bytes" and loaded.metadata == replaced
        assert len(artifacts.list_all()) == 2
        assert artifacts.delete(first.artifact_id) and not artifacts.delete(first.artifact_id)
        assert not artifacts.exists(first.artifact_id)
        kept = artifacts.load(other.artifact_id)
        assert kept is not None and kept.content == b"same"

    def test_lists_are_newest_first_and_delete_by_run(
        self, artifacts: ArtifactStore, clock: FakeClock
    ) -> None:
        ids = []
        for i in range(4):
            ids.append(artifacts.store(f"c{i}".encode(), run_id="r1" if i < 3 else "r2").artifact_id)
            clock.advance(1)
        assert _ids(artifacts.list_by_run("r1")) == [ids[2], ids[1], ids[0]]
        assert _ids(artifacts.list_all()) == [ids[3], ids[2], ids[1], ids[0]]
        assert _ids(artifacts.list_all(limit=2)) == [ids[3], ids[2]]
        assert artifacts.list_all(limit=0) == [] and artifacts.list_by_run("nobody") == []
        assert artifacts.delete_by_run("r1") == 3
        assert artifacts.delete_by_run("r1") == 0
        assert _ids(artifacts.list_all()) == [ids[3]]

    def test_search_matches_metadata_exactly_newest_first(
        self, artifacts: ArtifactStore, clock: FakeClock
    ) -> None:
        a = artifacts.store(b"a", content_type="text/plain", run_id="r1", tags={"kind": "note", "lang": "en"})
        clock.advance(1)
        b = artifacts.store(b"b", content_type="application/json", run_id="r1", tags={"kind": "note"})
        clock.advance(1)
        c = artifacts.store(b"c", content_type="text/plain", run_id="r2", tags={"kind": "note", "lang": "en"})
        clock.advance(1)
        artifacts.store(b"d", content_type="text/plain", run_id="r2", tags={"kind": "Note", "x": "note"})
        assert _ids(artifacts.search(tags={"kind": "note"})) == [c.artifact_id, b.artifact_id, a.artifact_id]
        assert _ids(artifacts.search(run_id="r1")) == [b.artifact_id, a.artifact_id]
        found = artifacts.search(content_type="text/plain", tags={"lang": "en"})
        assert _ids(found) == [c.artifact_id, a.artifact_id]
        assert _ids(artifacts.search(run_id="r1", content_type="text/plain")) == [a.artifact_id]
        assert _ids(artifacts.search(tags={"kind": "note"}, limit=1)) == [c.artifact_id]
        assert artifacts.search(tags={"kind": "missing"}) == [] and artifacts.search(limit=0) == []
        assert len(artifacts.search(tags={})) == 4

    def test_store_refuses_non_bytes(self, artifacts: ArtifactStore) -> None:
        with pytest.raises(TypeError):
            artifacts.store("text, not bytes")  # type: ignore[arg-type]
        assert artifacts.list_all() == []

    def test_artifacts_survive_a_reopen(
        self, artifact_factory: ArtifactStoreFactory, clock: FakeClock
    ) -> None:
        if not artifact_factory.durable:
            pytest.skip(f"{artifact_factory.name} is not durable")
        meta = artifact_factory.open(clock).store(b"kept", run_id="r1", tags={"k": "v"})
        reopened = artifact_factory.open(clock)
        loaded = reopened.load(meta.artifact_id)
        assert loaded is not None and loaded.content == b"kept" and loaded.metadata == meta
        assert _ids(reopened.search(run_id="r1", tags={"k": "v"})) == [meta.artifact_id]
