"""AbstractRuntime: a durable workflow runtime (interrupt, checkpoint, resume) with an append-only ledger.

The public names below are exactly those of SPEC §1.1.
Importing this package imports only the standard library, and of this package only the kernel: the models,
``WorkflowSpec``, ``Runtime`` and the effect policies.  The other names (stores, scheduler, bundles, run
history, ...) load on first access (PEP 562, see ``_lazy.py``); ``from abstractruntime import X`` works for
every name of ``__all__`` and returns the object its defining module holds.  Optional integrations are
imported lazily by the modules that need them.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
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

if TYPE_CHECKING:  # the real imports, for static typing; at run time these load on first access
    from .history_bundle import (
        RUN_HISTORY_BUNDLE_VERSION_V1,
        export_run_history_bundle,
        persist_workflow_snapshot,
    )
    from .identity import ActorFingerprint
    from .memory import ActiveContextPolicy, TimeRange
    from .scheduler import (
        ScheduledRuntime,
        Scheduler,
        SchedulerStats,
        WorkflowRegistry,
        create_scheduled_runtime,
    )
    from .storage.artifacts import (
        Artifact,
        ArtifactMetadata,
        ArtifactStore,
        FileArtifactStore,
        InMemoryArtifactStore,
        artifact_ref,
        compute_artifact_id,
        get_artifact_id,
        is_artifact_ref,
        resolve_artifact,
    )
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
    from .storage.offloading import OffloadingLedgerStore, OffloadingRunStore, offload_large_values
    from .storage.snapshots import InMemorySnapshotStore, JsonSnapshotStore, Snapshot, SnapshotStore
    from .storage.sqlite import (
        SqliteCommandCursorStore,
        SqliteCommandStore,
        SqliteDatabase,
        SqliteLedgerStore,
        SqliteRunStore,
    )
    from .workflow_bundle import (
        WORKFLOW_BUNDLE_FORMAT_VERSION_V1,
        InstalledWorkflowBundle,
        WorkflowBundle,
        WorkflowBundleEntrypoint,
        WorkflowBundleError,
        WorkflowBundleManifest,
        WorkflowBundleRegistry,
        WorkflowBundleRegistryError,
        WorkflowEntrypointRef,
        default_workflow_bundles_dir,
        open_workflow_bundle,
        sanitize_bundle_id,
        sanitize_bundle_version,
        workflow_bundle_manifest_from_dict,
        workflow_bundle_manifest_to_dict,
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
    # Scheduler
    "WorkflowRegistry",
    "Scheduler",
    "SchedulerStats",
    "ScheduledRuntime",
    "create_scheduled_runtime",
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
    "OffloadingRunStore",
    "OffloadingLedgerStore",
    "offload_large_values",
    # Snapshots
    "Snapshot",
    "SnapshotStore",
    "InMemorySnapshotStore",
    "JsonSnapshotStore",
    # Artifacts
    "Artifact",
    "ArtifactMetadata",
    "ArtifactStore",
    "InMemoryArtifactStore",
    "FileArtifactStore",
    "artifact_ref",
    "is_artifact_ref",
    "get_artifact_id",
    "resolve_artifact",
    "compute_artifact_id",
    # Identity
    "ActorFingerprint",
    # Effect policies
    "EffectPolicy",
    "DefaultEffectPolicy",
    "RetryPolicy",
    "NoRetryPolicy",
    "compute_idempotency_key",
    # Memory
    "ActiveContextPolicy",
    "TimeRange",
    # WorkflowBundles
    "WORKFLOW_BUNDLE_FORMAT_VERSION_V1",
    "WorkflowBundleError",
    "WorkflowBundleEntrypoint",
    "WorkflowBundleManifest",
    "WorkflowBundle",
    "InstalledWorkflowBundle",
    "WorkflowBundleRegistry",
    "WorkflowBundleRegistryError",
    "WorkflowEntrypointRef",
    "default_workflow_bundles_dir",
    "sanitize_bundle_id",
    "sanitize_bundle_version",
    "workflow_bundle_manifest_from_dict",
    "workflow_bundle_manifest_to_dict",
    "open_workflow_bundle",
    # Run history
    "RUN_HISTORY_BUNDLE_VERSION_V1",
    "export_run_history_bundle",
    "persist_workflow_snapshot",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        ".history_bundle": (
            "RUN_HISTORY_BUNDLE_VERSION_V1",
            "export_run_history_bundle",
            "persist_workflow_snapshot",
        ),
        ".identity": ("ActorFingerprint",),
        ".memory": ("ActiveContextPolicy", "TimeRange"),
        ".scheduler": (
            "ScheduledRuntime",
            "Scheduler",
            "SchedulerStats",
            "WorkflowRegistry",
            "create_scheduled_runtime",
        ),
        ".storage.artifacts": (
            "Artifact",
            "ArtifactMetadata",
            "ArtifactStore",
            "FileArtifactStore",
            "InMemoryArtifactStore",
            "artifact_ref",
            "compute_artifact_id",
            "get_artifact_id",
            "is_artifact_ref",
            "resolve_artifact",
        ),
        ".storage.base": ("QueryableRunStore",),
        ".storage.commands": (
            "CommandAppendResult",
            "CommandCursorStore",
            "CommandRecord",
            "CommandStore",
            "InMemoryCommandCursorStore",
            "InMemoryCommandStore",
            "JsonFileCommandCursorStore",
            "JsonlCommandStore",
        ),
        ".storage.in_memory": ("InMemoryLedgerStore", "InMemoryRunStore"),
        ".storage.json_files": ("JsonFileRunStore", "JsonlLedgerStore"),
        ".storage.ledger_chain": ("HashChainedLedgerStore", "verify_ledger_chain"),
        ".storage.observable": ("ObservableLedgerStore", "ObservableLedgerStoreProtocol"),
        ".storage.offloading": ("OffloadingLedgerStore", "OffloadingRunStore", "offload_large_values"),
        ".storage.snapshots": ("InMemorySnapshotStore", "JsonSnapshotStore", "Snapshot", "SnapshotStore"),
        ".storage.sqlite": (
            "SqliteCommandCursorStore",
            "SqliteCommandStore",
            "SqliteDatabase",
            "SqliteLedgerStore",
            "SqliteRunStore",
        ),
        ".workflow_bundle": (
            "WORKFLOW_BUNDLE_FORMAT_VERSION_V1",
            "InstalledWorkflowBundle",
            "WorkflowBundle",
            "WorkflowBundleEntrypoint",
            "WorkflowBundleError",
            "WorkflowBundleManifest",
            "WorkflowBundleRegistry",
            "WorkflowBundleRegistryError",
            "WorkflowEntrypointRef",
            "default_workflow_bundles_dir",
            "open_workflow_bundle",
            "sanitize_bundle_id",
            "sanitize_bundle_version",
            "workflow_bundle_manifest_from_dict",
            "workflow_bundle_manifest_to_dict",
        ),
    },
    # ``import abstractruntime`` used to import these; ``abstractruntime.storage`` etc. still work after it
    submodules=("history_bundle", "identity", "memory", "scheduler", "storage", "workflow_bundle"),
)
