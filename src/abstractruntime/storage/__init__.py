"""Run and ledger stores (SPEC §7): interfaces, backends and decorators.

Backends that need an optional dependency are imported lazily by their own modules.
``open_stores(url)`` (``memory://``, ``file:///dir``, ``sqlite:///path.db``) builds a matching set.
Importing this package imports none of the backends: each name loads its module on first access
(PEP 562, ``abstractruntime._lazy``), so ``from abstractruntime.storage import X`` costs only X's module.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the real imports, for static typing; at run time these load on first access
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        ".base": ("LedgerStore", "QueryableRunStore", "RunStore"),
        ".in_memory": ("InMemoryLedgerStore", "InMemoryRunStore"),
        ".json_files": ("JsonFileRunStore", "JsonlLedgerStore"),
        ".ledger_chain": ("HashChainedLedgerStore", "verify_ledger_chain"),
        ".observable": ("ObservableLedgerStore", "ObservableLedgerStoreProtocol"),
        ".offloading": ("OffloadingLedgerStore", "OffloadingRunStore", "offload_large_values"),
        ".snapshots": ("InMemorySnapshotStore", "JsonSnapshotStore", "Snapshot", "SnapshotStore"),
        ".urls": ("Stores", "open_stores"),
    },
)
