"""What a ``run`` or ``resume`` prints when it stops driving: the outcome, or how to continue the run."""

from __future__ import annotations

import json
import shlex
from typing import Any

import click

from abstractruntime.core.engine.store_access import is_paused
from abstractruntime.core.models import RunState, RunStatus, WaitReason

from . import render
from .answers import asks_event, pending_calls
from .app import App, exit_code_for, reports_failure

__all__ = ["cli_prefix", "is_ancestor", "plain_value", "report_outcome", "resume_command"]


def plain_value(v: Any) -> Any:
    """An enum member's value (anything else unchanged), for printing."""
    return getattr(v, "value", v)


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
    if pending_calls(wait) is not None:
        return f"{cli_prefix(app)} resume {state.run_id} --approve"
    if wait is not None and (wait.reason == WaitReason.USER or asks_event(wait)):
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
