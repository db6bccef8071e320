"""Import cost: ``import abstractruntime`` loads only the kernel; everything else loads on first access.

Every check runs in a fresh interpreter (what the current process already imported would hide a
regression) and counts modules, never time.  See docs/performance.md, "Import cost".
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from abstractruntime._lazy import lazy_exports

ROOT = Path(__file__).resolve().parent.parent

# What ``import abstractruntime`` may load of this package: the models, spec, policies, errors, the
# Runtime with its step engine, and the store interfaces it is typed against.  Growing this list is a
# decision (docs/performance.md), not a side effect.
KERNEL_MODULES = {
    "abstractruntime",
    "abstractruntime._lazy",
    "abstractruntime.errors",
    "abstractruntime.core",
    "abstractruntime.core.budget",
    "abstractruntime.core.clock",
    "abstractruntime.core.config",
    "abstractruntime.core.event_keys",
    "abstractruntime.core.evidence_hook",
    "abstractruntime.core.host_vars",
    "abstractruntime.core.jsonable",
    "abstractruntime.core.lease_store",
    "abstractruntime.core.leases",
    "abstractruntime.core.models",
    "abstractruntime.core.outcome",
    "abstractruntime.core.policy",
    "abstractruntime.core.recovery",
    "abstractruntime.core.runtime",
    "abstractruntime.core.runtime_queries",
    "abstractruntime.core.spec",
    "abstractruntime.core.vars",
    "abstractruntime.core.effects",
    "abstractruntime.core.effects.events",
    "abstractruntime.core.effects.kernel",
    "abstractruntime.core.effects.model_traits",
    "abstractruntime.core.effects.registry",
    "abstractruntime.core.effects.subworkflow",
    "abstractruntime.core.effects.user",
    "abstractruntime.core.effects.vars_query",
    "abstractruntime.core.effects.waits",
    "abstractruntime.core.engine",
    "abstractruntime.core.engine.approval_edits",
    "abstractruntime.core.engine.control",
    "abstractruntime.core.engine.effect_step",
    "abstractruntime.core.engine.limits",
    "abstractruntime.core.engine.loop",
    "abstractruntime.core.engine.records",
    "abstractruntime.core.engine.resume",
    "abstractruntime.core.engine.resume_payload",
    "abstractruntime.core.engine.store_access",
    "abstractruntime.core.engine.tool_calls",
    "abstractruntime.core.engine.traces",
    "abstractruntime.storage",
    "abstractruntime.core.ports",
    "abstractruntime.core.logs",
    "abstractruntime.core.runtime_drivers",
    "abstractruntime.storage.base",
    "abstractruntime.storage.leases",
}

# Never loaded by ``import abstractruntime`` (third-party, heavy standard library, or non-kernel parts).
NOT_AT_IMPORT = [
    "sqlite3",
    "logging",  # core.logs.LazyLogger imports it at the first message
    "hashlib",  # imported at the first idempotency key
    "uuid",
    "zipfile",
    "tempfile",
    "shutil",
    "socket",
    "http.server",
    "httpx",
    "click",
    "rich",
    "abstractcore",
    "abstractruntime.scheduler",
    "abstractruntime.workflow_bundle",
    "abstractruntime.history_bundle",
    "abstractruntime.memory",
    "abstractruntime.identity",
    "abstractruntime.storage.sqlite",
    "abstractruntime.storage.json_files",
    "abstractruntime.storage.in_memory",
    "abstractruntime.storage.offloading",
    "abstractruntime.storage.artifacts",
    "abstractruntime.core.effects.memory_compact",
    "abstractruntime.core.effects.memory_query",
]

# Every package whose ``__all__`` SPEC §1 lists, plus the testing helpers.
PACKAGES = [
    "abstractruntime",
    "abstractruntime.core",
    "abstractruntime.storage",
    "abstractruntime.scheduler",
    "abstractruntime.workflow_bundle",
    "abstractruntime.evidence",
    "abstractruntime.rendering",
    "abstractruntime.memory",
    "abstractruntime.identity",
    "abstractruntime.visualflow_compiler",
    "abstractruntime.visualflow_compiler.visual",
    "abstractruntime.visualflow_compiler.adapters",
    "abstractruntime.integrations",
    "abstractruntime.integrations.abstractmemory",
    "abstractruntime.integrations.abstractcore",
    "abstractruntime.testing",
]

# Prints {"loaded": [this package's modules], "new": [every module the statement added]}.
PROBE = """\
import json, sys
before = set(sys.modules)
{statement}
new = sorted(set(sys.modules) - before)
print(json.dumps({{"loaded": [m for m in new if m.split(".")[0] == "abstractruntime"], "new": new}}))
"""


def fresh(code: str) -> Any:
    """Run ``code`` in a new interpreter and return the JSON its last stdout line holds."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def probe(statement: str) -> tuple[set[str], set[str]]:
    """(this package's modules, all modules) that ``statement`` loads in a fresh interpreter."""
    out = fresh(PROBE.format(statement=statement))
    return set(out["loaded"]), set(out["new"])


