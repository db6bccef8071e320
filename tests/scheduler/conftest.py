"""Shared fixtures for the scheduler tests (SPEC §8).

Timers are driven with :class:`FakeClock` and ``Scheduler.poll_once()``; nothing sleeps for a timer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from scheduler_support import confirm, finish, scheduler_threads

from abstractruntime import WorkflowSpec
from abstractruntime.scheduler import ScheduledRuntime, create_scheduled_runtime
from abstractruntime.testing import FakeClock


@pytest.fixture
def flow() -> WorkflowSpec:
    """The workflow of QUICKSTART snippet 1 (ASK_USER "Ship it?", then complete)."""
    return WorkflowSpec(
        workflow_id="ship", entry_node="confirm", nodes={"confirm": confirm, "finish": finish}
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sr(clock: FakeClock) -> Iterator[Callable[..., ScheduledRuntime]]:
    """Build ScheduledRuntimes on the fake clock, thread not started; every one is stopped afterwards."""
    built: list[ScheduledRuntime] = []

    def build(**kwargs: Any) -> ScheduledRuntime:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("auto_start", False)
        sr = create_scheduled_runtime(**kwargs)
        built.append(sr)
        return sr

    yield build
    for sr in built:
        sr.stop()


@pytest.fixture(autouse=True)
def no_scheduler_thread_left() -> Iterator[None]:
    """Every test must leave no scheduler thread behind."""
    yield
    assert scheduler_threads() == []
