"""Run ids on the command line: any unique prefix of a stored run id stands for it.

``abstractruntime runs show 6a16`` works when exactly one stored run id starts with ``6a16``; an exact id
always wins.  An ambiguous prefix is a usage error (exit 2) listing the candidates; a prefix no run id
starts with is "not found" (exit 3, reported by the command).
"""

from __future__ import annotations

from typing import Any

import click

from .app import EXIT_USAGE, CliError, get_app

__all__ = ["RUN_ID", "RunIdType", "matching_run_ids", "resolve_run_id"]

MAX_LISTED = 10
"""Most candidates an ambiguous-prefix error names."""


def matching_run_ids(run_store: Any, prefix: str) -> list[str]:
    """Stored run ids starting with ``prefix``, sorted (every run of the store is listed once)."""
    lister = getattr(run_store, "list_run_index", None)
    if lister is not None:
        rows = lister(limit=2**62)
        ids = {str(row["run_id"]) for row in rows}
    else:
        ids = {state.run_id for state in run_store.list_runs(limit=2**62)}
    return sorted(i for i in ids if i.startswith(prefix))


def resolve_run_id(ctx: click.Context, text: str) -> str:
    """The stored run id ``text`` names: itself when stored, else the one stored id it is a prefix of.

    Text that matches nothing (or a store that does not exist) is returned unchanged, so the command
    reports "run not found" (exit 3) at the point it always did.

    Raises:
        CliError: an ambiguous prefix (exit 2), listing the candidates.
    """
    from .stores import MissingStoreError

    app = get_app(ctx)
    try:
        run_store = app.stores.run_store
    except MissingStoreError:
        return text
    if not text or run_store.load(text) is not None:
        return text
    found = matching_run_ids(run_store, text)
    if len(found) > 1:
        more = f" (and {len(found) - MAX_LISTED} more)" if len(found) > MAX_LISTED else ""
        shown = ", ".join(found[:MAX_LISTED]) + more
        raise CliError(f"run id prefix {text!r} is ambiguous: {len(found)} runs match: {shown}", EXIT_USAGE)
    return found[0] if found else text


class RunIdType(click.ParamType):  # type: ignore[type-arg]
    """A click parameter type resolving a run id or unique prefix (see :func:`resolve_run_id`)."""

    name = "RUN_ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """Resolve ``value`` against the command's store (as is, outside a click context)."""
        if ctx is None or get_app_or_none(ctx) is None:
            return str(value)
        return resolve_run_id(ctx, str(value))


def get_app_or_none(ctx: click.Context) -> Any:
    """The command's :class:`~abstractruntime.cli.app.App`, or None (a command invoked on its own)."""
    from .app import App

    return ctx.find_object(App)


RUN_ID = RunIdType()
"""Use as ``@click.argument("run_id", type=RUN_ID)``."""
