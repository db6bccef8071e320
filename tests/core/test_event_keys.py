"""Event wait keys (SPEC §4.11 "Wait keys")."""

from __future__ import annotations

import pytest

from abstractruntime.core.event_keys import (
    EVENT_SCOPES,
    build_event_wait_key,
    normalize_event_scope,
    resolve_scope_id,
    wildcard_event_wait_key,
)
from abstractruntime.errors import InvalidEventKeyError


def test_scopes() -> None:
    assert EVENT_SCOPES == ("session", "workflow", "run", "global")


def test_default_scope_is_session() -> None:
    assert build_event_wait_key(name="ping", session_id="s1") == "evt:session:s1:ping"


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("session", "evt:session:S:done"),
        ("workflow", "evt:workflow:W:done"),
        ("run", "evt:run:R:done"),
        ("global", "evt:global:global:done"),
    ],
)
def test_scope_ids(scope: str, expected: str) -> None:
    key = build_event_wait_key(scope=scope, name="done", session_id="S", workflow_id="W", run_id="R")
    assert key == expected


def test_scope_and_name_are_normalised() -> None:
    assert build_event_wait_key(scope="  RUN ", name="  a.b ", run_id="r1") == "evt:run:r1:a.b"
    assert build_event_wait_key(scope="GLOBAL", name="x") == "evt:global:global:x"


@pytest.mark.parametrize("name", ["", "   "])
def test_blank_name_raises(name: str) -> None:
    with pytest.raises(InvalidEventKeyError) as info:
        build_event_wait_key(name=name, session_id="s")
    assert isinstance(info.value, ValueError)


def test_unknown_scope_raises() -> None:
    with pytest.raises(InvalidEventKeyError, match="Unknown event scope") as info:
        build_event_wait_key(scope="tenant", name="x", session_id="s")
    assert info.value.scope == "tenant"


@pytest.mark.parametrize(
    ("scope", "kwargs"),
    [
        ("session", {}),
        ("session", {"session_id": "  "}),
        ("workflow", {"session_id": "s", "run_id": "r"}),
        ("run", {"run_id": ""}),
    ],
)
def test_empty_scope_id_raises(scope: str, kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        build_event_wait_key(scope=scope, name="x", **kwargs)


def test_resolve_scope_id() -> None:
    assert resolve_scope_id(scope="session", session_id=" s ", workflow_id=None, run_id=None) == "s"
    assert resolve_scope_id(scope="workflow", session_id=None, workflow_id="w", run_id=None) == "w"
    assert resolve_scope_id(scope="global", session_id=None, workflow_id=None, run_id=None) == "global"
    with pytest.raises(InvalidEventKeyError):
        resolve_scope_id(scope="nope", session_id="s", workflow_id=None, run_id=None)


def test_normalize_event_scope() -> None:
    assert normalize_event_scope(None) == "session"
    assert normalize_event_scope("") == "session"
    assert normalize_event_scope(" Workflow ") == "workflow"


def test_wildcard_key() -> None:
    assert wildcard_event_wait_key(scope="session", scope_id="s1") == "evt:session:s1:*"
    assert wildcard_event_wait_key(scope="Global", scope_id="global") == "evt:global:global:*"
    with pytest.raises(InvalidEventKeyError):
        wildcard_event_wait_key(scope="session", scope_id=" ")
    with pytest.raises(InvalidEventKeyError):
        wildcard_event_wait_key(scope="bogus", scope_id="x")


def test_wildcard_matches_built_key_prefix() -> None:
    exact = build_event_wait_key(scope="workflow", name="evt1", workflow_id="wf")
    wildcard = wildcard_event_wait_key(scope="workflow", scope_id="wf")
    assert exact.rsplit(":", 1)[0] == wildcard.rsplit(":", 1)[0]
