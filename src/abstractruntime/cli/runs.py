"""``runs list``, ``runs show`` and ``runs recover`` (in ``recover.py``)."""

from __future__ import annotations

import click
from rich.table import Table

from abstractruntime.core.models import RunState, RunStatus, WaitReason

from . import render
from .app import get_app, runtime_ns
from .driver import plain_value
from .examples import examples
from .prune import delete_cmd, prune_cmd
from .recover import recover_cmd
from .rewind import fork_cmd, retry_cmd
from .run_ids import RUN_ID
from .runs_query import RunFilter, age_text, parse_duration, select_runs, tree_order, workflow_names


@click.group("runs", epilog=examples("runs"))
def runs_group() -> None:
    """List and show stored runs."""


@runs_group.command(
    "list",
    epilog="""\b
Examples:
  abstractruntime runs list --status waiting --since 2h
  abstractruntime runs list --tree --waiting-text "your name" --limit 20 --offset 20""",
)
@click.option("--status", type=click.Choice([s.value for s in RunStatus]), help="Only runs with this status.")
@click.option("--workflow", "workflow_id", help="Only runs of this workflow id.")
@click.option(
    "--wait-reason", type=click.Choice([r.value for r in WaitReason]), help="Only runs waiting for this."
)
@click.option(
    "--since", metavar="DURATION", help="Only runs created in the last DURATION (90s, 30m, 2h, 30d, 1w)."
)
@click.option("--session", "session_id", help="Only runs of this session id.")
@click.option("--parent", "parent_run_id", type=RUN_ID, help="Only child runs of this run (id or prefix).")
@click.option(
    "--waiting-text", metavar="TEXT", help="Only waiting runs whose prompt contains TEXT (any case)."
)
@click.option("--tree", is_flag=True, help="Show child runs indented under their parent.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="Most runs to list.")
@click.option("--offset", default=0, type=click.IntRange(min=0), help="Skip this many runs first (paging).")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@click.pass_context
def runs_list(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context,
    status: str | None,
    workflow_id: str | None,
    wait_reason: str | None,
    since: str | None,
    session_id: str | None,
    parent_run_id: str | None,
    waiting_text: str | None,
    tree: bool,
    limit: int,
    offset: int,
    json_output: bool,
) -> None:
    """List runs, newest created first (then by run id: stable for --limit/--offset paging), with the
    workflow's name, the parent run and the age."""
    app = get_app(ctx)
    store = app.stores.run_store
    flt = RunFilter(
        status=RunStatus(status) if status else None,
        wait_reason=WaitReason(wait_reason) if wait_reason else None,
        workflow_id=workflow_id,
        session_id=session_id,
        parent_run_id=parent_run_id,
        since=parse_duration(since, "--since") if since else None,
        waiting_text=waiting_text,
    )
    states, total = select_runs(store, flt, limit=limit, offset=offset)
    names = workflow_names(states, store)
    rows = tree_order(states) if tree else [(0, s) for s in states]
    if app.json_output or json_output:
        render.echo_json(
            [
                {
                    **render.state_to_json(s),
                    "workflow_name": names[s.run_id],
                    "age": age_text(s.created_at, flt.now),
                    "depth": depth,
                    "forked_from": runtime_ns(s).get("forked_from"),
                }
                for depth, s in rows
            ]
        )
        return
    if not states:
        click.echo("No runs.")
        return
    table = Table(show_lines=False)
    for column in ("run id", "workflow", "status", "wait", "parent", "age"):
        table.add_column(column, no_wrap=column in ("run id", "age"))
    for depth, s in rows:
        wait = s.waiting
        table.add_row(
            render.escape("  " * depth + ("└ " if depth else "") + str(s.run_id)),
            render.escape(names[s.run_id]),
            render.run_status(s),
            render.escape(render.short(wait.prompt or plain_value(wait.reason), 40) if wait else ""),
            render.escape(_origin(s)),
            age_text(s.created_at, flt.now),
        )
    render.console().print(table)
    if total > offset + len(states):
        click.echo(f"{offset + len(states)} of {total} runs; next page: --offset {offset + len(states)}")


def _origin(state: RunState) -> str:
    """The parent column: the parent run's id prefix, or ``fork of <id prefix>#<seq>``."""
    forked = runtime_ns(state).get("forked_from")
    if isinstance(forked, dict) and isinstance(forked.get("run_id"), str):
        return f"fork of {forked['run_id'][:8]}#{forked.get('at_seq')}"
    return (state.parent_run_id or "")[:8]


@runs_group.command("show", epilog=examples("runs show"))
@click.argument("run_id", type=RUN_ID)
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
runs_group.add_command(prune_cmd)  # ``runs prune`` and ``runs delete``, defined in prune.py
runs_group.add_command(delete_cmd)

COMMANDS = [runs_group, retry_cmd, fork_cmd]  # ``retry``/``fork`` live in rewind.py
