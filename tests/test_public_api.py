"""The public surface: pinned export lists (SPEC §1, §15) and a stdlib-only import."""

from __future__ import annotations

import json
import subprocess
import sys

import abstractruntime
import abstractruntime.core
import abstractruntime.storage

ROOT_NAMES = {
    "Effect",
    "EffectType",
    "RunState",
    "RunStatus",
    "StepPlan",
    "WaitReason",
    "WaitState",
    "WorkflowSpec",
    "Runtime",
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
    "EffectPolicy",
    "DefaultEffectPolicy",
    "RetryPolicy",
    "NoRetryPolicy",
    "compute_idempotency_key",
}

STORAGE_NAMES = {
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
    assert set(abstractruntime.__all__) == ROOT_NAMES
    assert len(abstractruntime.__all__) == len(ROOT_NAMES)
    for name in abstractruntime.__all__:
        assert getattr(abstractruntime, name) is not None


def test_storage_and_core_all_are_pinned() -> None:
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
