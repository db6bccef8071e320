"""Driving runs from the terminal: the progress loop, waits, prompts, and the registry of workflows
rebuilt from the targets stored with CLI runs.  Outcomes are printed by ``outcome.py`` (its names are
importable from here too)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from functools import partial
from typing import Any

import click

from abstractruntime.core.engine.store_access import is_paused
from abstractruntime.core.models import RunState, RunStatus, WaitReason
from abstractruntime.core.runtime import Runtime
from abstractruntime.errors import (
    ConcurrencyError,
    CorruptRunError,
    InvalidResumePayloadError,
    ResumeError,
)
from abstractruntime.scheduler import Scheduler, WorkflowRegistry

from . import render
from .answers import asks_event, pending_calls
from .app import (
    CLI_NS_CODE_SHA256,
    CLI_NS_CWD,
    CLI_NS_TARGET,
    EXIT_FAILED,
    EXIT_USAGE,
    App,
    CliError,
)
from .guard import is_sqlite_corruption
from .outcome import cli_prefix, is_ancestor, plain_value, report_outcome, resume_command
from .prompts import ask_answer, ask_approval
from .targets import TargetError, load_target

__all__ = [
    "Driver",
    "add_run_target",
    "add_waiting_workflows",
    "cli_prefix",
    "drive_woken_listeners",
    "is_ancestor",
    "plain_value",
    "registry_from_store",
    "report_outcome",
    "resume_command",
]


class Driver:
    """Ticks a run (and the child runs it waits on) until it ends or must wait, showing progress.

    Every run it advances is leased first (``runtime.leases``; released when the command ends, Ctrl-C
    included).  A run leased by another live driver, or advanced by one meanwhile, is left to it:
    ``drive`` stops there and :attr:`elsewhere` says why.
    """

    def __init__(
        self,
        app: App,
        runtime: Runtime,
        registry: WorkflowRegistry,
        *,
        interactive: bool,
        detach: bool,
        show_progress: bool = True,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.registry = registry
        self.interactive = interactive
        self.detach = detach
        self.show_progress = show_progress
        self.scheduler = Scheduler(runtime=runtime, registry=registry)
        self.seen: dict[str, int] = {}
        self.out = render.console(stderr=app.json_output)
        self.elsewhere: str | None = None  # why driving stopped: another driver has the run
        self._claimed: set[str] = set()

    def claim(self, run_id: str) -> bool:
        """Lease ``run_id`` for the rest of this command; False (and :attr:`elsewhere` set) when another
        live driver holds it."""
        keeper = self.runtime.leases
        if keeper is None or run_id in self._claimed:
            return True
        if keeper.acquire(run_id) is None:
            lease = keeper.store.get_lease(run_id)
            owner = lease.owner if lease is not None else "another driver"
            self.elsewhere = f"run {run_id} is being advanced elsewhere (leased by {owner})"
            return False
        self._claimed.add(run_id)
        return True

    def mark_seen(self, run_id: str) -> None:
        self.seen[run_id] = len(self.app.ledger(run_id))

    def show_new(self, run_id: str) -> None:
        records = self.app.ledger(run_id)
        start = self.seen.get(run_id, 0)
        if self.show_progress and len(records) > start:
            render.print_records(records[start:], start=start, out=self.out)
        self.seen[run_id] = len(records)

    def _spec(self, state: RunState) -> Any:
        spec = self.registry.get(state.workflow_id)
        if spec is None:
            raise CliError(f"workflow {state.workflow_id!r} of run {state.run_id} is not loaded", EXIT_USAGE)
        return spec

    def _waiting_parent(self, state: RunState) -> RunState | None:
        if not state.parent_run_id:
            return None
        parent = self.app.stores.run_store.load(state.parent_run_id)
        if (
            parent is not None
            and parent.status == RunStatus.WAITING
            and parent.waiting is not None
            and parent.waiting.wait_key == f"subworkflow:{state.run_id}"
        ):
            return parent
        return None

    def _resume_parent(self, child: RunState) -> RunState | None:
        if child.status == RunStatus.COMPLETED:
            output: Any = child.output
        else:
            output = {"success": False, "error": child.error}
        return self.scheduler.resume_subworkflow_parent(child_run_id=child.run_id, child_output=output)

    def _ask(self, state: RunState) -> Any:
        """The answer typed at the prompt, or None after Ctrl-C / Ctrl-D (the run stays waiting)."""
        try:
            return self._prompt(state)
        except click.Abort:  # click.prompt turns KeyboardInterrupt and EOFError into Abort
            click.echo()  # end the prompt line
            self.detach = True  # ask nothing more in this invocation
            return None

    def _prompt(self, state: RunState) -> Any:
        wait = state.waiting
        assert wait is not None
        calls = pending_calls(wait)
        if calls is not None:
            return ask_approval(calls, self.out)
        return ask_answer(wait, self.out)

    def _step(self, state: RunState, fn: Any) -> bool:
        """Lease the run, then ``_tick``; False when another driver has it (see :attr:`elsewhere`)."""
        return self.claim(state.run_id) and self._tick(state, fn)

    def _tick(self, state: RunState, fn: Any) -> bool:
        """Call ``fn`` (a tick or resume); False when another driver advanced the run meanwhile."""
        try:
            fn()
        except CliError:
            raise
        except InvalidResumePayloadError as exc:  # the payload, not a race: nothing was applied
            raise CliError(f"the resume payload was refused: {exc}", EXIT_USAGE) from exc
        except (ConcurrencyError, ResumeError) as exc:
            self.elsewhere = f"run {state.run_id} is being advanced elsewhere ({type(exc).__name__})"
            return False
        except Exception as exc:  # a node handler raised: the run stays at that node (SPEC §4.3)
            if isinstance(exc, CorruptRunError) or is_sqlite_corruption(exc):
                raise  # the store is damaged, not the node: reported by the entry point (exit 6)
            self.show_new(state.run_id)
            raise CliError(
                f"run {state.run_id} stopped at node {state.current_node!r}: {type(exc).__name__}: {exc}",
                EXIT_FAILED,
            ) from exc
        return True

    def drive(self, run_id: str) -> RunState:
        current = run_id
        while True:
            state = self.runtime.get_state(current)
            self.show_new(current)
            if state.status == RunStatus.RUNNING:
                if not self._advance(state):
                    return self.runtime.get_state(current)
                continue
            if state.status != RunStatus.WAITING:
                parent = self._waiting_parent(state)
                if parent is not None:
                    resumed = self._resume_parent(state)
                    if resumed is not None:
                        current = resumed.run_id
                        continue
                return state
            wait = state.waiting
            if wait is None or is_paused(state):
                return state
            if wait.reason == WaitReason.SUBWORKFLOW and (wait.wait_key or "").startswith("subworkflow:"):
                child_id = (wait.wait_key or "").split(":", 1)[1]
                child = self.app.stores.run_store.load(child_id)
                if child is None:
                    return state
                if child.is_terminal:
                    resumed = self._resume_parent(child)
                    if resumed is None:
                        return state
                    current = resumed.run_id
                    continue
                if self.show_progress:
                    self.out.print(f"[dim]→ child run {child_id} ({render.escape(child.workflow_id)})[/dim]")
                current = child_id
                continue
            asks = wait.reason == WaitReason.USER or asks_event(wait)
            if asks and self.interactive and not self.detach and wait.wait_key:
                payload = self._ask(state)
                if payload is None:
                    return state
                resume = partial(
                    self.runtime.resume,
                    workflow=self._spec(state),
                    run_id=current,
                    wait_key=wait.wait_key,
                    payload=payload,
                    max_steps=1,
                )
                if not self._step(state, resume):
                    return self.runtime.get_state(current)
                continue
            if wait.reason == WaitReason.UNTIL and not self.detach and wait.until:
                # leased while sleeping, so a scheduler leaves the timer to us
                if not self.claim(current) or not self._sleep_until(wait.until):
                    return state
                if not self._advance(state):
                    return self.runtime.get_state(current)
                continue
            return state

    def _advance(self, state: RunState) -> bool:
        """One step of ``state``'s run; False when another driver has it (see :attr:`elsewhere`)."""
        tick = partial(self.runtime.tick, workflow=self._spec(state), run_id=state.run_id, max_steps=1)
        return self._step(state, tick)

    def _sleep_until(self, until: str) -> bool:
        """Sleep until the ISO time ``until``; False after Ctrl-C (the run stays waiting)."""
        due = _parse_iso(until)
        delay = (due - datetime.now(timezone.utc)).total_seconds() if due else 0.0
        if delay <= 0:
            return True
        if self.show_progress:
            self.out.print(f"[dim]… waiting until {until} ({delay:.0f}s; Ctrl-C detaches)[/dim]")
        try:
            time.sleep(delay)
        except KeyboardInterrupt:
            return False
        return True