def test_import_loads_only_the_kernel() -> None:
    loaded, new = probe("import abstractruntime")
    assert loaded <= KERNEL_MODULES, sorted(loaded - KERNEL_MODULES)
    assert "abstractruntime.core.runtime" in loaded  # the kernel itself is there, not deferred
    assert not set(NOT_AT_IMPORT) & new, sorted(set(NOT_AT_IMPORT) & new)


def test_importing_the_models_does_not_load_more_than_the_root() -> None:
    loaded, _ = probe("from abstractruntime.core.models import RunState")
    assert loaded <= KERNEL_MODULES


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        (
            "from abstractruntime.storage import InMemoryRunStore",
            ["sqlite3", "abstractruntime.storage.json_files"],
        ),
        ("from abstractruntime.storage import open_stores", ["sqlite3", "abstractruntime.scheduler"]),
        ("from abstractruntime.scheduler import WorkflowRegistry", ["abstractruntime.scheduler.scheduler"]),
        ("from abstractruntime.workflow_bundle import WorkflowBundleError", ["zipfile"]),
        ("from abstractruntime import SqliteRunStore", ["abstractruntime.scheduler", "zipfile"]),
        ("from abstractruntime import Scheduler", ["sqlite3", "abstractruntime.workflow_bundle"]),
    ],
)
def test_a_name_loads_only_what_it_needs(statement: str, absent: list[str]) -> None:
    _, new = probe(statement)
    assert not set(absent) & new, sorted(set(absent) & new)


def test_every_exported_name_resolves_and_is_listed() -> None:
    """In a fresh interpreter, each name of each package's ``__all__`` resolves (lazily where it is
    lazy), ``dir()`` lists it, and a class or function is the very object its defining module holds."""
    problems = fresh(
        f"""
        import importlib, importlib.util, json, sys
        problems = []
        for package in {PACKAGES!r}:
            if importlib.util.find_spec(package) is None:
                continue  # a SPEC package this checkout does not have yet (abstractmemory bridge)
            module = importlib.import_module(package)
            listed = set(dir(module))
            for name in module.__all__:
                try:
                    value = getattr(module, name)
                except Exception as exc:
                    problems.append(f"{{package}}.{{name}}: {{exc!r}}")
                    continue
                if name not in listed:
                    problems.append(f"{{package}}.{{name}} missing from dir()")
                home = getattr(value, "__module__", None)
                if isinstance(value, type) or callable(value) and home:
                    owner = sys.modules[home]
                    if getattr(owner, value.__qualname__, None) is not value:
                        problems.append(f"{{package}}.{{name}} is not {{home}}.{{value.__qualname__}}")
        print(json.dumps(problems))
        """
    )
    assert problems == []


