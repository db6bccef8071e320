"""AbstractRuntime: a durable workflow runtime (interrupt, checkpoint, resume) with an append-only ledger.

The public names below follow SPEC §1.1.  Importing this package imports only the standard library;
optional integrations are imported lazily by the modules that need them.
"""

from .core.models import Effect, EffectType, RunState, RunStatus, StepPlan, WaitReason, WaitState
from .core.policy import (
    DefaultEffectPolicy,
    EffectPolicy,
    NoRetryPolicy,
    RetryPolicy,
    compute_idempotency_key,
)
from .core.runtime import Runtime
from .core.spec import WorkflowSpec
from .storage.base import QueryableRunStore
from .storage.commands import (
    CommandAppendResult,
    CommandCursorStore,
    CommandRecord,
    CommandStore,
    InMemoryCommandCursorStore,
    InMemoryCommandStore,
    JsonFileCommandCursorStore,
    JsonlCommandStore,
)
from .storage.in_memory import InMemoryLedgerStore, InMemoryRunStore
from .storage.json_files import JsonFileRunStore, JsonlLedgerStore
from .storage.ledger_chain import HashChainedLedgerStore, verify_ledger_chain
from .storage.observable import ObservableLedgerStore, ObservableLedgerStoreProtocol
from .storage.sqlite import (
    SqliteCommandCursorStore,
    SqliteCommandStore,
    SqliteDatabase,
    SqliteLedgerStore,
    SqliteRunStore,
)

__version__ = "0.4.20"

__all__ = [
    # Core models
    "Effect",
    "EffectType",
    "RunState",
    "RunStatus",
    "StepPlan",
    "WaitReason",
    "WaitState",
    # Spec + runtime
    "WorkflowSpec",
    "Runtime",
    # Run/ledger stores
    "QueryableRunStore",
    "InMemoryRunStore",
    "InMemoryLedgerStore",
    "JsonFileRunStore",
    "JsonlLedgerStore",
    "SqliteDatabase",
    "SqliteRunStore",
    "SqliteLedgerStore",
    # Command inbox
    "CommandRecord",
    "CommandAppendResult",
    "CommandStore",
    "CommandCursorStore",
    "InMemoryCommandStore",
    "JsonlCommandStore",
    "InMemoryCommandCursorStore",
    "JsonFileCommandCursorStore",
    "SqliteCommandStore",
    "SqliteCommandCursorStore",
    # Ledger decorators
    "HashChainedLedgerStore",
    "verify_ledger_chain",
    "ObservableLedgerStore",
    "ObservableLedgerStoreProtocol",
    # Effect policies
    "EffectPolicy",
    "DefaultEffectPolicy",
    "RetryPolicy",
    "NoRetryPolicy",
    "compute_idempotency_key",
]