def _parse_iso(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def registry_from_store(
    app: App, runtime_holder: list[Runtime] | None = None
) -> tuple[WorkflowRegistry, list[str]]:
    """Register the workflows of every CLI target referenced by a non-terminal run (problems listed)."""
    registry = WorkflowRegistry()
    problems: list[str] = []
    done: set[tuple[str, str | None]] = set()
    for status in (RunStatus.WAITING, RunStatus.RUNNING):
        for state in app.stores.run_store.list_runs(status=status, limit=100_000):  # type: ignore[attr-defined]
            add_run_target(app, registry, state, done, problems)
    return registry, problems


def add_waiting_workflows(app: App, registry: WorkflowRegistry) -> list[str]:
    """Also register the workflows of CLI runs waiting on an event, so an EMIT_EVENT of this run reaches them.

    Returns the ids of those runs. Targets that can no longer be loaded are skipped silently (the event
    then does not reach those runs).
    """
    done: set[tuple[str, str | None]] = set()
    problems: list[str] = []
    listeners: list[str] = []
    for state in app.stores.run_store.list_runs(  # type: ignore[attr-defined]
        status=RunStatus.WAITING, wait_reason=WaitReason.EVENT, limit=100_000
    ):
        listeners.append(state.run_id)
        add_run_target(app, registry, state, done, problems)
    return listeners


def drive_woken_listeners(
    app: App, runtime: Runtime, registry: WorkflowRegistry, listeners: list[str]
) -> None:
    """Drive on (without prompting) the listeners an event of this run resumed, as `emit` does."""
    driver = Driver(app, runtime, registry, interactive=False, detach=True, show_progress=False)
    for run_id in listeners:
        state = app.stores.run_store.load(run_id)
        if state is not None and state.status == RunStatus.RUNNING and registry.get(state.workflow_id):
            try:
                driver.drive(run_id)
            except CliError as exc:
                click.echo(f"warning: {exc.message}", err=True)


def add_run_target(
    app: App,
    registry: WorkflowRegistry,
    state: RunState,
    done: set[tuple[str, str | None]],
    problems: list[str],
) -> None:
    ns = app.root_ns(state)
    target = ns.get(CLI_NS_TARGET)
    if not isinstance(target, str):
        return
    key = (target, ns.get(CLI_NS_CWD))
    if key in done:
        return
    done.add(key)
    try:
        loaded = load_target(
            target, cwd=ns.get(CLI_NS_CWD), stored=True, trusted_sha256=ns.get(CLI_NS_CODE_SHA256)
        )
    except TargetError as exc:
        problems.append(f"{target}: {exc}")
        return
    for spec in loaded.registry_specs():
        if registry.get(spec.workflow_id) is None:
            registry.register(spec)
