"""ActorFingerprint (SPEC §7.11): the id derivation, immutability and to_dict."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from abstractruntime.errors import NotJsonSafeError
from abstractruntime.identity import ActorFingerprint


def _expected(kind: str, display_name: str | None, metadata: dict[str, object] | None) -> str:
    payload = {"kind": kind, "display_name": display_name, "metadata": metadata or {}}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "ar_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def test_from_metadata_derives_the_id_exactly() -> None:
    meta: dict[str, object] = {"team": "ops", "zone": "é", "n": [1, 2]}
    actor = ActorFingerprint.from_metadata(kind="agent", display_name="Ada", metadata=meta)
    assert actor.actor_id == _expected("agent", "Ada", meta)
    assert len(actor.actor_id) == 3 + 24 and actor.actor_id.startswith("ar_")
    assert (actor.kind, actor.display_name, actor.metadata) == ("agent", "Ada", meta)


def test_the_id_is_stable_and_depends_on_every_input() -> None:
    base = ActorFingerprint.from_metadata(kind="human", display_name="Bo", metadata={"b": 1, "a": 2})
    same = ActorFingerprint.from_metadata(kind="human", display_name="Bo", metadata={"a": 2, "b": 1})
    assert base.actor_id == same.actor_id  # key order does not matter
    assert (
        ActorFingerprint.from_metadata(kind="service", display_name="Bo", metadata={"a": 2, "b": 1}) != base
    )
    others = {
        ActorFingerprint.from_metadata(kind="human", display_name="Bob", metadata={"a": 2, "b": 1}).actor_id,
        ActorFingerprint.from_metadata(kind="human", display_name="Bo", metadata={"a": 3, "b": 1}).actor_id,
    }
    assert base.actor_id not in others
    assert ActorFingerprint.from_metadata(kind="service").actor_id == _expected("service", None, None)
    # no metadata and empty metadata derive the same id
    assert ActorFingerprint.from_metadata(kind="service", metadata={}).actor_id == _expected(
        "service", None, {}
    )
    assert ActorFingerprint.from_metadata(kind="service").actor_id == (
        ActorFingerprint.from_metadata(kind="service", metadata={}).actor_id
    )


def test_frozen_and_to_dict() -> None:
    actor = ActorFingerprint(actor_id="ar_x", kind="agent")
    assert actor.to_dict() == {"actor_id": "ar_x", "kind": "agent", "display_name": None, "metadata": None}
    with pytest.raises(dataclasses.FrozenInstanceError):
        actor.kind = "human"  # type: ignore[misc]
    built = ActorFingerprint.from_metadata(kind="agent", display_name="A", metadata={"k": "v"})
    assert built.to_dict() == {
        "actor_id": built.actor_id,
        "kind": "agent",
        "display_name": "A",
        "metadata": {"k": "v"},
    }


def test_metadata_must_be_json_safe() -> None:
    with pytest.raises(NotJsonSafeError) as info:
        ActorFingerprint.from_metadata(kind="agent", metadata={"when": {1, 2}})
    assert isinstance(info.value, TypeError)
