"""``info``: version, store and where the default store lives."""

from __future__ import annotations

import sys
from typing import Any

import click

from abstractruntime.core.models import RunStatus

from . import render
from .app import default_data_dir, default_store_url, get_app
from .examples import examples
from .stores import MissingStoreError


@click.command("info", epilog=examples("info"))
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@click.pass_context
def info_cmd(ctx: click.Context, json_output: bool) -> None:
    """Show the version, the store in use, the default store and run counts."""
    import abstractruntime

    app = get_app(ctx)
    url = app.resolved_store_url
    source = app.store_source
    counts: dict[str, Any] = {}
    store_error = None
    store_exists = True
    try:
        run_store = app.stores.run_store
        for status in RunStatus:
            counts[status.value] = len(run_store.list_runs(status=status, limit=1_000_000))  # type: ignore[attr-defined]
    except MissingStoreError:  # nothing created: `run` creates the store
        store_exists = False
        counts = {status.value: 0 for status in RunStatus}
    except click.ClickException as exc:
        store_error = exc.message
    data = {
        "version": abstractruntime.__version__,
        "python": sys.version.split()[0],
        "store": url,
        "store_source": source,
        "default_store": default_store_url(),
        "data_dir": str(default_data_dir()),
        "runs": counts,
        "store_exists": store_exists,
        "store_error": store_error,
    }
    if app.json_output or json_output:
        render.echo_json(data)
        return
    click.echo(f"AbstractRuntime {data['version']} (Python {data['python']})")
    click.echo(f"store          {url}  [{source}]")
    click.echo(f"default store  {data['default_store']}")
    click.echo(f"data dir       {data['data_dir']}")
    if store_error:
        click.echo(f"store error    {store_error}")
    elif not store_exists:
        click.echo("runs           none (no store there yet; `run` creates it)")
    else:
        click.echo("runs           " + ", ".join(f"{k} {v}" for k, v in counts.items()))


COMMANDS = [info_cmd]
