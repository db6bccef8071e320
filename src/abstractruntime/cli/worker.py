"""``worker`` and ``start``: many worker processes on one PostgreSQL store (``docs/scaling.md``).

``abstractruntime --store postgresql://… worker --concurrency N`` drives every run of the database
alongside other workers.  ``start`` (and ``emit``/``resume`` on a PostgreSQL store) only *enqueue* a
command in the store's inbox; a worker applies it, so a client never runs workflow code itself.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import threading
import time
import uuid
from types import FrameType
from typing import Any

import click

from abstractruntime.core.models import RunState
from abstractruntime.storage.commands import CommandRecord

from .app import (
    CLI_NS_CODE_SHA256,
    CLI_NS_CWD,
    CLI_NS_FAKE_LLM,
    CLI_NS_TARGET,
    EXIT_USAGE,
    App,
    CliError,
    get_app,
    parse_json_option,
)
from .app import lease_ttl_s as _default_ttl
from .driver import add_run_target
from .targets import TargetError, load_target

__all__ = ["COMMANDS", "enqueue", "is_postgres", "route_through_inbox"]


def is_postgres(app: App) -> bool:
    """True when the command's store is a PostgreSQL database (commands go through its inbox)."""
    return app.resolved_store_url.lower().startswith(("postgresql:", "postgres:"))


def enqueue(
    app: App, *, kind: str, run_id: str, payload: dict[str, Any], wait_s: float
) -> dict[str, Any] | None:
    """Append a ``kind`` command and wait up to ``wait_s`` seconds for a worker's outcome (None: not yet).

    Raises:
        CliError: the store is not PostgreSQL (exit 2).
    """
    if not is_postgres(app):
        raise CliError("enqueueing needs a postgresql:// store (`--store`)", EXIT_USAGE)
    command_id = uuid.uuid4().hex
    inbox = app.stores.command_store
    inbox.append(CommandRecord(command_id, run_id, kind, payload, "", client_id="cli"))
    click.echo(f"Enqueued {kind} command {command_id}", err=True)
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        outcome = inbox.outcome(command_id)
        if outcome is not None:
            return dict(outcome)
        time.sleep(0.1)
    return None


def report(outcome: dict[str, Any] | None) -> None:
    """Print a command's outcome (or that no worker applied it yet)."""
    if outcome is None:
        click.echo("No worker applied it yet; it stays queued (start one: `abstractruntime worker`).")
    elif outcome.get("ok"):
        click.echo(" ".join(f"{k}={v}" for k, v in outcome.items() if k != "ok"))
    else:
        raise CliError(f"the worker refused the command: {outcome.get('error')}")


@click.command("start")
@click.argument("target")
@click.option(
    "--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="A run variable (repeatable)."
)
@click.option("--vars-json", help="Run variables as a JSON object (merged under --input).")
@click.option("--session", "session_id", help="Session id of the run.")
@click.option(
    "--fake-llm", is_flag=True, help="Workers answer this run's LLM calls with ScriptedLLM (testing)."
)
@click.option(
    "--wait", "wait_s", default=10.0, show_default=True, type=float, help="Seconds to wait for the run id."
)
@click.pass_context
def start_cmd(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context,
    target: str,
    inputs: tuple[str, ...],
    vars_json: str | None,
    session_id: str | None,
    fake_llm: bool,
    wait_s: float,
) -> None:
    """Enqueue a start of TARGET on a postgresql:// store; a worker creates and drives the run."""
    from .run import _parse_inputs

    app = get_app(ctx)
    cwd = os.getcwd()
    try:
        loaded = load_target(target, cwd=cwd)
    except TargetError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    run_vars = _parse_inputs(inputs, vars_json)
    ns = dict(run_vars.get("_runtime") or {})
    ns[CLI_NS_TARGET] = loaded.ref
    if loaded.kind == "python":
        ns[CLI_NS_CWD] = cwd
        ns[CLI_NS_CODE_SHA256] = loaded.code_sha256
    if fake_llm:
        ns[CLI_NS_FAKE_LLM] = True
    run_vars["_runtime"] = ns
    payload = {"workflow_id": loaded.spec.workflow_id, "vars": run_vars, "session_id": session_id}
    report(enqueue(app, kind="start", run_id="-", payload=payload, wait_s=wait_s))


