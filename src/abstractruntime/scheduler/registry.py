"""``WorkflowRegistry`` (SPEC §8.1): the workflow specs a host can run, by workflow id.

A :class:`~abstractruntime.core.spec.WorkflowSpec` holds Python callables, so it cannot be stored with
its runs: after a restart the host registers its specs again and the scheduler finds them here by the
``workflow_id`` each stored run names.  The registry also satisfies the duck-typed
``workflow_registry`` the :class:`~abstractruntime.core.runtime.Runtime` needs for START_SUBWORKFLOW
and EMIT_EVENT (``get(workflow_id) -> WorkflowSpec | None``).

The registry is thread-safe: the scheduler thread reads it while the host registers workflows.
"""

from __future__ import annotations

import threading

from ..core.spec import WorkflowSpec, defined_workflow
from ..errors import WorkflowAlreadyRegisteredError, WorkflowNotRegisteredError

__all__ = ["WorkflowRegistry"]


class WorkflowRegistry:
    """Workflow specs by ``workflow_id``, in registration order (SPEC §8.1).

    Example::

        registry = WorkflowRegistry()
        registry.register(flow)
        registry.get_or_raise("ship") is flow   # True
    """

    def __init__(self, *, adopt_defined: bool = False) -> None:
        """Args:
        adopt_defined: when True, a lookup of an id that was never registered adopts (registers) the
            WorkflowSpec with that id defined in this process, if any — so a new process that defines
            its workflows can resume stored runs without registering them again.  An id removed with
            :meth:`unregister` is never adopted.  ``create_scheduled_runtime`` turns this on.
        """
        self._specs: dict[str, WorkflowSpec] = {}
        self._lock = threading.Lock()
        self._adopt_defined = adopt_defined
        self._unregistered: set[str] = set()

    def register(self, spec: WorkflowSpec) -> None:
        """Add ``spec`` under ``spec.workflow_id``.

        Raises:
            WorkflowAlreadyRegisteredError (a ValueError): a spec with that id is already registered
                (even the same object: unregister it first to replace it).
        """
        with self._lock:
            if spec.workflow_id in self._specs:
                raise WorkflowAlreadyRegisteredError(spec.workflow_id)
            self._specs[spec.workflow_id] = spec
            self._unregistered.discard(spec.workflow_id)

    def unregister(self, workflow_id: str) -> None:
        """Remove the spec registered under ``workflow_id``.

        Raises:
            WorkflowNotRegisteredError (a KeyError): nothing is registered under that id.
        """
        with self._lock:
            if workflow_id not in self._specs:
                raise WorkflowNotRegisteredError(workflow_id)
            del self._specs[workflow_id]
            self._unregistered.add(workflow_id)

    def get(self, workflow_id: str) -> WorkflowSpec | None:
        """The spec registered under ``workflow_id`` (or adopted, see ``adopt_defined``), or None."""
        with self._lock:
            spec = self._specs.get(workflow_id)
            if spec is None and self._adopt_defined and workflow_id not in self._unregistered:
                spec = defined_workflow(workflow_id)
                if spec is not None:
                    self._specs[workflow_id] = spec
            return spec

    def get_or_raise(self, workflow_id: str) -> WorkflowSpec:
        """The spec registered under ``workflow_id``.

        Raises:
            WorkflowNotRegisteredError (a KeyError): nothing is registered under that id.
        """
        spec = self.get(workflow_id)
        if spec is None:
            raise WorkflowNotRegisteredError(workflow_id)
        return spec

    def list_ids(self) -> list[str]:
        """The registered workflow ids, in registration order (a new list)."""
        with self._lock:
            return list(self._specs)

    def __len__(self) -> int:
        """The number of registered specs."""
        with self._lock:
            return len(self._specs)

    def __contains__(self, workflow_id: object) -> bool:
        """True when ``workflow_id`` (a str) is registered; False for anything else."""
        if not isinstance(workflow_id, str):
            return False
        with self._lock:
            return workflow_id in self._specs

    def __repr__(self) -> str:
        return f"WorkflowRegistry({self.list_ids()!r})"
