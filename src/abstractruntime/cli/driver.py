"""Driving runs from the terminal: the progress loop, waits, prompts, outcomes and the registry of
workflows rebuilt from the targets stored with CLI runs."""

from __future__ import annotations

import json
import shlex
import time
from datetime import datetime, timezone
from functools import partial
from typing import Any

import click

from abstractruntime.core.engine.store_access import is_paused
from abstractruntime.core.models import RunState, RunStatus, WaitReason
from abstractruntime.core.runtime import Runtime
from abstractruntime.errors import CorruptRunError
from abstractruntime.scheduler import Scheduler, WorkflowRegistry

from . import render
from .app import (
    CLI_NS_CODE_SHA256,
    CLI_NS_CWD,
    CLI_NS_TARGET,
    EXIT_FAILED,
    EXIT_USAGE,
    App,
    CliError,
    exit_code_for,
    reports_failure,
)
from .guard import is_sqlite_corruption
from .targets import TargetError, load_target


def plain_value(v: Any) -> Any:
    """An enum member's value (anything else unchanged), for printing."""
    return getattr(v, "value", v)


class Driver:
    """Ticks a run (and the child runs it waits on) until it ends or must wait, showing progress."""

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
        prompt = wait.prompt or "Your answer"
        choices = [str(c) for c in (wait.choices or [])]
        self.out.print(f"[bold yellow]?[/bold yellow] {render.escape(prompt)}")
        if choices:
            for i, choice in enumerate(choices, 1):
                self.out.print(f"  {i}) {render.escape(choice)}")
            while True:
                answer = click.prompt(
                    "Choose a number" + (" or type an answer" if wait.allow_free_text else "")
                )
                if answer.isdigit() and 1 <= int(answer) <= len(choices):
                    return {"text": choices[int(answer) - 1]}
                if answer in choices or wait.allow_free_text:
                    return {"text": answer}
                self.out.print("[red]Please pick one of the numbers above.[/red]")
        return {"text": click.prompt(">", prompt_suffix=" ")}

    def _tick(self, state: RunState, fn: Any) -> None:
        try:
            fn()
        except CliError:
            raise
        except Exception as exc:  # a node handler raised: the run stays at that node (SPEC §4.3)
            if isinstance(exc, CorruptRunError) or is_sqlite_corruption(exc):
                raise  # the store is damaged, not the node: reported by the entry point (exit 6)
            self.show_new(state.run_id)
            raise CliError(
                f"run {state.run_id} stopped at node {state.current_node!r}: {type(exc).__name__}: {exc}",
                EXIT_FAILED,
            ) from exc

    def drive(self, run_id: str) -> RunState:
        current = run_id
        while True:
            state = self.runtime.get_state(current)
            self.show_new(current)
            if state.status == RunStatus.RUNNING:
                spec = self._spec(state)
                self._tick(state, partial(self.runtime.tick, workflow=spec, run_id=current, max_steps=1))
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
            if wait.reason == WaitReason.USER and self.interactive and not self.detach and wait.wait_key:
                payload = self._ask(state)
                if payload is None:
                    return state
                spec = self._spec(state)
                key = wait.wait_key
                self._tick(
                    state,
                    partial(
                        self.runtime.resume,
                        workflow=spec,
                        run_id=current,
                        wait_key=key,
                        payload=payload,
                        max_steps=1,
                    ),
                )
                continue
            if wait.reason == WaitReason.UNTIL and not self.detach and wait.until:
                due = _parse_iso(wait.until)
                delay = (due - datetime.now(timezone.utc)).total_seconds() if due else 0.0
                if delay > 0:
                    if self.show_progress:
                        self.out.print(
                            f"[dim]… waiting until {wait.until} ({delay:.0f}s; Ctrl-C detaches)[/dim]"
                        )
                    try:
                        time.sleep(delay)
                    except KeyboardInterrupt:
                        return state
                spec = self._spec(state)
                self._tick(state, partial(self.runtime.tick, workflow=spec, run_id=current, max_steps=1))
                continue
            return state


def _parse_iso(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def cli_prefix(app: App) -> str:
    return f"abstractruntime --store {shlex.quote(app.resolved_store_url)}"


def report_outcome(app: App, root_id: str, stopped: RunState) -> int:
    """Print the result (or how to continue) and return the exit code."""
    root = app.load_state(root_id)
    out = render.console(stderr=app.json_output)
    if app.json_output:
        data: dict[str, Any] = {
            "run_id": root.run_id,
            "status": plain_value(root.status),
            "output": root.output,
        }
        data["error"] = root.error
        if stopped.status == RunStatus.WAITING and stopped.waiting is not None:
            data["waiting"] = {"run_id": stopped.run_id, **stopped.waiting.to_dict()}
            data["resume_command"] = resume_command(app, stopped) if _durable(app) else None
        render.echo_json(data)
        return exit_code_for(root) if root.status != RunStatus.WAITING else exit_code_for(stopped)
    if root.status == RunStatus.COMPLETED:
        failed = reports_failure(root)
        if failed:
            out.print(f"[red]✘ run {root.run_id} completed with success: false[/red]")
        else:
            out.print(f"[green]✔ run {root.run_id} completed[/green]")
        click.echo(json.dumps(root.output, indent=2, ensure_ascii=False, default=str))
        if failed and isinstance(root.output, dict) and root.output.get("error"):
            click.echo(f"error: {root.output['error']}", err=True)
        return exit_code_for(root)
    if root.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        out.print(f"[red]✘ run {root.run_id} {plain_value(root.status)}[/red]")
        if root.error:
            click.echo(f"error: {root.error}", err=True)
        return exit_code_for(root)
    if stopped.status == RunStatus.WAITING and stopped.waiting is not None:
        wait = stopped.waiting
        if is_paused(stopped):
            click.echo(f"Run {stopped.run_id} is paused. Continue it with:")
            click.echo(f"  {cli_prefix(app)} unpause {stopped.run_id}")
            return exit_code_for(stopped)
        what = wait.prompt or wait.until or wait.wait_key or ""
        click.echo(f"Run {stopped.run_id} is waiting ({plain_value(wait.reason)}): {what}")
        if wait.choices:
            click.echo("Choices: " + ", ".join(str(c) for c in wait.choices))
        if not _durable(app):
            click.echo("It cannot be resumed: the memory:// store ends with this command (use --store).")
            return exit_code_for(stopped)
        click.echo("Resume it with:")
        click.echo(f"  {resume_command(app, stopped)}")
        return exit_code_for(stopped)

    click.echo(f"Run {root.run_id} is {plain_value(root.status)}")
    return exit_code_for(root)


def _durable(app: App) -> bool:
    """False for a ``memory://`` store, which no later command can see."""
    return not app.resolved_store_url.lower().startswith("memory:")


def resume_command(app: App, state: RunState) -> str:
    wait = state.waiting
    if wait is not None and wait.reason == WaitReason.UNTIL:
        return f"{cli_prefix(app)} scheduler serve"
    if wait is not None and wait.reason == WaitReason.USER:
        return f"{cli_prefix(app)} resume {state.run_id} --answer 'YOUR ANSWER'"
    return f"{cli_prefix(app)} resume {state.run_id} --payload-json '{{}}'"


def is_ancestor(app: App, ancestor_id: str, run_id: str) -> bool:
    state = app.stores.run_store.load(run_id)
    seen: set[str] = set()
    while state is not None and state.parent_run_id and state.run_id not in seen:
        seen.add(state.run_id)
        if state.parent_run_id == ancestor_id:
            return True
        state = app.stores.run_store.load(state.parent_run_id)
    return False


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
