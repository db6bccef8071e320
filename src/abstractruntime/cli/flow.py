"""``flow validate`` and ``flow show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from . import render
from .app import EXIT_FAILED, get_app
from .examples import examples


@click.group("flow", epilog=examples("flow"))
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


@flow_group.command(
    "validate",
    epilog="""\b
Examples:
  abstractruntime flow validate examples/flows/*.json
  abstractruntime flow validate my_flow.json --json""",
)
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


@flow_group.command(
    "show",
    epilog="""\b
Examples:
  abstractruntime flow show examples/flows/ask_and_answer.json
  abstractruntime flow show my_flow.json --json""",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "json_output", is_flag=True, help="Print the description as JSON.")
@click.pass_context
def flow_show(ctx: click.Context, file: Path, json_output: bool) -> None:
    """Describe a VisualFlow FILE before running it: name, entry, the exact --input keys (types and
    defaults), outputs, node count by type, subflows and what it needs to run."""
    from abstractruntime.visualflow_compiler.errors import VisualFlowError

    from .app import EXIT_USAGE, CliError
    from .flow_info import describe_flow
    from .targets import TargetError

    try:
        info = describe_flow(file)
    except (TargetError, VisualFlowError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    if get_app(ctx).json_output or json_output:
        render.echo_json(info)
        return
    entry = info["entry"]
    click.echo(f"Flow {info['name']} (id {info['id']})")
    if info["description"]:
        click.echo(f"  {info['description']}")
    click.echo(f"Entry: {entry['node_id']} ({entry['type']})" if entry else "Entry: none")
    click.echo("Inputs (--input KEY=VALUE):" if info["inputs"] else "Inputs: none")
    for pin in info["inputs"]:
        default = f" = {json.dumps(pin['default'])}" if "default" in pin else ""
        click.echo(f"  {pin['name']}: {pin['type']}{default}")
    click.echo("Outputs: " + (", ".join(f"{o['name']}: {o['type']}" for o in info["outputs"]) or "none"))
    counts = ", ".join(f"{t} {n}" for t, n in info["node_types"].items())
    click.echo(f"Nodes: {info['node_count']} ({counts})")
    click.echo("Subflows: " + (", ".join(info["subflows"]) or "none"))
    click.echo("Needs: " + (", ".join(info["needs"]) or "nothing beyond the runtime"))


COMMANDS = [flow_group]
