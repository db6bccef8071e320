"""What built-in effect handlers may use of the runtime (implemented by ``Runtime``).

Typing the handlers against this protocol instead of the ``Runtime`` class keeps the effect modules
independent of the facade and makes them easy to test with a small stand-in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..models import RunState
from ..ports import LedgerStore, RunStore
from ..spec import WorkflowSpec

__all__ = ["Kernel"]


class Kernel(Protocol):
    """The runtime services a built-in handler needs."""

    @property
    def run_store(self) -> RunStore: ...

    @property
    def ledger_store(self) -> LedgerStore: ...

    @property
    def workflow_registry(self) -> Any: ...

    @property
    def artifact_store(self) -> Any:
        """The artifact store (SPEC §7.6 ``ArtifactStore``), or None; used by the MEMORY_* handlers."""
        ...

    @property
    def chat_summarizer(self) -> Any:
        """The object with ``summarize_chat_history(...)`` (SPEC §4.1), or None; used by MEMORY_COMPACT."""
        ...

    def now(self) -> datetime:
        """The runtime clock's current UTC time."""
        ...

    def start(
        self,
        *,
        workflow: WorkflowSpec,
        vars: dict[str, Any] | None = None,
        actor_id: str | None = None,
        session_id: str | None = None,
        parent_run_id: str | None = None,
    ) -> str: ...

    def tick(self, *, workflow: WorkflowSpec, run_id: str, max_steps: int = 100) -> RunState: ...

    def cancel_run(self, run_id: str, *, reason: str | None = None) -> RunState: ...

    def resume(
        self, *, workflow: WorkflowSpec, run_id: str, wait_key: str | None, payload: Any, max_steps: int = 100
    ) -> RunState: ...
