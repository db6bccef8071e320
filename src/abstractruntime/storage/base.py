"""Storage interfaces (SPEC §7.1), at their documented path.

The definitions are the kernel's ports (:mod:`abstractruntime.core.ports`); this module re-exports the same
objects, so ``from abstractruntime.storage.base import RunStore`` and ``isinstance`` checks are unchanged.
"""

from __future__ import annotations

from ..core.ports import (
    Checkpoint,
    CheckpointListingRunStore,
    LedgerStore,
    Link,
    ObservableLedgerStoreProtocol,
    QueryableRunIndexStore,
    QueryableRunStore,
    RevisionedRunStore,
    RunLease,
    RunLeaseStore,
    RunStore,
    append_records,
    find_completed_in,
    find_started_in,
)

__all__ = [
    "Checkpoint",
    "CheckpointListingRunStore",
    "Link",
    "LedgerStore",
    "ObservableLedgerStoreProtocol",
    "QueryableRunIndexStore",
    "QueryableRunStore",
    "RevisionedRunStore",
    "RunLease",
    "RunLeaseStore",
    "RunStore",
    "append_records",
    "find_completed_in",
    "find_started_in",
]
