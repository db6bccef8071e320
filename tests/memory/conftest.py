"""Fixtures for the memory effect tests: a FakeClock, an InMemoryArtifactStore and runtimes over them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from memory_harness import Harness

from abstractruntime import InMemoryLedgerStore, InMemoryRunStore, Runtime
from abstractruntime.storage.artifacts import InMemoryArtifactStore
from abstractruntime.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2026-01-01T10:00:00+00:00")


@pytest.fixture
def artifacts(clock: FakeClock) -> InMemoryArtifactStore:
    return InMemoryArtifactStore(clock=clock)


@pytest.fixture
def make_runtime(clock: FakeClock, artifacts: InMemoryArtifactStore) -> Callable[..., Runtime]:
    def make(**kwargs: Any) -> Runtime:
        kwargs.setdefault("run_store", InMemoryRunStore())
        kwargs.setdefault("ledger_store", InMemoryLedgerStore())
        kwargs.setdefault("artifact_store", artifacts)
        kwargs.setdefault("clock", clock)
        return Runtime(**kwargs)

    return make


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime()


@pytest.fixture
def harness(runtime: Runtime) -> Harness:
    return Harness(runtime, actor_id="alice", session_id="s1")
