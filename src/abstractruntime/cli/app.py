"""Shared state of one CLI invocation: the store, the runtime, exit codes and errors."""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from abstractruntime.core.leases import DEFAULT_LEASE_TTL_S
from abstractruntime.core.models import RunState, RunStatus
from abstractruntime.core.runtime import Runtime
from abstractruntime.core.spec import WorkflowSpec
from abstractruntime.errors import CorruptRunError
from abstractruntime.scheduler import Scheduler, WorkflowRegistry
from abstractruntime.storage.ledger_chain import HashChainedLedgerStore
from abstractruntime.storage.urls import Stores

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_FAILED = 4
EXIT_WAITING = 5

STORE_ENV = "ABSTRACTRUNTIME_STORE"
LEASE_TTL_ENV = "ABSTRACTRUNTIME_LEASE_TTL_S"
CLI_NS_TARGET = "cli_target"
CLI_NS_CWD = "cli_cwd"
CLI_NS_FAKE_LLM = "cli_fake_llm"
CLI_NS_HASH_CHAIN = "cli_hash_chain"
CLI_NS_CODE_SHA256 = "cli_code_sha256"


class CliError(click.ClickException):
    """An error printed as ``Error: <message>`` with a chosen exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("abstractruntime", appauthor=False))


def default_store_url() -> str:
    return f"sqlite:///{(default_data_dir() / 'runs.db').as_posix()}"


def lease_ttl_s() -> float:
    """The lease TTL of this process's drivers, in seconds: ``$ABSTRACTRUNTIME_LEASE_TTL_S`` or 30.

    Raises:
        CliError: the variable is not a number > 0 (exit 2).
    """
    text = os.environ.get(LEASE_TTL_ENV)
    if not text:
        return DEFAULT_LEASE_TTL_S
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (math.isfinite(value) and value > 0):
        raise CliError(f"{LEASE_TTL_ENV} must be a number of seconds > 0, got {text!r}", EXIT_USAGE)
    return value


def runtime_ns(state: RunState) -> dict[str, Any]:
    ns = state.vars.get("_runtime")
    return ns if isinstance(ns, dict) else {}


@dataclass
class App:
    """Lazily opened stores; one per invocation, closed when the command ends."""

    store_url: str | None
    json_output: bool = False
    store_source: str = "default"
    _stores: Stores | None = field(default=None, repr=False)
    _runtimes: list[Runtime] = field(default_factory=list, repr=False)
    _closers: list[Any] = field(default_factory=list, repr=False)
    _artifacts: Any = field(default=None, repr=False)
    _kg_store: Any = field(default=None, repr=False)
    llm_options: dict[str, str | None] = field(default_factory=dict)
    """``base_url``/``model``/``api_key`` given on the command line (``run``/``resume``)."""

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or os.environ.get(STORE_ENV) or default_store_url()

    @property
    def stores(self) -> Stores:
        """The stores, opened on first use; only ``run``/``scheduler serve`` create a missing store."""
        if self._stores is None:
            from .stores import open_cli_stores, store_mode

            self._stores = open_cli_stores(self.resolved_store_url, store_mode())
        return self._stores

    def close(self) -> None:
        """Release the leases of every runtime this command built (so recovery can start at once,
        also after Ctrl-C), then close the stores."""
        runtimes, self._runtimes = self._runtimes, []
        for runtime in runtimes:
            if runtime.leases is not None:
                runtime.leases.close()
        closers, self._closers = self._closers, []
        for close in closers:
            close()
        if self._stores is not None:
            self._stores.close()
            self._stores = None

    def load_state(self, run_id: str) -> RunState:
        from .stores import MissingStoreError

        try:
            stores = self.stores
        except MissingStoreError as exc:
            raise CliError(f"run not found: {run_id} ({exc.message})", EXIT_NOT_FOUND) from exc
        state = stores.run_store.load(run_id)
        if state is None:
            raise CliError(f"run not found: {run_id}", EXIT_NOT_FOUND)
        if state.run_id != run_id:  # reported, never "repaired" by saving it back
            raise CorruptRunError(f"the stored run {run_id} holds run id {state.run_id!r}", run_id=run_id)
        return state

    def ledger(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.stores.ledger_store.list(run_id))

    def runtime(
        self,
        registry: WorkflowRegistry | None = None,
        *,
        fake_llm: bool = False,
        hash_chain: bool = True,
        stored_llm: Any = None,
        approve_tools: str = "ask",
        workspace_root: Any = None,
    ) -> Runtime:
        """A runtime over the stores.  LLM_CALL and TOOL_CALLS follow the options each run recorded at
        start (``cli/run_effects.py``); the keyword arguments are the options of runs that recorded none:
        the LLM of ``fake_llm`` (which also forces the fake LLM on every run), the LLM options/env/config
        or ``stored_llm`` — without any, LLM_CALL fails saying how to configure one — and the default
        file tools over ``workspace_root`` under the ``approve_tools`` mode (``cli/tools.py``).

        Raises:
            CliError: an unknown ``approve_tools`` mode, or the LLM extra is missing (exit 2).
        """
        from .run_effects import RunEffects, RunOptions

        ledger = self.stores.ledger_store
        if hash_chain:
            ledger = HashChainedLedgerStore(ledger)
        root = workspace_root if isinstance(workspace_root, str) else None
        defaults = RunOptions(fake_llm, stored_llm, approve_tools, root, hash_chain)
        effects = RunEffects(self, defaults, force_fake_llm=fake_llm)
        runtime = Runtime(
            run_store=self.stores.run_store,
            ledger_store=ledger,
            effect_handlers={**effects.handlers(), **self.kg_handlers()},
            workflow_registry=registry,
            lease_store=self.stores.lease_store,
            lease_ttl_s=lease_ttl_s(),
            artifact_store=self.artifact_store(),
        )
        runtime.set_tool_executor_for_resume(effects.executor)
        self._runtimes.append(runtime)
        return runtime

    def artifact_store(self) -> Any:
        """The artifact store beside the run store (memory effects, evidence): ``<db>.artifacts/`` for
        ``sqlite:///<db>``, the store directory for ``file://``, the database's own artifact store for
        ``postgresql://`` (shared by every worker), in memory for ``memory://``."""
        from abstractruntime.storage.artifacts_files import FileArtifactStore
        from abstractruntime.storage.artifacts_memory import InMemoryArtifactStore

        if self._artifacts is None:
            path = getattr(self.stores.database, "path", None)
            base_dir = getattr(self.stores.run_store, "base_dir", None)
            if self.stores.artifact_store is not None:
                self._artifacts = self.stores.artifact_store
            elif path is not None and str(path) != ":memory:":
                self._artifacts = FileArtifactStore(f"{path}.artifacts")
            elif base_dir is not None:
                self._artifacts = FileArtifactStore(base_dir)
            else:
                self._artifacts = InMemoryArtifactStore()
        return self._artifacts

    def kg_handlers(self) -> dict[Any, Any]:
        """MEMORY_KG_ASSERT/QUERY/RESOLVE over a SQLite triple store beside the run store (docs/memory.md):
        ``<db>.kg.sqlite`` for ``sqlite:///<db>``, ``<dir>/kg.sqlite`` for ``file://``, in memory otherwise."""
        from abstractruntime.core.clock import utc_now_iso
        from abstractruntime.integrations.abstractmemory import build_memory_kg_effect_handlers
        from abstractruntime.integrations.abstractmemory.triple_store import SqliteTripleStore

        if self._kg_store is None:
            path = getattr(self.stores.database, "path", None)
            base_dir = getattr(self.stores.run_store, "base_dir", None)
            if path is not None and str(path) != ":memory:":
                target = f"{path}.kg.sqlite"
            elif base_dir is not None:
                target = str(Path(base_dir) / "kg.sqlite")
            else:
                target = ":memory:"
            self._kg_store = SqliteTripleStore(target)
            self._closers.append(self._kg_store.close)
        return build_memory_kg_effect_handlers(
            store=self._kg_store, run_store=self.stores.run_store, now_iso=utc_now_iso
        )

    def llm_settings(self, stored_llm: Any = None) -> Any:
        """The :class:`~abstractruntime.cli.llm.LlmSettings` to use, or None (see ``cli/llm.py``)."""
        from .llm import resolve_llm_settings

        return resolve_llm_settings(**self.llm_options, stored=stored_llm)

    def llm_handlers(self, stored_llm: Any = None, tool_executor: Any = None) -> dict[Any, Any]:
        """The LLM_CALL handler (see ``cli/llm.py``); tools named in payloads are described from
        ``tool_executor``'s functions."""
        from abstractruntime.errors import MissingExtraError

        from .llm import llm_effect_handlers

        settings = self.llm_settings(stored_llm)
        specs = None
        if settings is not None:
            from abstractruntime.integrations.abstractcore.tool_specs import executor_tool_specs

            specs = executor_tool_specs(tool_executor)
        try:
            return llm_effect_handlers(settings, self._closers, specs)
        except MissingExtraError as exc:
            raise CliError(str(exc), EXIT_USAGE) from exc

    def root_ns(self, state: RunState) -> dict[str, Any]:
        """The CLI namespace of the run, or of its nearest ancestor that has one (child runs)."""
        seen: set[str] = set()
        current: RunState | None = state
        while current is not None and current.run_id not in seen:
            seen.add(current.run_id)
            ns = runtime_ns(current)
            if CLI_NS_TARGET in ns:
                return ns
            parent = current.parent_run_id
            current = self.stores.run_store.load(parent) if parent else None
        return {}

    def runtime_for_run(
        self, state: RunState, *, operator_target: str | None = None
    ) -> tuple[Runtime, WorkflowRegistry, WorkflowSpec]:
        """Rebuild the run's WorkflowSpec and a runtime to drive it.

        The workflow comes from ``operator_target`` when the operator named one on the command line, else
        from the target stored with the run (``vars._runtime.cli_target``, which flows cannot write); a
        stored Python target is imported only while its code matches the hash recorded at start.

        Raises:
            CliError: the run was not started by the CLI, or its target cannot be (safely) reloaded.
        """
        from .targets import TargetError, load_target

        ns = self.root_ns(state)
        target = operator_target or ns.get(CLI_NS_TARGET)
        if not isinstance(target, str):
            raise CliError(
                f"run {state.run_id} was not started by the CLI (no vars._runtime.{CLI_NS_TARGET}); "
                "resume it from the program that started it, or name its workflow with --target",
                EXIT_USAGE,
            )
        try:
            if operator_target:
                loaded = load_target(operator_target, cwd=os.getcwd())
            else:
                loaded = load_target(
                    target,
                    cwd=ns.get(CLI_NS_CWD),
                    stored=True,
                    trusted_sha256=ns.get(CLI_NS_CODE_SHA256),
                )
        except TargetError as exc:
            raise CliError(f"cannot reload the workflow of run {state.run_id}: {exc}", EXIT_USAGE) from exc
        registry = loaded.registry()
        spec = registry.get(state.workflow_id)
        if spec is None:
            raise CliError(
                f"workflow {state.workflow_id!r} of run {state.run_id} is not in target {target!r}",
                EXIT_USAGE,
            )
        return self.runtime(registry, **self.run_runtime_options(state)), registry, spec

    def run_runtime_options(self, state: RunState) -> dict[str, Any]:
        """The :meth:`runtime` keyword arguments ``state`` recorded when it started (its root run's
        ``vars._runtime``, which flows cannot write, plus its host-owned ``workspace_root``): the stored
        LLM settings, the tool approval mode, the workspace, ``--fake-llm`` and ``--no-hash-chain``."""
        from dataclasses import asdict

        from .run_effects import run_options

        return asdict(run_options(self.root_ns(state), state))

    def scheduler(self, runtime: Runtime, registry: WorkflowRegistry) -> Scheduler:
        return Scheduler(runtime=runtime, registry=registry)


