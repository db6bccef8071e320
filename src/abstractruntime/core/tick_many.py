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
    specs: dict[str, WorkflowSpec] = {}  # looked up once per run
    active = list(budget)
    while active:
        result.turns += 1
        scope = store.group_commit() if grouped else nullcontext()
        still: list[str] = []
        with scope:
            for run_id in active:
                steps = min(steps_per_turn, budget[run_id])
                try:
                    run = _turn(runtime, workflow, specs, run_id, steps)
                except (AbstractRuntimeError, KeyError) as exc:
                    result.errors[run_id] = exc
                    continue
                result.runs[run_id] = run
                budget[run_id] -= steps
                if run.status == RunStatus.RUNNING and budget[run_id] > 0:
                    still.append(run_id)
        active = still
    return result


def _turn(runtime: Any, workflow: Any, specs: dict[str, WorkflowSpec], run_id: str, steps: int) -> RunState:
    spec = workflow if isinstance(workflow, WorkflowSpec) else specs.get(run_id)
    if spec is None:
        workflow_id = runtime.get_state(run_id).workflow_id
        spec = workflow.get(workflow_id)
        if spec is None:
            raise WorkflowNotRegisteredError(workflow_id, run_id=run_id)
        specs[run_id] = spec
    state: RunState = runtime.tick(workflow=spec, run_id=run_id, max_steps=steps)
    return state
