"""``scheduler serve``: recover runs whose driver died, wake timers and resume subworkflow parents of
CLI-started runs."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from abstractruntime.core.recovery import DEFAULT_MAX_RECOVERY_ATTEMPTS
from abstractruntime.scheduler import Scheduler

from .app import get_app
from .driver import add_run_target
from .driver import registry_from_store as _registry_from_store
from .examples import examples


@click.group("scheduler", epilog=examples("scheduler"))
def scheduler_group() -> None:
    """Run the scheduler in the foreground."""


@scheduler_group.command("serve", epilog=examples("scheduler serve"))
@click.option(
    "--poll-interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Seconds between poll cycles.",
)
@click.option("--once", is_flag=True, help="Run one poll cycle and exit.")
@click.option("--max-cycles", type=click.IntRange(min=1), help="Stop after this many cycles.")
@click.option(
    "--recover/--no-recover",
    default=True,
    show_default=True,
    help="Each cycle, continue RUNNING runs whose driver died (no live lease).",
)
@click.option(
    "--max-recovery-attempts",
    default=DEFAULT_MAX_RECOVERY_ATTEMPTS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Recoveries without progress after which a run is failed.",
)
@click.pass_context
def scheduler_serve(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context,
    poll_interval: float,
    once: bool,
    max_cycles: int | None,
    recover: bool,
    max_recovery_attempts: int,
) -> None:
    """Poll the store: recover runs whose driver died, wake due timers, resume parents of ended child
    runs. Ctrl-C/SIGTERM stop it."""
    app = get_app(ctx)
    registry, problems = _registry_from_store(app)
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    runtime = app.runtime(registry)
    scheduler = Scheduler(
        runtime=runtime,
        registry=registry,
        poll_interval_s=poll_interval,
        recover_stranded=recover and runtime.leases is not None,
        max_recovery_attempts=max_recovery_attempts,
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_signal)
    click.echo(f"Scheduler serving {app.resolved_store_url} (every {poll_interval}s; Ctrl-C stops)", err=True)
    cycles = 0
    total = 0
    done: set[tuple[str, str | None]] = set()
    try:
        while not stop.is_set():
            # pick up workflows of runs started since the last cycle
            for state in app.stores.run_store.list_runs(limit=1000):  # type: ignore[attr-defined]
                if not state.is_terminal:
                    add_run_target(app, registry, state, done, problems)
            advanced = scheduler.poll_once()
            total += advanced
            cycles += 1
            if advanced:
                click.echo(f"cycle {cycles}: advanced {advanced} run(s)")
            if once or (max_cycles is not None and cycles >= max_cycles):
                break
            stop.wait(poll_interval)
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    stats = scheduler.stats
    click.echo(
        f"Scheduler stopped after {cycles} cycle(s): {total} run(s) advanced, {stats.runs_failed} failed",
        err=True,
    )
    for error in stats.errors:
        click.echo(f"  {error}", err=True)


COMMANDS = [scheduler_group]
