"""Shared fixtures for the kernel behaviour tests (SPEC §2-§6, §14).

Every runtime built here uses in-memory stores and a :class:`FakeClock`, so nothing really sleeps.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from abstractruntime import InMemoryLedgerStore, InMemoryRunStore, RunState, Runtime, WorkflowSpec
from abstractruntime.storage.base import RunStore
from abstractruntime.testing import FakeClock


class SimpleRegistry:
    """The duck-typed workflow registry the kernel needs: ``get(workflow_id) -> WorkflowSpec | None``."""

    def __init__(self, *specs: WorkflowSpec) -> None:
        self._specs: dict[str, WorkflowSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: WorkflowSpec) -> WorkflowSpec:
        self._specs[spec.workflow_id] = spec
        return spec

    def get(self, workflow_id: str) -> WorkflowSpec | None:
        return self._specs.get(workflow_id)


class CopyingRunStore(RunStore):
    """A minimal SPEC §7.1 RunStore that stores and returns copies, like a durable backend would.

    It has no query methods and no revisions, so the runtime uses its plain save/load path.
    """

    def __init__(self) -> None:
        self._runs: dict[str, RunState] = {}

    def save(self, run: RunState) -> None:
        self._runs[run.run_id] = copy.deepcopy(run)

    def load(self, run_id: str) -> RunState | None:
        run = self._runs.get(run_id)
        return None if run is None else copy.deepcopy(run)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def run_store() -> InMemoryRunStore:
    return InMemoryRunStore()


@pytest.fixture(params=["in_memory", "copying"])
def shared_run_store(request: pytest.FixtureRequest) -> RunStore:
    """Each test using it runs twice: over InMemoryRunStore (live shared objects) and CopyingRunStore."""
    return InMemoryRunStore() if request.param == "in_memory" else CopyingRunStore()


@pytest.fixture
def copying_run_store() -> CopyingRunStore:
    return CopyingRunStore()


@pytest.fixture
def ledger_store() -> InMemoryLedgerStore:
    return InMemoryLedgerStore()


@pytest.fixture
def registry() -> SimpleRegistry:
    return SimpleRegistry()


@pytest.fixture
def make_runtime(
    run_store: InMemoryRunStore, ledger_store: InMemoryLedgerStore, clock: FakeClock
) -> Callable[..., Runtime]:
    """Build a Runtime over the shared in-memory stores and fake clock; keyword arguments override."""

    def build(**kwargs: Any) -> Runtime:
        kwargs.setdefault("run_store", run_store)
        kwargs.setdefault("ledger_store", ledger_store)
        kwargs.setdefault("clock", clock)
        return Runtime(**kwargs)

    return build


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    """A Runtime with only the built-in effect handlers and no registry."""
    return make_runtime()


@pytest.fixture
def statuses() -> Callable[[list[dict[str, Any]]], list[str]]:
    """``[record status value, ...]`` of a ledger listing."""

    def view(records: list[dict[str, Any]]) -> list[str]:
        return [str(getattr(r["status"], "value", r["status"])) for r in records]

    return view
