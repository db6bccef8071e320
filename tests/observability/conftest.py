"""Fixtures for the observability tests (SPEC §10); helpers live in ``observability_helpers``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from observability_helpers import fake_tool_calls_handler

from abstractruntime import EffectType, InMemoryLedgerStore, InMemoryRunStore, Runtime
from abstractruntime.storage.artifacts import InMemoryArtifactStore
from abstractruntime.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def artifact_store() -> InMemoryArtifactStore:
    return InMemoryArtifactStore()


@pytest.fixture
def make_runtime(clock: FakeClock) -> Callable[..., Runtime]:
    """A Runtime over fresh in-memory stores with the fake tool handler; keyword arguments override."""

    def build(**kwargs: Any) -> Runtime:
        kwargs.setdefault("run_store", InMemoryRunStore())
        kwargs.setdefault("ledger_store", InMemoryLedgerStore())
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("effect_handlers", {EffectType.TOOL_CALLS: fake_tool_calls_handler})
        return Runtime(**kwargs)

    return build
