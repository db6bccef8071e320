"""``runs prune`` and ``runs delete``: housekeeping (``storage/deletion.py`` does the deleting).

A run is deleted together with its child runs (recursively), its ledger, lease and trace rows and the
artifacts it owns, one transaction per run tree on SQLite.  ``runs prune`` picks root runs (no parent)
whose status is one of ``--status`` and whose last update is older than ``--older-than``; a tree with a
run that has not ended (a child still waiting, say) is skipped.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click

from abstractruntime.core.models import RunState, RunStatus
from abstractruntime.storage.deletion import delete_runs

from . import render
from .app import EXIT_USAGE, App, CliError, get_app
from .driver import plain_value
from .run_ids import RUN_ID
from .runs_query import parse_duration, parse_iso


def run_tree(app: App, root: RunState) -> list[RunState]:
    """``root`` and every run below it (children via ``list_children``), parents first."""
    store = app.stores.run_store
    lister = getattr(store, "list_children", None)
    tree, seen, pending = [], {root.run_id}, [root]
    while pending:
        state = pending.pop(0)
        tree.append(state)
        for child in lister(parent_run_id=state.run_id) if lister is not None else []:
            if child.run_id not in seen:
                seen.add(child.run_id)
                pending.append(child)
    return tree


def _delete_tree(app: App, tree: list[RunState]) -> None:
    delete_runs(app.stores, [s.run_id for s in tree])
    artifacts = app.artifact_store()
    for state in tree:
        artifacts.delete_by_run(state.run_id)


def _report(app: App, deleted: list[list[RunState]], skipped: list[str], *, dry_run: bool) -> None:
    if app.json_output:
        render.echo_json(
            {
                "dry_run": dry_run,
                "deleted": [[s.run_id for s in tree] for tree in deleted],
                "skipped": skipped,
            }
        )
        return
    verb = "Would delete" if dry_run else "Deleted"
    for tree in deleted:
        kids = f" (+{len(tree) - 1} child run(s))" if len(tree) > 1 else ""
        root = tree[0]
        click.echo(f"{verb} {root.run_id} {root.workflow_id} {plain_value(root.status)}{kids}")
    for line in skipped:
        click.echo(f"Skipped {line}")
    click.echo(f"{verb} {sum(len(t) for t in deleted)} run(s).")


@click.command(
    "prune",
    epilog="""\b
Examples:
  abstractruntime runs prune --older-than 30d --status completed,cancelled --dry-run
  abstractruntime runs prune --older-than 7d --status completed,failed,cancelled""",
)
@click.option(
    "--older-than", required=True, metavar="DURATION", help="Last updated longer ago (30d, 12h, 1w)."
)
@click.option(
    "--status",
    "statuses",
    default="completed,cancelled",
    show_default=True,
    help="Comma-separated statuses to prune (completed, failed, cancelled).",
)
@click.option("--dry-run", is_flag=True, help="Only print what would be deleted.")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@click.pass_context
def prune_cmd(ctx: click.Context, older_than: str, statuses: str, dry_run: bool, json_output: bool) -> None:
    """Delete ended root runs last updated before --older-than, with their child runs, ledgers and
    the artifacts they own (one transaction per run tree)."""
    app = get_app(ctx)
    app.json_output = app.json_output or json_output
    wanted = _statuses(statuses)
    cutoff = datetime.now(timezone.utc) - parse_duration(older_than, "--older-than")
    store: Any = app.stores.run_store
    deleted: list[list[RunState]] = []
    skipped: list[str] = []
    for status in sorted(wanted, key=lambda s: s.value):
        for state in store.list_runs(status=status, limit=2**62):
            updated = parse_iso(state.updated_at)
            if state.parent_run_id or updated is None or updated >= cutoff:
                continue
            tree = run_tree(app, state)
            live = [s.run_id for s in tree if not s.is_terminal]
            if live:
                skipped.append(f"{state.run_id}: child run(s) not ended: {', '.join(live)}")
                continue
            if not dry_run:
                _delete_tree(app, tree)
            deleted.append(tree)
    _report(app, deleted, skipped, dry_run=dry_run)


def _statuses(text: str) -> set[RunStatus]:
    out: set[RunStatus] = set()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            status = RunStatus(part)
        except ValueError:
            status = RunStatus.RUNNING
        if status in (RunStatus.RUNNING, RunStatus.WAITING):
            raise CliError(
                f"--status takes ended statuses (completed, failed, cancelled), got {part!r}", EXIT_USAGE
            )
        out.add(status)
    if not out:
        raise CliError("--status names no status", EXIT_USAGE)
    return out


@click.command(
    "delete",
    epilog="""\b
Examples:
  abstractruntime runs delete 6a16fe06
  abstractruntime runs delete 6a16fe06 --force   # also a run that is still waiting""",
)
@click.argument("run_id", type=RUN_ID)
@click.option("--force", is_flag=True, help="Also delete a run (or child run) that has not ended.")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@click.pass_context
def delete_cmd(ctx: click.Context, run_id: str, force: bool, json_output: bool) -> None:
    """Delete RUN_ID with its child runs, ledgers and the artifacts they own."""
    app = get_app(ctx)
    app.json_output = app.json_output or json_output
    state = app.load_state(run_id)
    tree = run_tree(app, state)
    live = [s.run_id for s in tree if not s.is_terminal]
    if live and not force:
        raise CliError(f"run(s) not ended: {', '.join(live)}; cancel them first or pass --force", EXIT_USAGE)
    if state.parent_run_id and not force:
        raise CliError(
            f"run {run_id} is a child of {state.parent_run_id}; delete the parent, or pass --force",
            EXIT_USAGE,
        )
    _delete_tree(app, tree)
    _report(app, [tree], [], dry_run=False)
