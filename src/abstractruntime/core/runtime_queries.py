"""Read, limit, trace and evidence APIs of the ``Runtime`` (SPEC §4.8), as a mixin.

Kept apart from ``runtime.py`` so the facade stays small; :class:`~abstractruntime.core.runtime.Runtime`
inherits these methods unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import CapabilityError
from .engine.control import RunControl
from .engine.limits import check_limits, limit_status
from .engine.store_access import StoreAccess
from .models import LimitWarning, RunState

__all__ = ["RuntimeQueries"]


class RuntimeQueries:
    """Ledger subscription, node traces, evidence and limits over the runtime's stores."""

    _access: StoreAccess
    _artifact_store: Any
    _control: RunControl

    def get_state(self, run_id: str) -> RunState:
        """The stored state of ``run_id``.

        Raises:
            RunNotFoundError (KeyError): unknown run.
        """
        return self._access.get(run_id)

    def get_ledger(self, run_id: str) -> list[dict[str, Any]]:
        """The ledger records of ``run_id`` (dicts, in append order)."""
        return self._access.ledger_store.list(run_id)

    def subscribe_ledger(
        self, callback: Callable[[dict[str, Any]], None], *, run_id: str | None = None
    ) -> Callable[[], None]:
        """Subscribe to ledger appends; returns an unsubscribe function.

        Raises:
            CapabilityError (RuntimeError): the ledger store cannot be observed (wrap it in
                ``ObservableLedgerStore``).
        """
        subscribe = getattr(self._access.ledger_store, "subscribe", None)
        if not callable(subscribe):
            raise CapabilityError(
                "ledger_store does not support subscribe(); wrap it in ObservableLedgerStore"
            )
        unsubscribe: Callable[[], None] = subscribe(callback, run_id=run_id)
        return unsubscribe

    def get_node_traces(self, run_id: str) -> dict[str, Any]:
        """A deep copy of ``vars._runtime.node_traces`` (``{}`` when none)."""
        runtime_ns = self.get_state(run_id).vars.get("_runtime")
        traces = runtime_ns.get("node_traces") if isinstance(runtime_ns, dict) else None
        return copy.deepcopy(traces) if isinstance(traces, dict) else {}

    def get_node_trace(self, run_id: str, node_id: str) -> dict[str, Any]:
        """One node's trace, or ``{"node_id": node_id, "steps": []}``."""
        trace = self.get_node_traces(run_id).get(node_id)
        return trace if isinstance(trace, dict) else {"node_id": node_id, "steps": []}

    def list_evidence(self, run_id: str) -> list[dict[str, Any]]:
        """Deep copies of the ``_runtime.memory_spans`` entries whose kind is ``evidence``."""
        runtime_ns = self.get_state(run_id).vars.get("_runtime")
        spans = runtime_ns.get("memory_spans") if isinstance(runtime_ns, dict) else None
        if not isinstance(spans, list):
            return []
        return [copy.deepcopy(s) for s in spans if isinstance(s, dict) and s.get("kind") == "evidence"]

    def load_evidence(self, evidence_id: str) -> dict[str, Any] | None:
        """The evidence record stored as a JSON artifact, or None when it is missing or not a dict.

        Raises:
            CapabilityError (RuntimeError): no artifact store is configured.
        """
        if self._artifact_store is None:
            raise CapabilityError("load_evidence requires an artifact_store")
        data = self._artifact_store.load_json(evidence_id)
        return data if isinstance(data, dict) else None

    def get_limit_status(self, run_id: str) -> dict[str, Any]:
        """Iteration, token and history limits of ``run_id`` with percentages (SPEC §4.8)."""
        return limit_status(self.get_state(run_id))

    def check_limits(self, run: RunState) -> list[LimitWarning]:
        """Warnings for the limits of ``run`` that are near or past their maximum (nothing enforced)."""
        return check_limits(run)

    def update_limits(self, run_id: str, updates: Mapping[str, Any]) -> RunState:
        """Copy the allow-listed limit keys of ``updates`` into ``_limits`` and save (SPEC §4.8)."""
        return self._control.update_limits(run_id, updates)