@click.command("worker")
@click.option(
    "--concurrency", default=1, show_default=True, type=click.IntRange(min=1), help="Worker threads."
)
@click.option(
    "--lease-ttl",
    type=click.FloatRange(min=0.1),
    help="Lease lifetime in seconds (default: $ABSTRACTRUNTIME_LEASE_TTL_S or 30).",
)
@click.option(
    "--poll",
    "poll_s",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Longest idle wait, seconds.",
)
@click.option("--fake-llm", is_flag=True, help="Answer LLM_CALL effects with ScriptedLLM (testing only).")
@click.pass_context
def worker_cmd(
    ctx: click.Context, concurrency: int, lease_ttl: float | None, poll_s: float, fake_llm: bool
) -> None:
    """Drive the runs of a postgresql:// store beside other workers; SIGTERM/Ctrl-C stop it cleanly."""
    from abstractruntime.scheduler import WorkflowRegistry
    from abstractruntime.storage.postgres.worker import PostgresWorker

    app = get_app(ctx)
    if not is_postgres(app):
        raise CliError("`worker` needs a postgresql:// store (`--store`)", EXIT_USAGE)
    registry = WorkflowRegistry()
    problems: list[str] = []
    done: set[tuple[str, str | None]] = set()
    lock = threading.Lock()

    def resolve(workflow_id: str, run: RunState | None, start_vars: dict[str, Any] | None) -> None:
        if run is None and start_vars is not None:  # a start command: the run does not exist yet
            run = RunState.new(workflow_id=workflow_id, entry_node="-", vars=start_vars)
        with lock:
            if run is not None:
                add_run_target(app, registry, run, done, problems)

    runtimes: dict[str, Any] = {}

    def runtime_for_run(run: RunState) -> Any:
        """The runtime of the options ``run`` recorded at start (``--fake-llm`` here forces the fake LLM);
        one per distinct set of options, shared by the runs that have it.

        Raises:
            ValueError: the recorded options are invalid (a ``start`` command is then refused).
        """
        options = app.run_runtime_options(run)
        options["fake_llm"] = options["fake_llm"] or fake_llm
        key = json.dumps(options, sort_keys=True, default=str)
        with lock:
            if key not in runtimes:
                try:
                    runtimes[key] = app.runtime(registry, **options)
                except CliError as exc:
                    raise ValueError(f"run options recorded at start: {exc.message}") from exc
            return runtimes[key]

    worker = PostgresWorker(
        app.stores,
        registry=registry,
        make_runtime=lambda stores: app.runtime(registry, fake_llm=fake_llm),
        concurrency=concurrency,
        ttl_s=lease_ttl or _default_ttl(),
        poll_s=poll_s,
        on_unknown_workflow=resolve,
        runtime_for_run=runtime_for_run,
    )

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    click.echo(f"Worker {worker.owner} serving {app.resolved_store_url} ({concurrency} thread(s))", err=True)
    try:
        stats = worker.run()
    except KeyboardInterrupt:
        worker.stop()
        stats = worker.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(
        f"Worker stopped: {stats.runs_claimed} claim(s), {stats.commands_applied} command(s), "
        f"{stats.fenced_out} fenced out, {len(stats.errors)} error(s)",
        err=True,
    )
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)


def _emit_via_inbox(app: App, params: dict[str, Any]) -> None:
    payload = parse_json_option(params.get("payload_json") or "{}", "--payload-json")
    target = params.get("target_run_id")
    event = {
        "name": params["event_name"],
        "payload": payload,
        "scope": params.get("scope") or "session",
        "session_id": params.get("session_id"),
        "workflow_id": params.get("workflow_id"),
        "target_run_id": target,
    }
    report(enqueue(app, kind="emit_event", run_id=target or "-", payload=event, wait_s=10.0))


def _resume_via_inbox(app: App, params: dict[str, Any]) -> None:
    from .answers import answer_payload, approval_payload

    state = app.load_state(params["run_id"])
    wait = state.waiting
    if wait is None or not wait.wait_key:
        raise CliError(f"run {state.run_id} is not waiting on a key", EXIT_USAGE)
    approving = params.get("approval") is not None or params.get("approve_calls") or params.get("edits")
    if approving:
        body = approval_payload(
            wait, params.get("approval"), params.get("approve_calls") or (), params.get("edits") or ()
        )
    elif params.get("answer") is not None:
        body = answer_payload(wait, params["answer"])
    else:
        body = parse_json_option(params.get("payload_json"), "--payload-json")
    command = {"wait_key": wait.wait_key, "payload": body}
    report(enqueue(app, kind="resume", run_id=state.run_id, payload=command, wait_s=10.0))


def route_through_inbox(command: click.Command) -> None:
    """Make ``emit`` or ``resume`` enqueue a command (for a worker) when the store is PostgreSQL."""
    original = command.callback
    via_inbox = {"emit": _emit_via_inbox, "resume": _resume_via_inbox}[str(command.name)]
    if original is None:
        return

    @functools.wraps(original)
    def callback(**params: Any) -> Any:
        app = get_app(click.get_current_context())
        if not is_postgres(app):
            return original(**params)
        via_inbox(app, params)
        return None

    command.callback = callback


COMMANDS = [start_cmd, worker_cmd]
