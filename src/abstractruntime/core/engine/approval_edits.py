"""Argument edits made while approving tool calls (SPEC §4.6, §11.3): validation and re-check.

An approval payload may carry, next to ``approved``, new arguments for some of the calls it approves::

    {"approved": {"c1": true, "c2": false}, "arguments": {"c1": {"path": "notes/b.txt"}}}

``arguments`` maps a call id (the call's ``call_id``, ``id`` or ``runtime_call_id``) to a JSON object that
replaces that call's arguments.  The payload comes from outside the runtime, so:

* its *shape* is checked before anything is claimed or run (:func:`parse_argument_edits`): ``arguments``
  must be an object, each key must name exactly one waiting call that the payload approves, each value
  must be a JSON object (string keys, JSON values).  Anything else raises
  :class:`~abstractruntime.errors.InvalidResumePayloadError` and the run keeps waiting, unchanged;
* each edited call is *re-checked* like a fresh call before it runs (:func:`recheck_edited_call`): the
  node's allowlist recorded in the wait (``details["allowed_tools"]``: a list, or None for no allowlist;
  a wait without the key refuses every edit), then the resume executor's ``recheck_call(call, *,
  run_vars, allowed_tools) -> (call, refusal | None)`` (the tool integration's workspace policy).  An
  executor without ``recheck_call`` refuses every edit.  A refused edit fails that call with the refusal
  error; the other approved calls still run.

Every edited call's result carries ``metadata.argument_edit`` = ``{original_arguments,
edited_arguments, arguments_run, refused}`` so the ledger shows what was asked for and what ran.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from ...errors import InvalidResumePayloadError

__all__ = [
    "EDIT_METADATA_KEY",
    "EDITS_FIELD",
    "call_ids",
    "calls_as_run",
    "mark_edited",
    "parse_argument_edits",
    "recheck_edited_call",
]

EDITS_FIELD = "arguments"
"""Key of an approval payload holding the argument edits, ``{call_id: {...}}``."""

EDIT_METADATA_KEY = "argument_edit"
"""Key under a result's ``metadata`` recording an edit."""

_NO_ALLOWLIST = "Argument edit refused: this approval wait does not record the node's allowlist"
_NO_RECHECK = "Argument edit refused: the resume executor cannot re-check edited calls (no recheck_call)"


def call_ids(call: Mapping[str, Any]) -> set[str]:
    """The ids naming ``call``: its ``call_id``, ``id`` and ``runtime_call_id`` (as strings)."""
    return {str(call[k]) for k in ("call_id", "id", "runtime_call_id") if call.get(k) is not None}


def _json_object(value: Any, *, call_id: str, run_id: str | None) -> dict[str, Any]:
    """A deep copy of ``value`` when it is a JSON object, else InvalidResumePayloadError."""
    if not isinstance(value, dict):
        raise InvalidResumePayloadError(
            f"arguments[{call_id!r}] must be a JSON object, got {type(value).__name__}",
            run_id=run_id,
            field=EDITS_FIELD,
        )
    try:
        text = json.dumps(value, allow_nan=False, sort_keys=True)
        copied = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidResumePayloadError(
            f"arguments[{call_id!r}] is not JSON: {exc}", run_id=run_id, field=EDITS_FIELD
        ) from exc
    if set(copied) != set(value):  # a non-string key was turned into a string by json.dumps
        raise InvalidResumePayloadError(
            f"arguments[{call_id!r}] must have string keys", run_id=run_id, field=EDITS_FIELD
        )
    return dict(copied)


