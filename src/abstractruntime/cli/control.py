"""``emit``, ``cancel``, ``pause``, ``unpause``: moving runs from outside."""

from __future__ import annotations

import click

from abstractruntime.core.engine.store_access import is_paused
from abstractruntime.core.models import RunState
from abstractruntime.scheduler import Scheduler, WorkflowRegistry

from . import render
from .app import (
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    App,
    CliError,
    get_app,
    parse_json_option,
)
from .driver import plain_value, registry_from_store
from .examples import examples
from .run_ids import RUN_ID


@click.command("emit", epilog=examples("emit"))
@click.argument("event_name")
@click.option("--payload-json", default="{}", show_default=True, help="The event payload as JSON.")
@click.option(
    "--scope",
    type=click.Choice(["session", "workflow", "run", "global"]),
    default="session",
    show_default=True,
    help="Which waiting runs the event reaches (with --session, --workflow or --run).",
)
@click.option("--session", "session_id", help="Session id (scope session).")
@click.option("--workflow", "workflow_id", help="Workflow id (scope workflow).")
@click.option("--run", "target_run_id", type=RUN_ID, help="Run id or unique prefix (scope run).")
@click.option("--json", "json_output", is_flag=True, help="Print the resumed runs as JSON.")
@click.pass_context
def emit_cmd(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context,
    event_name: str,
    payload_json: str,
    scope: str,
    session_id: str | None,
    workflow_id: str | None,
    target_run_id: str | None,
    json_output: bool,
) -> None:
    """Emit EVENT_NAME from outside any run: resume every run waiting on it."""
    app = get_app(ctx)
    payload = parse_json_option(payload_json, "--payload-json")
    registry, problems = registry_from_store(app)
    runtime = app.runtime(registry)
    scheduler = Scheduler(runtime=runtime, registry=registry)
    try:
        states = scheduler.emit_event(
            name=event_name,
            payload=payload,
            scope=scope,
            session_id=session_id,
            workflow_id=workflow_id,
            run_id=target_run_id,
        )
    except KeyError as exc:
        raise CliError(f"cannot deliver the event: {exc}", EXIT_FAILED) from exc
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if app.json_output or json_output:
        render.echo_json([{"run_id": s.run_id, "status": plain_value(s.status)} for s in states])
    else:
        for problem in problems:
            click.echo(f"warning: {problem}", err=True)
        if states:
            click.echo(f"Event {event_name!r} resumed {len(states)} run(s)")
        for s in states:
            click.echo(f"  {s.run_id} {plain_value(s.status)}")
    if not states:
        if app.json_output or json_output:
            ctx.exit(EXIT_NOT_FOUND)
        raise CliError(f"event {event_name!r} (scope {scope}) reached no waiting run", EXIT_NOT_FOUND)


def _live_state(app: App, run_id: str, action: str) -> RunState:
    """The stored run, refused (exit 2) when it has already ended: there is nothing to ``action``."""
    state = app.load_state(run_id)
    if state.is_terminal:
        raise CliError(
            f"run {run_id} is already {plain_value(state.status)}; there is nothing to {action}", EXIT_USAGE
        )
    return state


def _control(ctx: click.Context, run_id: str, action: str, reason: str | None) -> None:
    app = get_app(ctx)
    _live_state(app, run_id, action)
    runtime = app.runtime()
    if action == "cancel":
        state = runtime.cancel_run(run_id, reason=reason)
    elif action == "pause":
        state = runtime.pause_run(run_id, reason=reason)
    else:
        state = runtime.resume_run(run_id)
    if app.json_output:
        render.echo_json({"run_id": run_id, "status": plain_value(state.status), "paused": is_paused(state)})
    else:
        note = " (paused)" if is_paused(state) else ""
        if action == "pause" and not note:
            note = " (not paused: a run waiting for a user answer is not paused)"
        click.echo(f"Run {run_id}: {plain_value(state.status)}{note}")


@click.command("cancel", epilog=examples("cancel"))
@click.argument("run_id", type=RUN_ID)
@click.option("--reason", help="Why (recorded on the run).")
@click.option("--children", is_flag=True, help="Also cancel every live descendant run.")
@click.pass_context
def cancel_cmd(ctx: click.Context, run_id: str, reason: str | None, children: bool) -> None:
    """Cancel RUN_ID."""
    if children:
        app = get_app(ctx)
        _live_state(app, run_id, "cancel")
        runtime = app.runtime()
        states = Scheduler(runtime=runtime, registry=WorkflowRegistry()).cancel_with_children(
            run_id, reason=reason
        )
        for s in states:
            click.echo(f"Run {s.run_id}: {plain_value(s.status)}")
        return
    _control(ctx, run_id, "cancel", reason)


@click.command("pause", epilog=examples("pause"))
@click.argument("run_id", type=RUN_ID)
@click.option("--reason", help="Why (recorded on the run).")
@click.pass_context
def pause_cmd(ctx: click.Context, run_id: str, reason: str | None) -> None:
    """Pause RUN_ID (a paused run is not resumed or woken until unpaused)."""
    _control(ctx, run_id, "pause", reason)


@click.command("unpause", epilog=examples("unpause"))
@click.argument("run_id", type=RUN_ID)
@click.pass_context
def unpause_cmd(ctx: click.Context, run_id: str) -> None:
    """Lift the pause of RUN_ID (it does not tick; `resume` or `scheduler serve` continues it)."""
    _control(ctx, run_id, "unpause", None)


COMMANDS = [emit_cmd, cancel_cmd, pause_cmd, unpause_cmd]
