"""``context.messages`` helpers for the memory effects (SPEC §5.2, §4.9 MEMORY_COMPACT, §10.4).

A message is ``{"role", "content", "timestamp"?, "metadata": {"message_id"?, "kind"?, ...}}``.
Normalisation gives every message a ``metadata.message_id`` (``msg_<hex>``) so that archived spans,
summaries and rehydrated copies can be told apart and deduplicated.  Compaction summaries are system
messages whose content starts with ``[CONVERSATION HISTORY SUMMARY span_id=<artifact_id>]: ``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from ..models import RunState
from .memory_common import new_id

__all__ = [
    "NOTE_MESSAGE_KIND",
    "SUMMARY_MESSAGE_KIND",
    "context_messages",
    "message_id",
    "message_key",
    "message_text",
    "normalize_message",
    "normalize_messages",
    "note_message",
    "note_message_id",
    "select_messages_view",
    "summary_prefix",
    "summary_texts",
]

SUMMARY_MESSAGE_KIND = "memory_summary"
NOTE_MESSAGE_KIND = "memory_note"
_SUMMARY_RE = re.compile(r"^\[CONVERSATION HISTORY SUMMARY span_id=([^\]]+)\]: ?(.*)$", re.DOTALL)


def summary_prefix(span_id: str) -> str:
    """The exact prefix of a compaction summary message: ``[CONVERSATION HISTORY SUMMARY span_id=<id>]: ``."""
    return f"[CONVERSATION HISTORY SUMMARY span_id={span_id}]: "


def context_messages(run: RunState, *, create: bool = False) -> list[Any]:
    """The live ``run.vars["context"]["messages"]`` list (``[]`` when absent; created when ``create``)."""
    context = run.vars.get("context")
    if not isinstance(context, dict):
        if not create:
            return []
        context = run.vars["context"] = {}
    messages = context.get("messages")
    if not isinstance(messages, list):
        if not create:
            return []
        messages = context["messages"] = []
    return messages


def normalize_message(raw: Any) -> dict[str, Any] | None:
    """A copy of ``raw`` with ``role`` (default ``user``), ``content`` and a ``metadata.message_id``.

    A bare string becomes a user message; anything else that is not a dict gives None.
    """
    if isinstance(raw, str):
        raw = {"role": "user", "content": raw}
    if not isinstance(raw, dict):
        return None
    message = dict(raw)
    message["role"] = str(message.get("role") or "user")
    if message.get("content") is None:
        message["content"] = ""
    metadata = message.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    if not metadata.get("message_id"):
        metadata["message_id"] = new_id("msg")
    message["metadata"] = metadata
    return message


def normalize_messages(raw: Iterable[Any]) -> list[dict[str, Any]]:
    """:func:`normalize_message` over ``raw``, dropping entries that are not messages."""
    out: list[dict[str, Any]] = []
    for item in raw:
        message = normalize_message(item)
        if message is not None:
            out.append(message)
    return out


def message_id(message: Any) -> str | None:
    """``message.metadata.message_id`` as a string, or None."""
    metadata = message.get("metadata") if isinstance(message, dict) else None
    value = metadata.get("message_id") if isinstance(metadata, dict) else None
    return str(value) if value else None


def message_key(message: Any) -> str:
    """A stable identity: the message id, else a digest of role, content and timestamp."""
    found = message_id(message)
    if found:
        return found
    if not isinstance(message, dict):
        return "fp:" + hashlib.sha256(repr(message).encode("utf-8")).hexdigest()[:24]
    body = {k: message.get(k) for k in ("role", "content", "timestamp")}
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return "fp:" + hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:24]


def message_text(message: Any) -> str:
    """The searchable text of a message: its content (JSON text when it is not a string)."""
    if not isinstance(message, dict):
        return str(message)
    content = message.get("content")
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, default=str)


def is_system(message: Any) -> bool:
    """True for a dict message whose role is ``system``."""
    return isinstance(message, dict) and message.get("role") == "system"


def select_messages_view(messages: Iterable[Any], *, max_history_messages: int | None) -> list[Any]:
    """Every system message plus the newest ``max_history_messages`` other messages, in their order.

    None or a negative value keeps everything; 0 keeps the system messages only (SPEC §10.4).
    """
    items = list(messages)
    if max_history_messages is None or max_history_messages < 0:
        return items
    others = [i for i, m in enumerate(items) if not is_system(m)]
    keep = set(others[len(others) - max_history_messages :]) if max_history_messages > 0 else set()
    return [m for i, m in enumerate(items) if is_system(m) or i in keep]


def summary_texts(messages: Iterable[Any]) -> dict[str, str]:
    """``{span_id: summary text}`` read from the compaction summary messages in ``messages``."""
    found: dict[str, str] = {}
    for message in messages:
        if not is_system(message) or not isinstance(message.get("content"), str):
            continue
        match = _SUMMARY_RE.match(message["content"])
        if match:
            found[match.group(1)] = match.group(2)
    return found


def note_message_id(artifact_id: str) -> str:
    """The message id of a memory note in ``context.messages``: ``memory_note:<artifact_id>``."""
    return f"{NOTE_MESSAGE_KIND}:{artifact_id}"


def note_message(*, artifact_id: str, note: str, timestamp: str | None) -> dict[str, Any]:
    """The system message that puts a memory note into the active context (``keep_in_context``, rehydrate).

    Content ``[MEMORY NOTE span_id=<id>]: <note>``; metadata ``{message_id: "memory_note:<id>",
    kind: "memory_note", span_id}``.
    """
    message: dict[str, Any] = {
        "role": "system",
        "content": f"[MEMORY NOTE span_id={artifact_id}]: {note}",
        "metadata": {
            "message_id": note_message_id(artifact_id),
            "kind": NOTE_MESSAGE_KIND,
            "span_id": artifact_id,
        },
    }
    if timestamp:
        message["timestamp"] = timestamp
    return message
