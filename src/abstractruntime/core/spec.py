"""Workflow definitions and the node contract (SPEC §3).

A :class:`WorkflowSpec` maps node ids to handlers.  The runtime calls a handler positionally as
``handler(run, ctx)`` and follows the :class:`~abstractruntime.core.models.StepPlan` it returns.  A
spec holds Python callables, so it is not stored: register it again after a restart to resume runs.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import UnknownNodeError
from .models import RunState, StepPlan

__all__ = ["NodeHandler", "RunContext", "WorkflowSpec", "defined_workflow"]

# Every WorkflowSpec alive in this process, by workflow id (the newest definition wins).  A scheduled
# runtime falls back to it, so a process that defines a workflow can resume its stored runs without a
# separate registration step (as DBOS does for decorated workflows).  Weak: it keeps nothing alive.
_DEFINED: weakref.WeakValueDictionary[str, WorkflowSpec] = weakref.WeakValueDictionary()
_DEFINED_LOCK = threading.Lock()


def defined_workflow(workflow_id: str) -> WorkflowSpec | None:
    """The most recently constructed, still referenced WorkflowSpec with this id, or None."""
    with _DEFINED_LOCK:
        return _DEFINED.get(workflow_id)


@runtime_checkable
class RunContext(Protocol):
    """What every node handler receives besides the run: at least the current time."""

    def now_iso(self) -> str:
        """The current time as a UTC ISO-8601 string."""
        ...


NodeHandler = Callable[[RunState, RunContext], StepPlan]


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow graph: ``nodes`` maps each node id to its handler; runs start at ``entry_node``."""

    workflow_id: str
    entry_node: str
    nodes: dict[str, NodeHandler]

    def __post_init__(self) -> None:
        with _DEFINED_LOCK:
            _DEFINED[self.workflow_id] = self

    def get_node(self, node_id: str) -> NodeHandler:
        """Return the handler of ``node_id``.

        Raises:
            UnknownNodeError (a KeyError): the workflow has no such node.
        """
        try:
            return self.nodes[node_id]
        except KeyError:
            raise UnknownNodeError(workflow_id=self.workflow_id, node_id=node_id) from None

    def is_terminal(self, node_id: str) -> bool:
        """Always False: whether a node ends the run is decided by the StepPlan it returns."""
        return False
