"""How the contract suite opens the stores under test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...core.models import RunState, RunStatus, WaitReason, WaitState
from ...storage.base import LedgerStore, RunStore
from ...storage.leases import RunLeaseStore

__all__ = ["StoreFactory", "make_run"]

Opener = Callable[[], "tuple[RunStore, LedgerStore]"]
LeaseOpener = Callable[[], RunLeaseStore]


@dataclass
class StoreFactory:
    """Opens the backend under test.

    Args:
        name: a label for reports.
        open: returns a new ``(run_store, ledger_store)`` pair over the same storage on every call.
        durable: True when data survives :attr:`open` being called again (a restart) and stores refuse
            values that are not JSON-safe; False for in-memory stores (then ``open`` should return the
            same objects every time).
        close: optional cleanup called by the suite when a test is done with the stores.
        open_leases: returns a new ``RunLeaseStore`` over the same storage on every call (like
            ``open``; in-memory: the same object); None skips the lease contract.
    """

    name: str
    open: Opener
    durable: bool = True
    close: Callable[[], None] | None = None
    open_leases: LeaseOpener | None = None
    opened: list[tuple[RunStore, LedgerStore]] = field(default_factory=list)

    def stores(self) -> tuple[RunStore, LedgerStore]:
        """Open (or reopen) the stores."""
        pair = self.open()
        self.opened.append(pair)
        return pair

    def leases(self) -> RunLeaseStore:
        """Open (or reopen) the lease store.

        Raises:
            RuntimeError: the factory has no ``open_leases``.
        """
        if self.open_leases is None:
            raise RuntimeError(f"{self.name} has no lease store")
        return self.open_leases()


def make_run(
    *,
    workflow_id: str = "wf",
    status: RunStatus = RunStatus.RUNNING,
    node: str = "start",
    vars: dict[str, Any] | None = None,
    waiting: WaitState | None = None,
    parent_run_id: str | None = None,
    session_id: str | None = None,
    updated_at: str = "2026-01-01T00:00:00+00:00",
    created_at: str = "2026-01-01T00:00:00+00:00",
) -> RunState:
    """A RunState for store tests (a new uuid4 run id)."""
    run = RunState.new(
        workflow_id=workflow_id,
        entry_node=node,
        vars=vars,
        parent_run_id=parent_run_id,
        session_id=session_id,
    )
    run.status = status
    run.waiting = waiting
    run.updated_at = updated_at
    run.created_at = created_at
    return run


def until_wait(until: str, **kwargs: Any) -> WaitState:
    """A WAIT_UNTIL wait state."""
    return WaitState(
        reason=WaitReason.UNTIL, until=until, resume_to_node=kwargs.get("resume_to_node", "next")
    )
