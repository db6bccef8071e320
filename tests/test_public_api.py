"""The public surface: pinned export lists (SPEC §1, §15) and a stdlib-only import."""

from __future__ import annotations

import json
import subprocess
import sys

import abstractruntime
import abstractruntime.core
import abstractruntime.storage

SPEC_ROOT_NAMES = set(
    [
        "Effect",
        "EffectType",
        "RunState",
        "RunStatus",
        "StepPlan",
        "WaitReason",
        "WaitState",
        "WorkflowSpec",
        "Runtime",
        "WorkflowRegistry",
        "Scheduler",
        "SchedulerStats",
        "ScheduledRuntime",
        "create_scheduled_runtime",
        "QueryableRunStore",
        "InMemoryRunStore",
        "InMemoryLedgerStore",
        "JsonFileRunStore",
        "JsonlLedgerStore",
        "SqliteDatabase",
        "SqliteRunStore",
        "SqliteLedgerStore",
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
        "ActorFingerprint",
        "EffectPolicy",
        "DefaultEffectPolicy",
        "RetryPolicy",
        "NoRetryPolicy",
        "compute_idempotency_key",
        "ActiveContextPolicy",
        "TimeRange",
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
        "RUN_HISTORY_BUNDLE_VERSION_V1",
        "export_run_history_bundle",
        "persist_workflow_snapshot",
    ]
)
ROOT_NAMES = SPEC_ROOT_NAMES

