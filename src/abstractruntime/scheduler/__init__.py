"""The in-process scheduler (SPEC §8): a workflow registry, a polling driver and a one-call setup.

* :class:`WorkflowRegistry` — workflow specs by id (``registry.py``).
* :class:`Scheduler` / :class:`SchedulerStats` — wakes due WAIT_UNTIL runs and the parents of finished
  child runs, delivers external events, cancels run trees (``scheduler.py``).
* :func:`create_scheduled_runtime` / :class:`ScheduledRuntime` — a runtime, registry and scheduler
  wired together (``convenience.py``).

Each name loads its module on first access (PEP 562, ``abstractruntime._lazy``): ``from
abstractruntime.scheduler import WorkflowRegistry`` does not import the scheduler or any store.
See ``docs/scheduler.md``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the real imports, for static typing; at run time these load on first access
    from .convenience import ScheduledRuntime, create_scheduled_runtime
    from .registry import WorkflowRegistry
    from .scheduler import Scheduler, SchedulerStats

__all__ = ["WorkflowRegistry", "Scheduler", "SchedulerStats", "create_scheduled_runtime", "ScheduledRuntime"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        ".convenience": ("ScheduledRuntime", "create_scheduled_runtime"),
        ".registry": ("WorkflowRegistry",),
        ".scheduler": ("Scheduler", "SchedulerStats"),
    },
)
