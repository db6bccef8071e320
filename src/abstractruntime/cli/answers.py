"""Resume payloads built from ``resume`` options, checked against the wait they answer (SPEC §4.6).

* ``--answer TEXT``: ``{"text": TEXT}`` for a user wait; ``{"response": TEXT}`` for an event wait that
  asks something (has a ``prompt``), the key the VisualFlow ``wait_event`` consumers read
  (``event_data.response``).  When the wait offers ``choices`` and does not allow free text, TEXT must be
  one of them.
* ``--approve`` / ``--deny``: the whole batch of a tool-approval wait.
* ``--approve-call CALL_ID`` (repeatable) and ``--edit CALL_ID=JSON`` (repeatable): per-call approval
  with new arguments, ``{"approved": {id: bool, ...}, "arguments": {id: {...}}}``; an edited call is
  approved, ``--approve`` approves the calls not named, every other call is denied.  The runtime re-checks
  edited calls like fresh ones (``core/engine/approval_edits.py``).

Every mistake is a ``CliError`` with exit code 2 naming what is accepted.
"""

from __future__ import annotations

import json
from typing import Any

from abstractruntime.core.models import WaitReason, WaitState

from .app import EXIT_USAGE, CliError, parse_json_option

__all__ = [
    "answer_payload",
    "approval_payload",
    "asks_event",
    "call_key",
    "check_choice",
    "describe_call",
    "edited_approval",
    "pending_calls",
]


def pending_calls(wait: WaitState | None) -> list[dict[str, Any]] | None:
    """The tool calls a tool-approval wait asks about, or None for any other wait."""
    details = wait.details if wait is not None and isinstance(wait.details, dict) else {}
    calls = details.get("tool_calls")
    if details.get("mode") != "approval_required" or not isinstance(calls, list):
        return None
    return [c for c in calls if isinstance(c, dict)]


def call_key(call: dict[str, Any]) -> str | None:
    """The id a call is named by in approvals: ``call_id``, else ``id``, else ``runtime_call_id``."""
    for key in ("call_id", "id", "runtime_call_id"):
        if call.get(key) is not None:
            return str(call[key])
    return None


def asks_event(wait: WaitState) -> bool:
    """True for an event wait that asks a person something (it has a prompt)."""
    return WaitReason(wait.reason) == WaitReason.EVENT and bool(wait.prompt)


def check_choice(wait: WaitState, text: str) -> None:
    """Refuse ``text`` when the wait offers choices, allows no free text and ``text`` is not one of them.

    Raises:
        CliError: exit 2, listing the choices.
    """
    choices = [str(c) for c in (wait.choices or [])]
    if choices and not wait.allow_free_text and text not in choices:
        raise CliError(
            f"--answer {text!r} is not one of the choices of this wait: {', '.join(choices)}", EXIT_USAGE
        )


def answer_payload(wait: WaitState, text: str) -> dict[str, str]:
    """The payload answering ``wait`` with ``text`` (see the module docstring); choices are checked.

    Raises:
        CliError: exit 2 when ``text`` is not an accepted choice.
    """
    check_choice(wait, text)
    return {"response": text} if asks_event(wait) else {"text": text}


def _parse_edit(item: str) -> tuple[str, dict[str, Any]]:
    call_id, sep, text = item.partition("=")
    if not sep or not call_id.strip():
        raise CliError(f"--edit expects CALL_ID=JSON_OBJECT, got {item!r}", EXIT_USAGE)
    arguments = parse_json_option(text, f"--edit {call_id}")
    if not isinstance(arguments, dict):
        raise CliError(
            f'--edit {call_id}: the arguments must be a JSON object, e.g. \'{{"path": "x"}}\'', EXIT_USAGE
        )
    return call_id.strip(), arguments


def edited_approval(
    calls: list[dict[str, Any]], approved: set[str], edits: dict[str, dict[str, Any]], *, approve_rest: bool
) -> dict[str, Any]:
    """``{"approved": {id: bool}, "arguments": {...}?}`` for ``calls`` named by :func:`call_key`.

    ``approved`` and the keys of ``edits`` are approved; every other call is approved only when
    ``approve_rest``.
    """
    decision = {key: approve_rest or key in approved or key in edits for c in calls if (key := call_key(c))}
    payload: dict[str, Any] = {"approved": decision}
    if edits:
        payload["arguments"] = edits
    return payload


def approval_payload(
    wait: WaitState, approval: bool | None, approve_calls: tuple[str, ...], edit_items: tuple[str, ...]
) -> dict[str, Any]:
    """The approval payload for ``--approve/--deny``, ``--approve-call`` and ``--edit``.

    Raises:
        CliError: exit 2 for per-call options on a wait that is not a tool approval, an unknown call id,
            a malformed ``--edit``, the same call edited twice, or ``--deny`` with per-call options.
    """
    if not approve_calls and not edit_items:
        return {"approved": bool(approval)}
    if approval is False:
        raise CliError(
            "--deny refuses every call; it cannot be combined with --approve-call or --edit", EXIT_USAGE
        )
    calls = pending_calls(wait)
    if calls is None:
        raise CliError(
            "--approve-call and --edit answer a tool-approval wait; this run waits on something else",
            EXIT_USAGE,
        )
    known = [k for c in calls if (k := call_key(c))]
    edits: dict[str, dict[str, Any]] = {}
    for item in edit_items:
        call_id, arguments = _parse_edit(item)
        if call_id in edits:
            raise CliError(f"--edit {call_id} is given twice", EXIT_USAGE)
        edits[call_id] = arguments
    for call_id in [*approve_calls, *edits]:
        if call_id not in known:
            raise CliError(
                f"no waiting tool call {call_id!r}; the calls are: {', '.join(known) or '(none)'}", EXIT_USAGE
            )
    return edited_approval(calls, set(approve_calls), edits, approve_rest=approval is True)


def describe_call(call: dict[str, Any], *, limit: int = 300) -> str:
    """``[id] name {arguments}`` for showing a call to a person (arguments cut at ``limit`` characters)."""
    args = json.dumps(call.get("arguments"), ensure_ascii=False, default=str)
    if len(args) > limit:
        args = args[:limit] + "…"
    return f"[{call_key(call)}] {call.get('name')} {args}"