def parse_argument_edits(
    calls: list[dict[str, Any]], payload: Mapping[str, Any], approved: set[int], *, run_id: str | None = None
) -> dict[int, dict[str, Any]]:
    """The edits of an approval payload, by index into ``calls``; ``{}`` when there are none.

    Args:
        calls: the waiting calls (``details["tool_calls"]``, dicts only).
        payload: the resume payload (``payload["arguments"]`` is read when present).
        approved: the indexes of ``calls`` the payload approves.
        run_id: for the error.

    Raises:
        InvalidResumePayloadError: ``arguments`` is not an object; a key is not a string, names no
            waiting call, names a call another key already edits, or names a call not approved; a value
            is not a JSON object with string keys.
    """
    if EDITS_FIELD not in payload:
        return {}
    raw = payload[EDITS_FIELD]
    if not isinstance(raw, dict):
        raise InvalidResumePayloadError(
            f"'arguments' must be an object mapping call ids to JSON objects, got {type(raw).__name__}",
            run_id=run_id,
            field=EDITS_FIELD,
        )
    known = sorted({i for c in calls for i in call_ids(c)})
    edits: dict[int, dict[str, Any]] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise InvalidResumePayloadError(
                f"arguments keys must be call ids (strings), got {key!r}", run_id=run_id, field=EDITS_FIELD
            )
        matches = [i for i, call in enumerate(calls) if key in call_ids(call)]
        if len(matches) != 1:
            raise InvalidResumePayloadError(
                f"arguments[{key!r}] names no single waiting call; the calls are: {', '.join(known)}",
                run_id=run_id,
                field=EDITS_FIELD,
            )
        index = matches[0]
        if index in edits:
            raise InvalidResumePayloadError(
                f"arguments[{key!r}]: that call is already edited under another of its ids",
                run_id=run_id,
                field=EDITS_FIELD,
            )
        if index not in approved:
            raise InvalidResumePayloadError(
                f"arguments[{key!r}]: the call is not approved by this payload; approve it to edit it",
                run_id=run_id,
                field=EDITS_FIELD,
            )
        edits[index] = _json_object(value, call_id=key, run_id=run_id)
    return edits


def recheck_edited_call(
    call: dict[str, Any],
    edited: dict[str, Any],
    *,
    details: Mapping[str, Any],
    run_vars: dict[str, Any] | None,
    executor: Any,
) -> tuple[dict[str, Any], str | None]:
    """``(call to run, None)`` or ``(call as edited, refusal message)`` for ``call`` with ``edited`` args.

    The allowlist recorded in the wait is applied here; the rest (the workspace policy) by the
    executor's ``recheck_call``.  Never raises: a failing re-check refuses the edit.
    """
    asked = {**call, "arguments": copy.deepcopy(edited)}
    if "allowed_tools" not in details:
        return asked, _NO_ALLOWLIST
    allowed = details["allowed_tools"]
    name = call.get("name")
    if allowed is not None and (not isinstance(allowed, list) or name not in allowed):
        return asked, f"Tool '{name}' is not allowed at this node"
    check = getattr(executor, "recheck_call", None)
    if not callable(check):
        return asked, _NO_RECHECK
    try:
        out = check(asked, run_vars=run_vars if run_vars is not None else {}, allowed_tools=allowed)
    except Exception as exc:  # noqa: BLE001 - a failing check refuses the edit, it does not crash the resume
        return asked, f"Argument edit refused: re-check failed ({type(exc).__name__}: {exc})"
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], dict)):
        return asked, "Argument edit refused: recheck_call returned an unexpected value"
    checked, refusal = out
    if refusal is not None:
        return asked, str(refusal)
    return checked, None


def mark_edited(
    result: Any,
    *,
    original: dict[str, Any],
    edited: dict[str, Any],
    ran: dict[str, Any] | None,
    refusal: str | None,
) -> Any:
    """``result`` with ``metadata.argument_edit`` recording the edit (a non-dict result is unchanged)."""
    if not isinstance(result, dict):
        return result
    metadata = result.get("metadata")
    marked = dict(metadata) if isinstance(metadata, dict) else {}
    marked[EDIT_METADATA_KEY] = {
        "original_arguments": copy.deepcopy(original.get("arguments")),
        "edited_arguments": copy.deepcopy(edited),
        "arguments_run": copy.deepcopy(ran.get("arguments")) if ran is not None else None,
        "refused": refusal,
    }
    return {**result, "metadata": marked}


def calls_as_run(calls: list[Any], stored: Any) -> list[Any]:
    """``calls`` with the arguments edited calls really ran with (from ``metadata.argument_edit`` of the
    results in ``stored``), so evidence describes what ran; unedited or refused calls are unchanged."""
    results = stored.get("results") if isinstance(stored, dict) else None
    ran: dict[str, Any] = {}
    for result in results if isinstance(results, list) else []:
        metadata = result.get("metadata") if isinstance(result, dict) else None
        edit = metadata.get(EDIT_METADATA_KEY) if isinstance(metadata, dict) else None
        if isinstance(edit, dict) and edit.get("arguments_run") is not None:
            for key in ("call_id", "runtime_call_id"):
                if result.get(key) is not None:
                    ran[str(result[key])] = edit["arguments_run"]
    if not ran:
        return calls
    out: list[Any] = []
    for call in calls:
        hit = next((ran[i] for i in call_ids(call) if i in ran), None) if isinstance(call, dict) else None
        out.append({**call, "arguments": copy.deepcopy(hit)} if hit is not None else call)
    return out
