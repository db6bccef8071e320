"""Questions asked on a terminal while a run waits (``run``/``resume`` with a TTY or ``--interactive``).

* A tool-approval wait asks, call by call, ``a`` (approve), ``d`` (deny, the default) or ``e`` (edit:
  type the new arguments as a JSON object, shown pre-filled; an edited call is approved).  Calls without an
  id are approved or denied as one batch.
* A user wait, or an event wait with a prompt, shows its ``choices`` as a numbered list: type a number or
  the choice itself, or free text when the wait allows it (SPEC: ``allow_free_text``).  Without choices any
  text is the answer.  The payload is the one ``resume --answer`` sends (``answers.answer_payload``).

Ctrl-C or Ctrl-D at a prompt raises ``click.Abort``; the caller leaves the run waiting.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console

from abstractruntime.core.models import WaitState

from . import render
from .answers import answer_payload, call_key, describe_call, edited_approval

__all__ = ["ask_answer", "ask_approval"]

_ACTIONS = click.Choice(["a", "d", "e"], case_sensitive=False)


def _ask_arguments(call: dict[str, Any], out: Console) -> dict[str, Any]:
    current = json.dumps(call.get("arguments") or {}, ensure_ascii=False, default=str)
    while True:
        text = click.prompt("  New arguments (JSON object)", default=current)
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            out.print(f"[red]Not valid JSON ({render.escape(str(exc))}); try again.[/red]")
            continue
        if isinstance(value, dict):
            return value
        out.print('[red]The arguments must be a JSON object, e.g. {"path": "notes.txt"}.[/red]')


def ask_approval(calls: list[dict[str, Any]], out: Console) -> dict[str, Any]:
    """Ask about each call of a tool-approval wait; returns the resume payload."""
    out.print("[bold yellow]?[/bold yellow] The run asks to call these tools:")
    if any(call_key(c) is None for c in calls):
        for call in calls:
            out.print(f"  - {render.escape(describe_call(call))}")
        return {"approved": click.confirm("Approve?", default=False)}
    approved: set[str] = set()
    edits: dict[str, dict[str, Any]] = {}
    for call in calls:
        key = str(call_key(call))
        out.print(f"  - {render.escape(describe_call(call))}")
        action = click.prompt(
            "    approve, deny or edit? [a/d/e]", type=_ACTIONS, default="d", show_choices=False
        )
        if action.lower() == "a":
            approved.add(key)
        elif action.lower() == "e":
            edits[key] = _ask_arguments(call, out)
    if not edits and len(approved) == len(calls):
        return {"approved": True}
    if not edits and not approved:
        return {"approved": False}
    return edited_approval(calls, approved, edits, approve_rest=False)


def ask_answer(wait: WaitState, out: Console) -> dict[str, Any]:
    """Ask the question of a user wait (or an asking event wait); returns the resume payload."""
    out.print(f"[bold yellow]?[/bold yellow] {render.escape(wait.prompt or 'Your answer')}")
    choices = [str(c) for c in (wait.choices or [])]
    if not choices:
        return answer_payload(wait, click.prompt(">", prompt_suffix=" "))
    for i, choice in enumerate(choices, 1):
        out.print(f"  {i}) {render.escape(choice)}")
    while True:
        answer = click.prompt("Choose a number" + (" or type an answer" if wait.allow_free_text else ""))
        if answer.isdigit() and 1 <= int(answer) <= len(choices):
            return answer_payload(wait, choices[int(answer) - 1])
        if answer in choices or wait.allow_free_text:
            return answer_payload(wait, answer)
        out.print("[red]Please pick one of the numbers above.[/red]")
