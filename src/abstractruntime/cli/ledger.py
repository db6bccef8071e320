"""``ledger show``, ``ledger verify`` and ``export``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from abstractruntime.history_bundle import export_run_history_bundle
from abstractruntime.storage.ledger_chain import verify_ledger_store

from . import render
from .app import EXIT_FAILED, EXIT_USAGE, CliError, get_app
from .examples import examples
from .run_ids import RUN_ID


@click.group("ledger", epilog=examples("ledger"))
def ledger_group() -> None:
    """Read and check a run's append-only ledger."""


@ledger_group.command("show", epilog=examples("ledger show"))
@click.argument("run_id", type=RUN_ID)
@click.option(
    "--follow", "-f", is_flag=True, help="Keep polling for new records until the run ends (Ctrl-C stops)."
)
@click.option(
    "--interval", default=1.0, show_default=True, type=click.FloatRange(min=0.05), help="Poll interval."
)
@click.option("--json", "json_output", is_flag=True, help="Print records as JSON (JSON lines with --follow).")
@click.pass_context
def ledger_show(ctx: click.Context, run_id: str, follow: bool, interval: float, json_output: bool) -> None:
    """Show the ledger of RUN_ID as a timeline."""
    app = get_app(ctx)
    state = app.load_state(run_id)
    as_json = app.json_output or json_output
    records = app.ledger(run_id)
    if as_json and not follow:
        render.echo_json(records)
        return
    out = render.console()

    def emit(batch: list[dict[str, object]], start: int) -> None:
        if as_json:
            for record in batch:
                click.echo(json.dumps(record, ensure_ascii=False, default=str))
        else:
            render.print_records(batch, start=start, out=out)

    emit(records, 0)
    seen = len(records)
    if not follow:
        if not records:
            click.echo("No ledger records.")
        return
    try:
        while not state.is_terminal:
            time.sleep(interval)
            state = app.load_state(run_id)
            records = app.ledger(run_id)
            if len(records) > seen:
                emit(records[seen:], seen)
                seen = len(records)
        records = app.ledger(run_id)
        if len(records) > seen:
            emit(records[seen:], seen)
    except KeyboardInterrupt:
        return


@ledger_group.command("verify", epilog=examples("ledger verify"))
@click.argument("run_id", type=RUN_ID)
@click.option("--json", "json_output", is_flag=True, help="Print the verification report as JSON.")
@click.pass_context
def ledger_verify(ctx: click.Context, run_id: str, json_output: bool) -> None:
    """Check the hash chain of RUN_ID's ledger (exit 4 when it does not verify).

    Unreadable stored lines (garbage in the middle of a JSONL ledger) are errors at their line and index.
    """
    app = get_app(ctx)
    app.load_state(run_id)
    report = verify_ledger_store(app.stores.ledger_store, run_id)
    if app.json_output or json_output:
        render.echo_json(report)
    elif report.get("ok"):
        click.echo(f"ok: {report.get('count')} records, head {report.get('head_hash')}")
    else:
        click.echo(f"FAILED: {report.get('count')} records, first bad index {report.get('first_bad_index')}")
        for error in report.get("errors") or []:
            click.echo(f"  {json.dumps(error, default=str)}")
    if not report.get("ok"):
        ctx.exit(EXIT_FAILED)


@click.command("export", epilog=examples("export"))
@click.argument("run_id", type=RUN_ID)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write ('-': stdout). Default: <run_id>.history.json",
)
@click.option("--no-subruns", is_flag=True, help="Leave out child runs.")
@click.option(
    "--ledger-mode",
    type=click.Choice(["tail", "full"]),
    default="tail",
    show_default=True,
    help="Keep the last records (tail) or all of them (full).",
)
@click.option(
    "--ledger-max-items",
    default=2000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most records per ledger in tail mode.",
)
@click.pass_context
def export_cmd(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context,
    run_id: str,
    output: str | None,
    no_subruns: bool,
    ledger_mode: str,
    ledger_max_items: int,
) -> None:
    """Export RUN_ID's history bundle (state, ledger, child runs) as JSON."""
    app = get_app(ctx)
    app.load_state(run_id)
    bundle = export_run_history_bundle(
        run_id=run_id,
        run_store=app.stores.run_store,
        ledger_store=app.stores.ledger_store,
        include_subruns=not no_subruns,
        ledger_mode=ledger_mode,
        ledger_max_items=ledger_max_items,
    )
    text = json.dumps(bundle, indent=2, ensure_ascii=False, default=str)
    if output == "-":
        click.echo(text)
        return
    path = Path(output or f"{run_id}.history.json")
    try:
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}", EXIT_USAGE) from exc
    click.echo(f"Wrote {path}", err=app.json_output)
    if app.json_output:
        render.echo_json({"run_id": run_id, "path": str(path.resolve())})


COMMANDS = [ledger_group, export_cmd]
