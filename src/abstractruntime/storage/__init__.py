"""Run and ledger stores (SPEC §7): interfaces, backends and decorators.

Backends that need an optional dependency are imported lazily by their own modules.
``open_stores(url)`` (``memory://``, ``file:///dir``, ``sqlite:///path.db``) builds a matching set.
"""

from .base import LedgerStore, QueryableRunStore, RunStore
from .in_memory import InMemoryLedgerStore, InMemoryRunStore
from .json_files import JsonFileRunStore, JsonlLedgerStore
from .ledger_chain import HashChainedLedgerStore, verify_ledger_chain
from .observable import ObservableLedgerStore, ObservableLedgerStoreProtocol
from .offloading import OffloadingLedgerStore, OffloadingRunStore, offload_large_values
from .snapshots import InMemorySnapshotStore, JsonSnapshotStore, Snapshot, SnapshotStore
from .urls import Stores as Stores  # not in __all__: SPEC §1.2 pins that list
from .urls import open_stores as open_stores

__all__ = [
    "RunStore",
    "LedgerStore",
    "QueryableRunStore",
    "InMemoryRunStore",
    "InMemoryLedgerStore",
    "JsonFileRunStore",
    "JsonlLedgerStore",
    "HashChainedLedgerStore",
    "verify_ledger_chain",
    "ObservableLedgerStore",
    "ObservableLedgerStoreProtocol",
    "OffloadingRunStore",
    "OffloadingLedgerStore",
    "offload_large_values",
    "Snapshot",
    "SnapshotStore",
    "InMemorySnapshotStore",
    "JsonSnapshotStore",
]
