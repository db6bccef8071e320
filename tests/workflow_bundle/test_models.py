"""Manifest model: round trip, camelCase aliases, validation errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from abstractruntime.errors import AbstractRuntimeError
from abstractruntime.workflow_bundle import (
    WORKFLOW_BUNDLE_FORMAT_VERSION_V1,
    WorkflowBundleError,
    workflow_bundle_manifest_from_dict,
    workflow_bundle_manifest_to_dict,
)

Factory = Callable[..., dict[str, Any]]


def test_round_trip_is_stable(manifest_factory: Factory) -> None:
    raw = manifest_factory(assets={"b": "assets/b.png", "a": "assets/a.txt"}, metadata={"k": 1})
    manifest = workflow_bundle_manifest_from_dict(raw)
    out = workflow_bundle_manifest_to_dict(manifest)
    assert out["bundle_format_version"] == WORKFLOW_BUNDLE_FORMAT_VERSION_V1 == "1"
    assert list(out["assets"]) == ["a", "b"]
    assert "default_entrypoint" not in out
    assert workflow_bundle_manifest_to_dict(workflow_bundle_manifest_from_dict(out)) == out
    assert manifest.flow_path_for("main") == "flows/main.json"
    assert manifest.flow_path_for("nope") is None
    assert manifest.artifact_path_for("main") is None


def test_camel_case_aliases_and_defaults() -> None:
    manifest = workflow_bundle_manifest_from_dict(
        {
            "bundleFormatVersion": "1",
            "bundleId": "demo",
            "createdAt": "2026-01-01T00:00:00+00:00",
            "entrypoints": [{"flowId": "main", "name": "Main"}],
            "defaultEntrypoint": "main",
            "flows": {"main": "flows/main.json"},
        }
    )
    assert manifest.bundle_id == "demo"
    assert manifest.bundle_version == "0.0.0"
    assert manifest.default_entrypoint == "main"
    assert manifest.entrypoints[0].flow_id == "main"
    assert manifest.entrypoints[0].interfaces == []
    assert workflow_bundle_manifest_to_dict(manifest)["default_entrypoint"] == "main"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"bundle_format_version": "2"}, "bundle_format_version"),
        ({"bundle_id": ""}, "bundle_id"),
        ({"entrypoints": []}, "entrypoints"),
        ({"entrypoints": None}, "entrypoints"),
        (
            {"entrypoints": [{"flow_id": "main"}, {"flow_id": "main"}]},
            "duplicate",
        ),
        ({"default_entrypoint": "other"}, "default_entrypoint"),
        ({"entrypoints": [{"flow_id": "ghost"}]}, "not listed"),
        ({"entrypoints": [{"flow_id": "main", "interfaces": [1]}]}, "interfaces"),
        ({"flows": {"main": "../main.json"}}, "segment"),
        ({"flows": {"main": "/etc/passwd"}}, "relative"),
        ({"flows": {"main": "C:/x.json"}}, "drive"),
        ({"flows": {"main": "flows\\main.json"}}, "backslash"),
        ({"flows": {"main": "flows/./main.json"}}, "segment"),
        ({"assets": {"x": ""}}, "non-empty"),
        ({"metadata": []}, "metadata"),
        ({"flows": ["flows/main.json"]}, "flows"),
    ],
)
def test_validation_errors(manifest_factory: Factory, overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(WorkflowBundleError, match=fragment) as info:
        workflow_bundle_manifest_from_dict(manifest_factory(**overrides))
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AbstractRuntimeError)


def test_non_object_manifest() -> None:
    with pytest.raises(WorkflowBundleError):
        workflow_bundle_manifest_from_dict([])  # type: ignore[arg-type]


def test_to_dict_validates(manifest_factory: Factory) -> None:
    manifest = workflow_bundle_manifest_from_dict(manifest_factory())
    manifest.flows["main"] = "../escape.json"
    with pytest.raises(WorkflowBundleError):
        workflow_bundle_manifest_to_dict(manifest)