def reports_failure(state: RunState) -> bool:
    """A completed run whose output says ``success: false`` (a VisualFlow node error, for instance)."""
    output = state.output
    return state.status == RunStatus.COMPLETED and isinstance(output, dict) and output.get("success") is False


def exit_code_for(state: RunState) -> int:
    if state.status == RunStatus.COMPLETED:
        return EXIT_FAILED if reports_failure(state) else EXIT_OK
    if state.status == RunStatus.WAITING:
        return EXIT_WAITING
    if state.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        return EXIT_FAILED
    return EXIT_OK


def parse_json_option(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise CliError(f"{what} is nested too deeply", EXIT_USAGE) from exc
    except json.JSONDecodeError as exc:
        raise CliError(f"{what} is not valid JSON: {_reason(exc)}", EXIT_USAGE) from exc
    except ValueError as exc:
        raise CliError(f"{what}: {unreadable_json_reason(exc)}", EXIT_USAGE) from exc


def unreadable_json_reason(exc: ValueError) -> str:
    """Why valid JSON could not be read: in practice an integer over Python's digit limit."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
    if "digits" in str(exc):
        return f"an integer has more than {limit} digits; pass it as a string"
    return _reason(exc)


def get_app(ctx: click.Context) -> App:
    app = ctx.find_object(App)
    assert app is not None
    return app