def test_lazy_names_are_the_defining_objects() -> None:
    import abstractruntime
    import abstractruntime.storage
    from abstractruntime.scheduler import SchedulerStats
    from abstractruntime.scheduler.scheduler import SchedulerStats as Defined
    from abstractruntime.storage.in_memory import InMemoryRunStore
    from abstractruntime.storage.sqlite import SqliteRunStore

    assert abstractruntime.SqliteRunStore is SqliteRunStore
    assert abstractruntime.storage.InMemoryRunStore is InMemoryRunStore is abstractruntime.InMemoryRunStore
    assert SchedulerStats is Defined
    assert isinstance(InMemoryRunStore(), abstractruntime.storage.RunStore)
    assert pickle.loads(pickle.dumps(abstractruntime.TimeRange)) is abstractruntime.TimeRange
    stats = SchedulerStats()
    assert type(pickle.loads(pickle.dumps(stats))) is Defined


def test_root_import_still_gives_access_to_the_subpackages_it_used_to_load() -> None:
    names = fresh(
        """
        import json, abstractruntime
        found = [
            abstractruntime.storage.open_stores.__name__,
            abstractruntime.scheduler.Scheduler.__name__,
            abstractruntime.workflow_bundle.open_workflow_bundle.__name__,
            abstractruntime.history_bundle.export_run_history_bundle.__name__,
            abstractruntime.memory.ActiveContextPolicy.__name__,
            abstractruntime.identity.ActorFingerprint.__name__,
        ]
        print(json.dumps(found))
        """
    )
    assert names == [
        "open_stores",
        "Scheduler",
        "open_workflow_bundle",
        "export_run_history_bundle",
        "ActiveContextPolicy",
        "ActorFingerprint",
    ]


def test_unknown_names_raise_attribute_error() -> None:
    import abstractruntime
    import abstractruntime.storage

    with pytest.raises(AttributeError, match="no attribute 'NoSuchStore'"):
        _ = abstractruntime.NoSuchStore
    assert not hasattr(abstractruntime.storage, "sqlite_nope")
    with pytest.raises(ImportError):
        exec("from abstractruntime.scheduler import NoSuchThing", {})


def test_a_name_exported_by_two_modules_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'X' is exported by \.a and \.b"):
        lazy_exports("pkg", {}, {".a": ("X",), ".b": ("X",)})


def test_memory_handlers_load_at_their_first_effect() -> None:
    """``Runtime(...)`` registers the MEMORY_* handlers without importing them; the first MEMORY_NOTE
    imports its module and runs as before."""
    out = fresh(
        """
        import json, sys
        from abstractruntime import Effect, EffectType, InMemoryArtifactStore, InMemoryLedgerStore
        from abstractruntime import InMemoryRunStore, Runtime, StepPlan, WorkflowSpec

        def note(run, ctx):
            effect = Effect(type=EffectType.MEMORY_NOTE, payload={"note": "milk"}, result_key="noted")
            return StepPlan(node_id="note", effect=effect, next_node="done")

        def done(run, ctx):
            return StepPlan(node_id="done", complete_output={"noted": run.vars["noted"]})

        flow = WorkflowSpec(workflow_id="w", entry_node="note", nodes={"note": note, "done": done})
        runtime = Runtime(
            run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore(),
            artifact_store=InMemoryArtifactStore(),
        )
        module = "abstractruntime.core.effects.memory_note"
        before = module in sys.modules
        state = runtime.tick(workflow=flow, run_id=runtime.start(workflow=flow))
        entry = state.output["noted"]["results"][0]
        print(json.dumps({"before": before, "after": module in sys.modules,
                          "status": state.status.value, "success": entry["success"],
                          "span": bool(entry["output"]["span_id"])}))
        """
    )
    assert out == {"before": False, "after": True, "status": "completed", "success": True, "span": True}


def test_import_cost_benchmark_prints_module_counts() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "import_cost.py"),
            "--runs",
            "1",
            "--only",
            "root,sqlite_store",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = {line["target"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert set(lines) == {"root", "sqlite_store"}
    assert 0 < lines["root"]["modules_abstractruntime"] <= len(KERNEL_MODULES)
    assert lines["sqlite_store"]["modules_abstractruntime"] > lines["root"]["modules_abstractruntime"]
    assert all(line["import_ms_best"] > 0 and line["runs"] == 1 for line in lines.values())
