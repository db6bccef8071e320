"""Run and ledger stores (SPEC §7): interfaces, backends and decorators.

Backends that need an optional dependency are imported lazily by their own modules.
"""

from .base import LedgerStore, QueryableRunStore, RunStore
from .in_memory import InMemoryLedgerStore, InMemoryRunStore
from .observable import ObservableLedgerStore, ObservableLedgerStoreProtocol

__all__ = [
    "RunStore",
    "LedgerStore",
    "QueryableRunStore",
    "InMemoryRunStore",
    "InMemoryLedgerStore",
    "ObservableLedgerStore",
    "ObservableLedgerStoreProtocol",
]
