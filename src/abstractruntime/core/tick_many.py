"""Advance many runs together, committing their steps in groups when the store can (SPEC §4.5, §7.1).

:func:`tick_many` interleaves runs: in each *turn* every active run advances by up to
``steps_per_turn`` steps (one ``Runtime.tick``).  When the run store has the optional
:class:`GroupCommitRunStore` capability (``SqliteRunStore``: one SQLite file), each turn is one
``group_commit()`` scope: every run's step commit keeps its own revision check and atomicity (a
savepoint), and the turn costs one durable ``COMMIT`` instead of one per step.  A host effect's
STARTED intent is still committed before its handler runs (the store flushes the group when it is
written), so crash recovery sees the same in-doubt states as with single commits.

Without the capability the same loop runs with one commit per step, so callers need not care which
store they have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import AbstractRuntimeError, WorkflowNotRegisteredError
from .engine.loop import StepLoop
from .engine.store_access import WorkingRun
from .models import RunState, RunStatus
from .spec import WorkflowSpec

__all__ = ["GroupCommitRunStore", "TickManyResult", "tick_many"]


@runtime_checkable
class GroupCommitRunStore(Protocol):
    """Optional capability: ``group_commit()`` — a context manager inside which this thread's step
    commits share one transaction, each one still compare-and-set and atomic on its own (a conflict
    undoes only that step), and STARTED intents are made durable as soon as they are written."""

    def group_commit(self) -> AbstractContextManager[Any]:
        """Open a group: the commits made inside it become durable together at its end."""
        ...


class _Registry(Protocol):
    def get(self, workflow_id: str) -> WorkflowSpec | None: ...


@dataclass
class TickManyResult:
    """What :func:`tick_many` left behind.

    Attributes:
        runs: the last state of each run it advanced, by run id.
        errors: runs it stopped advancing because a tick raised (``ConcurrencyError``: another
            driver committed first; ``RunNotFoundError``; a workflow that is not registered), by run id.
        turns: how many turns it ran.
        grouped: whether the turns were group commits.
    """

    runs: dict[str, RunState] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)
    turns: int = 0
    grouped: bool = False


def tick_many(
    runtime: Any,
    workflow: WorkflowSpec | _Registry | Mapping[str, WorkflowSpec],
    run_ids: Iterable[str],
    *,
    max_steps: int = 100,
    steps_per_turn: int = 1,
) -> TickManyResult:
    """Advance ``run_ids`` in interleaved turns until each stops running or used ``max_steps`` steps.

    Args:
        runtime: a :class:`~abstractruntime.core.runtime.Runtime`.
        workflow: one spec for every run, or a registry (an object with ``get(workflow_id)``, such as
            ``WorkflowRegistry``) or a mapping ``{workflow_id: spec}`` to look each run's spec up.
        run_ids: the runs to advance (duplicates are ignored); runs not RUNNING are left as they are.
        max_steps: the step budget of each run over the whole call (``Runtime.tick`` semantics).
        steps_per_turn: the steps each run takes per turn (1 interleaves finest; more amortises the
            per-tick load of the run).

    Returns:
        A :class:`TickManyResult`; runs that raised are in ``errors`` and were not advanced further,
        the others are in ``runs``.

    Raises:
        ValueError: ``max_steps`` or ``steps_per_turn`` is below 1.
    """
    if max_steps < 1 or steps_per_turn < 1:
        raise ValueError(f"max_steps and steps_per_turn must be >= 1, got {max_steps}, {steps_per_turn}")
    store = runtime.run_store
    grouped = isinstance(store, GroupCommitRunStore)
    result = TickManyResult(grouped=grouped)
    budget = dict.fromkeys(run_ids, max_steps)
    driver = _Driver(runtime, workflow)
    active = list(budget)
    while active:
        result.turns += 1
        scope = store.group_commit() if grouped else nullcontext()
        still: list[str] = []
        with scope:
            for run_id in active:
                steps = min(steps_per_turn, budget[run_id])
                try:
                    run = driver.turn(run_id, steps)
                except (AbstractRuntimeError, KeyError) as exc:
                    result.errors[run_id] = exc
                    continue
                result.runs[run_id] = run
                budget[run_id] -= steps
                if run.status == RunStatus.RUNNING and budget[run_id] > 0:
                    still.append(run_id)
        active = still
    return result


class _Driver:
    """Advances runs turn after turn, keeping each run's working copy between its turns.

    A run is loaded once: after a turn that left it RUNNING, the engine's copy (and the revision it
    committed) is exactly what is stored, so the next turn goes on from it without reading the run
    again.  A turn that raised drops the run (``tick_many`` stops advancing it).  A runtime without
    ``step_loop`` (a duck-typed one) is driven through ``tick``, which loads the run every turn.
    """

    def __init__(self, runtime: Any, workflow: Any) -> None:
        self._runtime = runtime
        self._workflow = workflow
        self._loop: StepLoop | None = getattr(runtime, "step_loop", None)
        self._specs: dict[str, WorkflowSpec] = {}  # looked up once per run
        self._working: dict[str, WorkingRun] = {}

    def turn(self, run_id: str, steps: int) -> RunState:
        work = self._working.pop(run_id, None)
        if self._loop is None:
            spec = self._spec(run_id, None)
            state: RunState = self._runtime.tick(workflow=spec, run_id=run_id, max_steps=steps)
            return state
        if work is None:
            work = self._loop.load(run_id)
        spec = self._spec(run_id, work.run.workflow_id)
        state = self._loop.advance(spec, work, steps)
        if state is work.run and state.status == RunStatus.RUNNING:
            self._working[run_id] = work
        return state

    def _spec(self, run_id: str, workflow_id: str | None) -> WorkflowSpec:
        if isinstance(self._workflow, WorkflowSpec):
            return self._workflow
        spec = self._specs.get(run_id)
        if spec is None:
            workflow_id = workflow_id or self._runtime.get_state(run_id).workflow_id
            spec = self._workflow.get(workflow_id)
            if spec is None:
                raise WorkflowNotRegisteredError(workflow_id, run_id=run_id)
            self._specs[run_id] = spec
        return spec
