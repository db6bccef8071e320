"""The in-process scheduler (SPEC §8): a workflow registry, a polling driver and a one-call setup.

* :class:`WorkflowRegistry` — workflow specs by id (``registry.py``).
* :class:`Scheduler` / :class:`SchedulerStats` — wakes due WAIT_UNTIL runs and the parents of finished
  child runs, delivers external events, cancels run trees (``scheduler.py``).
* :func:`create_scheduled_runtime` / :class:`ScheduledRuntime` — a runtime, registry and scheduler
  wired together (``convenience.py``).

See ``docs/scheduler.md``.
"""

from .convenience import ScheduledRuntime, create_scheduled_runtime
from .registry import WorkflowRegistry
from .scheduler import Scheduler, SchedulerStats

__all__ = ["WorkflowRegistry", "Scheduler", "SchedulerStats", "create_scheduled_runtime", "ScheduledRuntime"]
