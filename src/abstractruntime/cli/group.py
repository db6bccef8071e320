"""The ``abstractruntime`` click group: global options and the registered commands.

Importing this module needs the ``cli`` extra; :mod:`abstractruntime.cli.main` imports it lazily so that a
missing extra is reported as one line rather than an import traceback.
"""

from __future__ import annotations

from abstractruntime.errors import MissingExtraError

try:
    import click
    import platformdirs  # noqa: F401  (checked here so a missing extra is reported up front)
    import rich  # noqa: F401
except ImportError as exc:
    raise MissingExtraError(
        feature="The abstractruntime command line", extra="cli", module=exc.name or "click"
    ) from exc

from . import bundle, control, flow, info, ledger, run, runs, scheduler, worker
from .app import STORE_ENV, App
from .guard import DEBUG_ENV, STATE


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    "store_url",
    envvar=STORE_ENV,
    metavar="URL",
    help="Store URL: sqlite:///path.db, file:///dir, memory:// or postgresql://user@host/db "
    f"(env {STORE_ENV}; default: a SQLite database in the user data dir, see `info`).",
)
@click.option("--json", "json_output", is_flag=True, help="JSON output for every read command.")
@click.option(
    "--debug", is_flag=True, help=f"Print the traceback of an unexpected error (env {DEBUG_ENV}=1)."
)
@click.version_option(package_name="AbstractRuntime", prog_name="abstractruntime")
@click.pass_context
def cli(ctx: click.Context, store_url: str | None, json_output: bool, debug: bool) -> None:
    """AbstractRuntime: start, resume and inspect durable workflow runs.

    Exit codes: 0 ok, 1 missing extra, 2 usage error, 3 not found, 4 run failed (or a check failed),
    5 run waiting, 6 corrupt store, 70 internal error.
    """
    STATE.debug = STATE.debug or debug
    app = App(store_url=store_url, json_output=json_output)
    source = ctx.get_parameter_source("store_url")
    if source is not None and source.name == "ENVIRONMENT":
        app.store_source = f"${STORE_ENV}"
    elif store_url:
        app.store_source = "--store"
    ctx.obj = app
    ctx.call_on_close(app.close)


for _module in (run, control, runs, ledger, flow, bundle, scheduler, info, worker):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
for _name in ("emit", "resume"):  # on a postgresql:// store they enqueue for a worker
    worker.route_through_inbox(cli.commands[_name])
