"""``flow validate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from . import render
from .app import EXIT_FAILED, get_app


@click.group("flow")
def flow_group() -> None:
    """Work with VisualFlow JSON files."""


def _diagnostics(path: Path) -> list[dict[str, Any]]:
    from abstractruntime.visualflow_compiler.validate import validate_visualflow

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [
            {"code": "unreadable", "message": str(exc), "node_id": None, "edge_id": None, "severity": "error"}
        ]
    out: list[dict[str, Any]] = []
    for diag in validate_visualflow(raw):
        out.append(
            {
                "code": getattr(diag, "code", None),
                "message": getattr(diag, "message", str(diag)),
                "node_id": getattr(diag, "node_id", None),
                "edge_id": getattr(diag, "edge_id", None),
                "severity": getattr(diag, "severity", "error"),
            }
        )
    return out


@flow_group.command("validate")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "json_output", is_flag=True, help="Print the diagnostics as JSON.")
@click.pass_context
def flow_validate(ctx: click.Context, files: tuple[Path, ...], json_output: bool) -> None:
    """Check VisualFlow FILES; exit 4 when any has an error-severity diagnostic."""
    app = get_app(ctx)
    results = {str(path): _diagnostics(path) for path in files}
    failed = any(d["severity"] == "error" for diags in results.values() for d in diags)
    if app.json_output or json_output:
        render.echo_json({"ok": not failed, "files": results})
    else:
        out = render.console()
        for name, diags in results.items():
            if not diags:
                out.print(f"[green]✔[/green] {render.escape(name)}: valid")
                continue
            out.print(f"[red]✘[/red] {render.escape(name)}: {len(diags)} problem(s)")
            for d in diags:
                where = " ".join(f"{k}={d[k]}" for k in ("node_id", "edge_id") if d.get(k))
                click.echo(
                    f"  {d['severity']}: [{d['code']}] {d['message']}" + (f" ({where})" if where else "")
                )
    if failed:
        ctx.exit(EXIT_FAILED)


COMMANDS = [flow_group]
