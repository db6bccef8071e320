"""RuntimeConfig and its limits dict (SPEC §5.4)."""

from __future__ import annotations

import dataclasses

import pytest

from abstractruntime.core.config import DEFAULT_RECOMMENDED_MAX_INPUT_TOKENS, RuntimeConfig

LIMIT_KEYS = {
    "max_iterations",
    "current_iteration",
    "max_tokens",
    "max_output_tokens",
    "max_input_tokens",
    "estimated_tokens_used",
    "max_history_messages",
    "warn_iterations_pct",
    "warn_tokens_pct",
}


def test_fields_and_defaults() -> None:
    defaults = {f.name: f for f in dataclasses.fields(RuntimeConfig)}
    assert list(defaults) == [
        "max_iterations",
        "warn_iterations_pct",
        "max_tokens",
        "max_output_tokens",
        "max_input_tokens",
        "warn_tokens_pct",
        "max_history_messages",
        "provider",
        "model",
        "model_capabilities",
    ]
    config = RuntimeConfig()
    assert config.max_iterations == 50
    assert config.warn_iterations_pct == 80
    assert config.max_tokens is None
    assert config.max_output_tokens is None
    assert config.max_input_tokens is None
    assert config.warn_tokens_pct == 80
    assert config.max_history_messages == -1
    assert config.provider is None
    assert config.model is None
    assert config.model_capabilities == {}
    assert RuntimeConfig().model_capabilities is not config.model_capabilities


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RuntimeConfig().max_iterations = 3  # type: ignore[misc]


def test_recommended_cap_constant() -> None:
    assert DEFAULT_RECOMMENDED_MAX_INPUT_TOKENS == -1


def test_default_limits_dict() -> None:
    limits = RuntimeConfig().to_limits_dict()
    assert set(limits) == LIMIT_KEYS
    assert limits == {
        "max_iterations": 50,
        "current_iteration": 0,
        "max_tokens": 32768,
        "max_output_tokens": None,
        "max_input_tokens": None,
        "estimated_tokens_used": 0,
        "max_history_messages": -1,
        "warn_iterations_pct": 80,
        "warn_tokens_pct": 80,
    }


def test_fields_are_copied_to_limits() -> None:
    config = RuntimeConfig(
        max_iterations=7, warn_iterations_pct=60, warn_tokens_pct=90, max_history_messages=20
    )
    limits = config.to_limits_dict()
    assert limits["max_iterations"] == 7
    assert limits["warn_iterations_pct"] == 60
    assert limits["warn_tokens_pct"] == 90
    assert limits["max_history_messages"] == 20


def test_max_tokens_fallback_chain() -> None:
    assert RuntimeConfig(max_tokens=1000).to_limits_dict()["max_tokens"] == 1000
    caps = {"max_tokens": 8192, "max_output_tokens": 2048}
    assert RuntimeConfig(model_capabilities=caps).to_limits_dict()["max_tokens"] == 8192
    assert RuntimeConfig(max_tokens=1000, model_capabilities=caps).to_limits_dict()["max_tokens"] == 1000
    assert RuntimeConfig(model_capabilities={"max_tokens": None}).to_limits_dict()["max_tokens"] == 32768


def test_max_output_tokens_fallback() -> None:
    caps = {"max_output_tokens": 2048}
    assert RuntimeConfig(model_capabilities=caps).to_limits_dict()["max_output_tokens"] == 2048
    assert (
        RuntimeConfig(max_output_tokens=512, model_capabilities=caps).to_limits_dict()["max_output_tokens"]
        == 512
    )
    assert RuntimeConfig().to_limits_dict()["max_output_tokens"] is None


@pytest.mark.parametrize(
    ("max_tokens", "max_output", "max_input", "expected"),
    [
        (10_000, 1_000, 5_000, 5_000),  # inside the range
        (10_000, 1_000, 9_000, 8_744),  # 10000 - 1000 - 256
        (10_000, 1_000, -5, 0),  # lower bound
        (1_000, 900, 50, 0),  # upper bound below zero -> 0
        (10_000, 1_000, 8_744, 8_744),  # exactly at the bound
    ],
)
def test_max_input_tokens_clamp(max_tokens: int, max_output: int, max_input: int, expected: int) -> None:
    config = RuntimeConfig(max_tokens=max_tokens, max_output_tokens=max_output, max_input_tokens=max_input)
    assert config.to_limits_dict()["max_input_tokens"] == expected


def test_clamp_uses_resolved_capability_values() -> None:
    config = RuntimeConfig(
        max_input_tokens=100_000, model_capabilities={"max_tokens": 8192, "max_output_tokens": 2048}
    )
    assert config.to_limits_dict()["max_input_tokens"] == 8192 - 2048 - 256


def test_clamp_uses_default_max_tokens() -> None:
    config = RuntimeConfig(max_input_tokens=100_000, max_output_tokens=1000)
    assert config.to_limits_dict()["max_input_tokens"] == 32768 - 1000 - 256


def test_no_clamp_without_known_output_budget() -> None:
    assert RuntimeConfig(max_input_tokens=100_000).to_limits_dict()["max_input_tokens"] == 100_000
    assert RuntimeConfig(max_input_tokens=-3).to_limits_dict()["max_input_tokens"] == -3


def test_no_clamp_when_capability_values_are_not_ints() -> None:
    config = RuntimeConfig(
        max_input_tokens=100_000, model_capabilities={"max_tokens": "8192", "max_output_tokens": 10}
    )
    limits = config.to_limits_dict()
    assert limits["max_tokens"] == "8192"
    assert limits["max_input_tokens"] == 100_000


def test_max_input_tokens_not_derived_when_not_given() -> None:
    config = RuntimeConfig(max_tokens=10_000, max_output_tokens=1_000)
    assert config.to_limits_dict()["max_input_tokens"] is None


def test_with_capabilities_returns_copy() -> None:
    base = RuntimeConfig(max_iterations=9, model_capabilities={"max_tokens": 1})
    caps = {"max_tokens": 4096}
    updated = base.with_capabilities(caps)
    assert updated is not base
    assert updated.model_capabilities == {"max_tokens": 4096}
    assert updated.max_iterations == 9
    assert base.model_capabilities == {"max_tokens": 1}
    caps["max_tokens"] = 1
    assert updated.model_capabilities == {"max_tokens": 4096}
    assert updated.to_limits_dict()["max_tokens"] == 4096
    assert base.with_capabilities(None).model_capabilities == {}


def test_hashable_despite_capability_dict() -> None:
    assert hash(RuntimeConfig(model_capabilities={"a": 1})) == hash(RuntimeConfig())
