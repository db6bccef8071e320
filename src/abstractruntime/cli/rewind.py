"""``retry RUN`` and ``fork RUN --at SEQ``: recovering from failure (``Runtime.retry_run``/``fork_run``)."""

from __future__ import annotations

from typing import Any

import click

from abstractruntime.core.rewind import RewindError

from .app import EXIT_USAGE, CliError, get_app
from .driver import Driver, report_outcome
from .run_ids import RUN_ID


def _drive_options(func: Any) -> Any:
    func = click.option("--json", "json_output", is_flag=True, help="Print the outcome as JSON.")(func)
    func = click.option("--quiet", "-q", is_flag=True, help="Do not show progress.")(func)
    func = click.option("--detach", is_flag=True, help="Do not prompt at waits: leave the run waiting.")(func)
    return click.option(
        "--target",
        "operator_target",
        help="The workflow (TARGET as for `run`) instead of the one stored with the run, e.g. a fixed copy.",
    )(func)


def _drive(
    ctx: click.Context, runtime: Any, registry: Any, run_id: str, *, detach: bool, quiet: bool
) -> None:
    app = get_app(ctx)
    driver = Driver(app, runtime, registry, interactive=False, detach=detach, show_progress=not quiet)
    stopped = driver.drive(run_id)
    ctx.exit(report_outcome(app, run_id, stopped))


@click.command(
    "retry",
    epilog="""\b
Examples:
  abstractruntime retry 6a16fe06            # after fixing the flow file the run was started from
  abstractruntime retry 6a16fe06 --target fixed_flow.json --detach""",
)
@click.argument("run_id", type=RUN_ID)
@_drive_options
@click.pass_context
def retry_cmd(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context, run_id: str, operator_target: str | None, detach: bool, quiet: bool, json_output: bool
) -> None:
    """Re-run a failed or cancelled RUN_ID from the node that failed, with the workflow as it is now
    (re-read from its file), reusing every recorded effect result before that node."""
    app = get_app(ctx)
    app.json_output = app.json_output or json_output
    state = app.load_state(run_id)
    runtime, registry, spec = app.runtime_for_run(state, operator_target=operator_target)
    try:
        retried = runtime.retry_run(run_id, workflow=spec, max_steps=0)
    except RewindError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    if not quiet:
        click.echo(f"Retrying run {run_id} from node {retried.current_node}", err=True)
    _drive(ctx, runtime, registry, run_id, detach=detach, quiet=quiet)


@click.command(
    "fork",
    epilog="""\b
Examples:
  abstractruntime ledger show 6a16fe06       # find the record number SEQ
  abstractruntime fork 6a16fe06 --at 2 --detach
  abstractruntime fork 6a16fe06 --at 2 --rerun-effects""",
)
@click.argument("run_id", type=RUN_ID)
@click.option(
    "--at", "at_seq", required=True, type=click.IntRange(min=0), metavar="SEQ", help="Ledger record #."
)
@click.option(
    "--rerun-effects", is_flag=True, help="Call the LLM and tools again instead of reusing results."
)
@_drive_options
@click.pass_context
def fork_cmd(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context,
    run_id: str,
    at_seq: int,
    rerun_effects: bool,
    operator_target: str | None,
    detach: bool,
    quiet: bool,
    json_output: bool,
) -> None:
    """Start a new run from the state of RUN_ID after its ledger record SEQ (as `ledger show` numbers
    them), linked to it (vars._runtime.forked_from), then drive it; RUN_ID is not changed."""
    app = get_app(ctx)
    app.json_output = app.json_output or json_output
    state = app.load_state(run_id)
    runtime, registry, spec = app.runtime_for_run(state, operator_target=operator_target)
    try:
        fork = runtime.fork_run(run_id, at_seq=at_seq, workflow=spec, rerun_effects=rerun_effects)
    except RewindError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    if not quiet:
        click.echo(f"Forked run {fork.run_id} from run {run_id} at record #{at_seq}", err=True)
    _drive(ctx, runtime, registry, fork.run_id, detach=detach, quiet=quiet)


COMMANDS = [retry_cmd, fork_cmd]