STORAGE_NAMES = set(
    [
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
)

PACKAGE_NAMES = {
    "abstractruntime.scheduler": {
        "WorkflowRegistry",
        "Scheduler",
        "SchedulerStats",
        "create_scheduled_runtime",
        "ScheduledRuntime",
    },
    "abstractruntime.evidence": {"EvidenceRecorder", "DEFAULT_EVIDENCE_TOOL_NAMES"},
    "abstractruntime.rendering": {"JsonStringifyMode", "render_agent_trace_markdown", "stringify_json"},
    "abstractruntime.memory": {"ActiveContextPolicy", "TimeRange"},
    "abstractruntime.identity": {"ActorFingerprint"},
    "abstractruntime.visualflow_compiler": {
        "Flow",
        "FlowNode",
        "FlowEdge",
        "VisualFlow",
        "VisualNode",
        "VisualEdge",
        "load_visualflow_json",
        "visual_to_flow",
        "compile_flow",
        "compile_visualflow",
        "compile_visualflow_tree",
    },
    "abstractruntime.visualflow_compiler.visual": {
        "VisualFlow",
        "VisualNode",
        "VisualEdge",
        "load_visualflow_json",
        "visual_to_flow",
    },
    "abstractruntime.visualflow_compiler.adapters": {
        "create_function_node_handler",
        "create_agent_node_handler",
        "create_subflow_node_handler",
    },
}

CORE_NAMES = {
    "Effect",
    "EffectType",
    "LimitWarning",
    "LIMITS",
    "RunState",
    "RunStatus",
    "Runtime",
    "RuntimeConfig",
    "StepPlan",
    "WaitReason",
    "WaitState",
    "WorkflowSpec",
    "ensure_limits",
    "get_limits",
}

DOCUMENTED_MODULES = {
    "abstractruntime.core.models": [
        "Effect",
        "EffectType",
        "RunState",
        "RunStatus",
        "StepPlan",
        "StepRecord",
        "StepStatus",
        "WaitReason",
        "WaitState",
        "LimitWarning",
    ],
    "abstractruntime.core.runtime": ["Runtime", "EffectOutcome", "EffectHandler", "DefaultRunContext"],
    "abstractruntime.core.spec": ["WorkflowSpec", "RunContext", "NodeHandler"],
    "abstractruntime.core.config": ["RuntimeConfig"],
    "abstractruntime.core.policy": [
        "EffectPolicy",
        "DefaultEffectPolicy",
        "RetryPolicy",
        "NoRetryPolicy",
        "compute_idempotency_key",
    ],
    "abstractruntime.core.vars": [
        "ensure_namespaces",
        "get_context",
        "get_scratchpad",
        "get_runtime",
        "get_temp",
        "clear_temp",
        "get_limits",
        "ensure_limits",
        "parse_vars_path",
        "resolve_vars_path",
        "get_node_traces",
        "get_node_trace",
    ],
    "abstractruntime.core.event_keys": ["build_event_wait_key"],
    "abstractruntime.storage.base": [
        "RunStore",
        "LedgerStore",
        "QueryableRunStore",
        "QueryableRunIndexStore",
    ],
    "abstractruntime.storage.in_memory": ["InMemoryRunStore", "InMemoryLedgerStore"],
    "abstractruntime.storage.observable": ["ObservableLedgerStore", "ObservableLedgerStoreProtocol"],
    "abstractruntime.storage.json_files": ["JsonFileRunStore", "JsonlLedgerStore"],
    "abstractruntime.storage.ledger_chain": ["HashChainedLedgerStore", "verify_ledger_chain"],
    "abstractruntime.storage.artifacts": [
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
    ],
    "abstractruntime.storage.offloading": [
        "OffloadingRunStore",
        "OffloadingLedgerStore",
        "offload_large_values",
    ],
    "abstractruntime.storage.snapshots": [
        "Snapshot",
        "SnapshotStore",
        "InMemorySnapshotStore",
        "JsonSnapshotStore",
    ],
    "abstractruntime.scheduler.scheduler": ["Scheduler", "SchedulerStats"],
    "abstractruntime.scheduler.registry": ["WorkflowRegistry"],
    "abstractruntime.scheduler.convenience": ["create_scheduled_runtime", "ScheduledRuntime"],
    "abstractruntime.history_bundle": [
        "export_run_history_bundle",
        "persist_workflow_snapshot",
        "RUN_HISTORY_BUNDLE_VERSION_V1",
    ],
    "abstractruntime.evidence.recorder": ["EvidenceRecorder", "DEFAULT_EVIDENCE_TOOL_NAMES"],
    "abstractruntime.rendering.agent_trace_report": ["render_agent_trace_markdown"],
    "abstractruntime.rendering.json_stringify": ["stringify_json", "JsonStringifyMode"],
    "abstractruntime.memory.active_context": ["ActiveContextPolicy", "TimeRange"],
    "abstractruntime.storage.sqlite": [
        "SqliteDatabase",
        "SqliteRunStore",
        "SqliteLedgerStore",
        "SqliteCommandStore",
        "SqliteCommandCursorStore",
    ],
    "abstractruntime.storage.commands": [
        "CommandRecord",
        "CommandAppendResult",
        "CommandStore",
        "CommandCursorStore",
        "InMemoryCommandStore",
        "InMemoryCommandCursorStore",
        "JsonlCommandStore",
        "JsonFileCommandCursorStore",
    ],
}


def test_root_all_is_pinned() -> None:
    assert len(SPEC_ROOT_NAMES) == 79
    assert set(abstractruntime.__all__) == ROOT_NAMES
    assert len(abstractruntime.__all__) == len(ROOT_NAMES)
    for name in abstractruntime.__all__:
        assert getattr(abstractruntime, name) is not None


def test_package_all_lists_are_pinned() -> None:
    import importlib

    for module_name, names in PACKAGE_NAMES.items():
        assert set(importlib.import_module(module_name).__all__) == names, module_name


def test_storage_and_core_all_are_pinned() -> None:
    assert len(STORAGE_NAMES) == 18
    assert set(abstractruntime.storage.__all__) == STORAGE_NAMES
    assert set(abstractruntime.core.__all__) == CORE_NAMES
    assert abstractruntime.core.LIMITS == "_limits"


def test_documented_module_paths_export_their_names() -> None:
    import importlib

    for module_name, names in DOCUMENTED_MODULES.items():
        module = importlib.import_module(module_name)
        missing = [n for n in names if not hasattr(module, n)]
        assert not missing, f"{module_name} lacks {missing}"


def test_record_and_config_types_are_not_root_exports() -> None:
    for name in ("StepRecord", "StepStatus", "LimitWarning", "RuntimeConfig", "EffectOutcome"):
        assert name not in abstractruntime.__all__


def test_importing_the_package_imports_only_the_standard_library() -> None:
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import abstractruntime, abstractruntime.core, abstractruntime.storage, abstractruntime.testing\n"
        "import abstractruntime.scheduler, abstractruntime.evidence, abstractruntime.rendering\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    loaded = json.loads(out)
    third_party = sorted(
        {m.split(".")[0] for m in loaded}
        - set(sys.stdlib_module_names)
        - {"abstractruntime"}
        - {m for m in {m.split(".")[0] for m in loaded} if m.startswith("_")}
    )
    assert third_party == []


def test_package_ships_py_typed() -> None:
    from importlib import resources

    assert resources.files("abstractruntime").joinpath("py.typed").is_file()
