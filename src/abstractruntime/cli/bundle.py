"""``bundle pack``, ``bundle inspect``, ``bundle unpack``."""

from __future__ import annotations

from pathlib import Path

import click

from abstractruntime.workflow_bundle import WorkflowBundleError, workflow_bundle_manifest_to_dict
from abstractruntime.workflow_bundle.packer import (
    inspect_workflow_bundle,
    pack_workflow_bundle,
    unpack_workflow_bundle,
)

from . import render
from .app import EXIT_FAILED, CliError, get_app
from .examples import examples


@click.group("bundle", epilog=examples("bundle"))
def bundle_group() -> None:
    """Pack, inspect and unpack .flow workflow bundles."""


@bundle_group.command("pack", epilog=examples("bundle pack"))
@click.argument("root_flow", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .flow file to write.",
)
@click.option("--bundle-id", help="Default: the root flow id.")
@click.option("--bundle-version", default="0.0.0", show_default=True, help="Version written to the manifest.")
@click.option(
    "--flows-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Where subflows live (default: next to ROOT_FLOW).",
)
@click.option(
    "--entrypoint",
    "entrypoints",
    multiple=True,
    help="Flow id of an entrypoint (repeatable; default: the root).",
)
@click.option("--default-entrypoint", help="Flow id started by a bare bundle ref.")
@click.option("--json", "json_output", is_flag=True, help="Print the manifest as JSON.")
@click.pass_context
def bundle_pack(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context,
    root_flow: Path,
    output: Path,
    bundle_id: str | None,
    bundle_version: str,
    flows_dir: Path | None,
    entrypoints: tuple[str, ...],
    default_entrypoint: str | None,
    json_output: bool,
) -> None:
    """Pack ROOT_FLOW and every subflow it reaches into a .flow bundle."""
    app = get_app(ctx)
    try:
        packed = pack_workflow_bundle(
            root_flow_json=root_flow,
            out_path=output,
            bundle_id=bundle_id,
            bundle_version=bundle_version,
            flows_dir=flows_dir,
            entrypoints=list(entrypoints) or None,
            default_entrypoint=default_entrypoint,
        )
    except (WorkflowBundleError, OSError, ValueError) as exc:
        raise CliError(f"cannot pack {root_flow}: {exc}", EXIT_FAILED) from exc
    if app.json_output or json_output:
        render.echo_json(
            {"path": str(packed.path), "manifest": workflow_bundle_manifest_to_dict(packed.manifest)}
        )
    else:
        click.echo(
            f"Wrote {packed.path} ({len(packed.manifest.flows)} flow(s): {', '.join(sorted(packed.manifest.flows))})"
        )


@bundle_group.command("inspect", epilog=examples("bundle inspect"))
@click.argument("bundle_path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "json_output", is_flag=True, help="Print the manifest as JSON.")
@click.pass_context
def bundle_inspect(ctx: click.Context, bundle_path: Path, json_output: bool) -> None:
    """Validate BUNDLE_PATH and show its manifest."""
    app = get_app(ctx)
    try:
        manifest = inspect_workflow_bundle(bundle_path=bundle_path)
    except (WorkflowBundleError, OSError) as exc:
        raise CliError(f"invalid bundle {bundle_path}: {exc}", EXIT_FAILED) from exc
    data = workflow_bundle_manifest_to_dict(manifest)
    if app.json_output or json_output:
        render.echo_json(data)
        return
    click.echo(f"bundle   {manifest.bundle_id}@{manifest.bundle_version}")
    click.echo(f"created  {manifest.created_at}")
    if manifest.default_entrypoint:
        click.echo(f"default  {manifest.default_entrypoint}")
    click.echo("entrypoints:")
    for ep in manifest.entrypoints:
        click.echo(f"  {ep.flow_id}  {ep.name or ''}  {ep.description or ''}".rstrip())
    click.echo("flows:")
    for flow_id, path in sorted(manifest.flows.items()):
        click.echo(f"  {flow_id}  {path}")


@bundle_group.command("unpack", epilog=examples("bundle unpack"))
@click.argument("bundle_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def bundle_unpack(ctx: click.Context, bundle_path: Path, out_dir: Path) -> None:
    """Extract BUNDLE_PATH into OUT_DIR (validated first; nothing is written when unsafe)."""
    get_app(ctx)
    try:
        out = unpack_workflow_bundle(bundle_path=bundle_path, out_dir=out_dir)
    except (WorkflowBundleError, OSError) as exc:
        raise CliError(f"cannot unpack {bundle_path}: {exc}", EXIT_FAILED) from exc
    click.echo(f"Unpacked into {out}")


COMMANDS = [bundle_group]
