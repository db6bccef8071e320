"""``runs recover [RUN_ID]``: continue RUNNING runs whose driver died, from their last commit.

A run is recovered only when no live lease covers it (its driver was killed, or stopped and released
it); a run a live driver holds is never taken over.  Recovery re-executes an effect whose STARTED
record has no completion (at-least-once) and reuses completed ones.  After ``--max-attempts``
recoveries without progress the run is failed (see ``docs/stores.md``, "Leases and recovery").
"""

from __future__ import annotations

from typing import Any

import click

from abstractruntime.core.models import RunStatus
from abstractruntime.core.recovery import DEFAULT_MAX_RECOVERY_ATTEMPTS, RecoveryOutcome
from abstractruntime.core.runtime import Runtime
from abstractruntime.scheduler import WorkflowRegistry

from . import render
from .app import EXIT_FAILED, EXIT_OK, EXIT_USAGE, App, CliError, exit_code_for, get_app
from .driver import Driver, plain_value, registry_from_store
from .examples import examples
from .run_ids import RUN_ID


@click.command("recover", epilog=examples("runs recover"))
@click.argument("run_id", required=False, type=RUN_ID)
@click.option(
    "--max-attempts",
    default=DEFAULT_MAX_RECOVERY_ATTEMPTS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Recoveries without progress after which a run is failed.",
)
@click.option("--json", "json_output", is_flag=True, help="Print one JSON object per run examined.")
@click.pass_context
def recover_cmd(ctx: click.Context, run_id: str | None, max_attempts: int, json_output: bool) -> None:
    """Continue RUN_ID (or every stranded RUNNING run) whose driver died, from its last commit.

    Exit codes: 0 done (nothing to recover included), 2 RUN_ID is not stranded (not running, or a live
    driver holds it), 4 a run failed or could not be continued.
    """
    app = get_app(ctx)
    as_json = app.json_output or json_output
    if run_id is not None:
        state = app.load_state(run_id)
        runtime, registry, spec = app.runtime_for_run(state)
        outcomes = [runtime.recover_run(run_id, workflow=spec, max_attempts=max_attempts)]
    else:
        registry, problems = registry_from_store(app)
        for problem in problems:
            click.echo(f"warning: {problem}", err=True)
        runtime = app.runtime(registry)
        outcomes = runtime.recover_runs(workflows=registry.get, max_attempts=max_attempts)
    _follow_up(app, runtime, registry, outcomes)
    _report(outcomes, as_json=as_json, explicit=run_id is not None)
    ctx.exit(_exit_code(app, outcomes, explicit=run_id is not None))


def _follow_up(
    app: App, runtime: Runtime, registry: WorkflowRegistry, outcomes: list[RecoveryOutcome]
) -> None:
    """Resume the waiting parents of recovered child runs that ended (as ``run`` would have)."""
    driver = Driver(app, runtime, registry, interactive=False, detach=True, show_progress=False)
    for outcome in outcomes:
        state = outcome.state
        if outcome.action != "recovered" or state is None or not state.is_terminal or not state.parent_run_id:
            continue
        try:
            driver.drive(outcome.run_id)
        except CliError as exc:
            click.echo(f"warning: {exc.message}", err=True)


def _as_json(outcome: RecoveryOutcome) -> dict[str, Any]:
    state = outcome.state
    return {
        "run_id": outcome.run_id,
        "action": outcome.action,
        "detail": outcome.detail,
        "attempt": outcome.attempt,
        "status": plain_value(state.status) if state is not None else None,
        "error": state.error if state is not None else None,
    }


def _report(outcomes: list[RecoveryOutcome], *, as_json: bool, explicit: bool) -> None:
    if as_json:
        render.echo_json([_as_json(o) for o in outcomes])
        return
    shown = [o for o in outcomes if explicit or o.action != "skipped"]
    for outcome in shown:
        click.echo(f"{outcome.action} {outcome.run_id}: {outcome.detail}")
    if not explicit:
        counts = {a: sum(1 for o in outcomes if o.action == a) for a in ("recovered", "failed", "error")}
        skipped = len(outcomes) - sum(counts.values())
        click.echo(
            f"{counts['recovered']} recovered, {counts['failed']} failed, {counts['error']} not continued, "
            f"{skipped} skipped (live lease, recently updated, or no workflow)",
            err=True,
        )


def _exit_code(app: App, outcomes: list[RecoveryOutcome], *, explicit: bool) -> int:
    if any(o.action in ("failed", "error") for o in outcomes):
        return EXIT_FAILED
    if explicit:
        (outcome,) = outcomes
        if outcome.action == "skipped":
            return EXIT_USAGE
        state = outcome.state or app.load_state(outcome.run_id)
        return exit_code_for(state) if state.status != RunStatus.RUNNING else EXIT_OK
    return EXIT_OK
