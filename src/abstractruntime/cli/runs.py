"""``runs list``, ``runs show`` and ``runs recover`` (in ``recover.py``)."""

from __future__ import annotations

import click

from abstractruntime.core.models import RunStatus, WaitReason

from . import render
from .app import get_app
from .recover import recover_cmd


@click.group("runs")
def runs_group() -> None:
    """List and show stored runs."""


@runs_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in RunStatus]), help="Only runs with this status.")
@click.option("--workflow", "workflow_id", help="Only runs of this workflow id.")
@click.option(
    "--wait-reason", type=click.Choice([r.value for r in WaitReason]), help="Only runs waiting for this."
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="Most runs to list.")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@click.pass_context
def runs_list(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context,
    status: str | None,
    workflow_id: str | None,
    wait_reason: str | None,
    limit: int,
    json_output: bool,
) -> None:
    """List runs, newest first."""
    app = get_app(ctx)
    store = app.stores.run_store
    states = store.list_runs(  # type: ignore[attr-defined]
        status=RunStatus(status) if status else None,
        wait_reason=WaitReason(wait_reason) if wait_reason else None,
        workflow_id=workflow_id,
        limit=limit,
    )
    if app.json_output or json_output:
        render.echo_json([render.state_to_json(s) for s in states])
        return
    if not states:
        click.echo("No runs.")
        return
    render.console().print(render.runs_table(states))


@runs_group.command("show")
@click.argument("run_id")
@click.option("--json", "json_output", is_flag=True, help="Print the full RunState as JSON.")
@click.pass_context
def runs_show(ctx: click.Context, run_id: str, json_output: bool) -> None:
    """Show one run: status, wait, output, error."""
    app = get_app(ctx)
    state = app.load_state(run_id)
    if app.json_output or json_output:
        render.echo_json(render.state_to_json(state))
        return
    render.print_state(state, ledger_count=len(app.ledger(run_id)))


runs_group.add_command(recover_cmd)  # ``runs recover``, defined in recover.py

COMMANDS = [runs_group]
