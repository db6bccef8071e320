"""Rich rendering of runs and ledger records (and plain JSON for ``--json``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.markup import escape as _rich_escape
from rich.table import Table

from abstractruntime.core.engine.store_access import is_paused
from abstractruntime.core.models import RunState

_STATUS_STYLE = {
    "completed": "green",
    "running": "cyan",
    "waiting": "yellow",
    "failed": "red",
    "cancelled": "magenta",
    "started": "cyan",
}


def escape(text: object) -> str:
    """Escape rich markup in ``str(text)`` (stored fields of a damaged run may not be strings)."""
    return _rich_escape(str(text))


def console(*, stderr: bool = False) -> Console:
    """A console on the current ``sys.stdout``/``sys.stderr`` (so click's test runner captures it)."""
    out = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not out.is_terminal and out.width < 160:
        out = Console(stderr=stderr, highlight=False, soft_wrap=True, width=160)
    return out


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _value(value: Any) -> Any:
    return getattr(value, "value", value)


def styled_status(status: Any, *, paused: bool = False) -> str:
    """The status in its colour; ``waiting (paused)`` for a paused run."""
    text = str(_value(status))
    style = _STATUS_STYLE.get(text)
    shown = f"[{style}]{text}[/{style}]" if style else escape(text)
    return f"{shown} [bold magenta](paused)[/bold magenta]" if paused else shown


def run_status(state: RunState) -> str:
    """The styled status of a run, marking a paused one."""
    return styled_status(state.status, paused=is_paused(state))


def short(value: Any, limit: int = 80) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record_summary(record: dict[str, Any]) -> str:
    """One line describing what a ledger record says (effect, wait, result, error)."""
    effect = record.get("effect") or {}
    status = str(_value(record.get("status")))
    result = record.get("result")
    etype = effect.get("type") if isinstance(effect, dict) else None
    parts: list[str] = []
    if etype:
        parts.append(str(etype))
    if record.get("error"):
        parts.append(f"error: {short(record.get('error'), 120)}")
    elif status == "waiting" and isinstance(result, dict) and isinstance(result.get("wait"), dict):
        wait = result["wait"]
        what = wait.get("prompt") or wait.get("until") or wait.get("wait_key")
        parts.append(f"waits ({wait.get('reason')}): {short(what)}")
    elif etype == "resume" and isinstance(effect.get("payload"), dict):
        parts.append(f"payload {short(effect['payload'].get('payload'))}")
    elif status == "completed" and isinstance(result, dict):
        if "output" in result and result.get("completed"):
            parts.append(f"output {short(result.get('output'))}")
        elif etype and etype != "emit_event":
            parts.append(f"→ {short(result)}")
    elif status == "started" and isinstance(effect.get("payload"), dict):
        parts.append(short(effect["payload"]))
    return " ".join(parts)


def print_records(records: Sequence[dict[str, Any]], *, start: int = 0, out: Console | None = None) -> None:
    """A readable timeline line per record: ``#seq time node status summary``."""
    out = out or console()
    for offset, record in enumerate(records):
        ts = str(record.get("ended_at") or record.get("started_at") or "")
        ts = ts[11:23] if len(ts) >= 23 else ts
        out.print(
            f"[dim]#{start + offset:<3} {escape(ts)}[/dim] [bold]{escape(str(record.get('node_id')))}[/bold] "
            f"{styled_status(record.get('status'))} {escape(record_summary(record))}"
        )


def runs_table(states: Iterable[RunState]) -> Table:
    table = Table(show_lines=False)
    table.add_column("run id", no_wrap=True)
    table.add_column("workflow")
    table.add_column("status")
    table.add_column("node")
    table.add_column("wait")
    table.add_column("updated (UTC)", no_wrap=True)
    for state in states:
        wait = state.waiting
        table.add_row(
            escape(state.run_id),
            escape(state.workflow_id),
            run_status(state),
            escape(str(state.current_node or "")),
            escape(str(_value(wait.reason)) if wait else ""),
            escape(str(state.updated_at or "")[:19]),
        )
    return table


def print_state(state: RunState, *, ledger_count: int | None = None, out: Console | None = None) -> None:
    out = out or console()
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str]] = [
        ("run id", escape(state.run_id)),
        ("workflow", escape(state.workflow_id)),
        ("status", run_status(state)),
        ("current node", escape(str(state.current_node or ""))),
        ("created", escape(str(state.created_at or ""))),
        ("updated", escape(str(state.updated_at or ""))),
    ]
    if is_paused(state):
        control = state.vars["_runtime"]["control"]
        reason = control.get("pause_reason")
        rows.append(
            ("paused", escape(f"since {control.get('paused_at')}" + (f": {reason}" if reason else "")))
        )
    if state.parent_run_id:
        rows.append(("parent run", escape(state.parent_run_id)))
    if state.session_id:
        rows.append(("session", escape(state.session_id)))
    if state.waiting is not None:
        wait = state.waiting
        rows.append(("waiting", escape(str(_value(wait.reason)))))
        if wait.wait_key:
            rows.append(("wait key", escape(wait.wait_key)))
        if wait.prompt:
            rows.append(("prompt", escape(wait.prompt)))
        if wait.choices:
            rows.append(("choices", escape(", ".join(str(c) for c in wait.choices))))
        if wait.until:
            rows.append(("until", escape(wait.until)))
    if state.output is not None:
        rows.append(("output", escape(json.dumps(state.output, ensure_ascii=False, default=str))))
    if state.error:
        rows.append(("error", f"[red]{escape(state.error)}[/red]"))
    ns = state.vars.get("_runtime") if isinstance(state.vars, dict) else None
    if isinstance(ns, dict) and ns.get("cli_target"):
        rows.append(("target", escape(str(ns["cli_target"]))))
    if ledger_count is not None:
        rows.append(("ledger records", str(ledger_count)))
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)


def state_to_json(state: RunState) -> dict[str, Any]:
    data: dict[str, Any] = state.to_dict()
    return data
