"""Session turn summaries for run history bundles (SPEC §10.1 ``session``).

Private helper of :mod:`abstractruntime.history_bundle`.  A *turn* is one root run of a session (a
user request and what answered it).  Internal runs (``__session_memory__`` and other ``__*__``
workflows) are not turns.  Everything here is best effort: missing data gives None, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from .core.clock import parse_iso
from .core.jsonable import to_jsonable
from .core.models import RunState, RunStatus
from .storage.base import LedgerStore, RunStore

__all__ = ["duration_ms", "parse_instant", "run_duration_ms", "session_turns"]

_PROMPT_PATHS: tuple[tuple[str, ...], ...] = (
    ("context", "task"),
    ("context", "prompt"),
    ("prompt",),
    ("task",),
    ("input",),
    ("message",),
    ("request",),
)
_ANSWER_KEYS = ("answer", "response", "text", "content", "message")
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


def parse_instant(stamp: Any) -> datetime | None:
    """``stamp`` as a tz-aware datetime, or None when it is missing or not ISO-8601."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return parse_iso(stamp)
    except ValueError:
        return None


def duration_ms(start: datetime | None, end: datetime | None) -> float | None:
    """``end - start`` in milliseconds (3 decimals), or None when either instant is missing."""
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() * 1000.0, 3)


def run_duration_ms(run: RunState) -> float | None:
    """How long ``run`` has lived: ``updated_at - created_at`` in milliseconds (3 decimals).

    For a terminal run this is its whole duration; for a running or waiting run, the time up to its
    last saved change.  None when either stamp is missing or not ISO-8601.
    """
    return duration_ms(parse_instant(run.created_at), parse_instant(run.updated_at))


def session_turns(
    run_store: RunStore, ledger_store: LedgerStore, run: RunState, limit: int
) -> list[dict[str, Any]]:
    """Best-effort summaries of the session's root runs, oldest first (at most ``limit``, the newest).

    Args:
        run_store: queried with ``list_run_index(session_id=..., root_only=True)`` when it has it,
            else ``list_runs``; a store with neither gives the exported run alone (when it is a root).
        ledger_store: ``metrics_many`` gives the stats when present, else each ledger is scanned.
        run: the exported run (its ``session_id`` names the session).
        limit: at most this many turns; ``<= 0`` gives none.
    """
    if limit <= 0 or not run.session_id:
        return []
    roots = _session_roots(run_store, run, limit)
    roots.sort(key=lambda r: (parse_instant(r.created_at) or _EARLIEST, r.run_id))
    stats = _turn_stats(ledger_store, [r.run_id for r in roots])
    return [_turn(r, stats.get(r.run_id)) for r in roots]


def _session_roots(run_store: RunStore, run: RunState, limit: int) -> list[RunState]:
    session_id = run.session_id
    list_run_index = getattr(run_store, "list_run_index", None)
    list_runs = getattr(run_store, "list_runs", None)
    if callable(list_run_index):
        rows = list_run_index(session_id=session_id, root_only=True, limit=limit)
        ids = [row.get("run_id") for row in rows if isinstance(row, dict)]
        found = [run_store.load(i) for i in ids if isinstance(i, str)]
        candidates = [r for r in found if r is not None]
    elif callable(list_runs):
        candidates = [r for r in list_runs(limit=100_000) if r.session_id == session_id]
    else:
        candidates = [run] if not run.parent_run_id else []
    roots = [r for r in candidates if not r.parent_run_id and not _is_internal(r.workflow_id)]
    roots.sort(key=lambda r: parse_instant(r.updated_at) or _EARLIEST)
    return roots[-limit:]  # the newest ``limit`` turns


def _is_internal(workflow_id: str) -> bool:
    return workflow_id.startswith("__") and workflow_id.endswith("__")


def _turn_stats(ledger_store: LedgerStore, run_ids: list[str]) -> dict[str, dict[str, int]]:
    """``{run_id: {steps, llm_calls, tool_calls, tokens_total}}`` from ``metrics_many`` or a scan."""
    metrics_many = getattr(ledger_store, "metrics_many", None)
    if callable(metrics_many) and run_ids:
        found = metrics_many(run_ids)
        if isinstance(found, dict):
            return {k: dict(v) for k, v in found.items() if isinstance(v, dict)}
    return {rid: _metrics_from_records(ledger_store.list(rid)) for rid in run_ids}


def _metrics_from_records(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The ``metrics_many`` figures computed in Python: completed steps, LLM calls, tool calls, tokens."""
    metrics = {"steps": 0, "llm_calls": 0, "tool_calls": 0, "tokens_total": 0}
    for record in records:
        if record.get("status") != "completed":
            continue
        metrics["steps"] += 1
        effect = _mapping(record.get("effect"))
        kind = effect.get("type")
        if kind == "llm_call":
            metrics["llm_calls"] += 1
            tokens = _mapping(_mapping(record.get("result")).get("usage")).get("total_tokens")
            if isinstance(tokens, int) and not isinstance(tokens, bool):
                metrics["tokens_total"] += tokens
        elif kind == "tool_calls":
            calls = _mapping(effect.get("payload")).get("tool_calls")
            metrics["tool_calls"] += len(calls) if isinstance(calls, list) else 0
    return metrics


def _turn(run: RunState, stats: Mapping[str, Any] | None) -> dict[str, Any]:
    """One turn: ``{run_id, workflow_id, kind, status, created_at, updated_at, duration_ms, prompt,
    attachments, answer, answer_meta, stats}``.

    * ``duration_ms``: :func:`run_duration_ms`;

    * ``prompt``: the first non-empty string at ``context.task``, ``context.prompt``, ``prompt``,
      ``task``, ``input``, ``message`` or ``request``, else the last user message of
      ``context.messages``;
    * ``attachments``: ``context.attachments`` (or top-level ``attachments``) when it is a list;
    * ``answer``: ``output.<k>`` or ``output.result.<k>`` for k in answer/response/text/content/
      message, or ``output.result`` when it is a string, else (completed runs) the last assistant
      message; ``answer_meta`` is ``{source, success, error}`` (where it came from, ``output.success``,
      ``run.error``);
    * ``kind``: ``"chat"`` when a prompt was found, else ``"workflow"``.
    """
    run_vars = run.vars if isinstance(run.vars, dict) else {}
    prompt = _prompt(run_vars)
    answer, source = _answer(run, run_vars)
    output = run.output if isinstance(run.output, dict) else {}
    success = output.get("success")
    return {
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "kind": "chat" if prompt is not None else "workflow",
        "status": RunStatus(run.status).value,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "duration_ms": run_duration_ms(run),
        "prompt": prompt,
        "attachments": _attachments(run_vars),
        "answer": answer,
        "answer_meta": {
            "source": source,
            "success": success if isinstance(success, bool) else None,
            "error": run.error,
        },
        "stats": dict(stats) if stats is not None else {},
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _at(root: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = root
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _messages(run_vars: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    messages = _at(run_vars, ("context", "messages"))
    return [m for m in messages if isinstance(m, Mapping)] if isinstance(messages, list) else []


def _last_message(run_vars: Mapping[str, Any], role: str) -> str | None:
    for message in reversed(_messages(run_vars)):
        content = message.get("content")
        if message.get("role") == role and isinstance(content, str) and content.strip():
            return content
    return None


def _prompt(run_vars: Mapping[str, Any]) -> str | None:
    for path in _PROMPT_PATHS:
        value = _at(run_vars, path)
        if isinstance(value, str) and value.strip():
            return value
    return _last_message(run_vars, "user")


def _attachments(run_vars: Mapping[str, Any]) -> list[Any]:
    for path in (("context", "attachments"), ("attachments",)):
        value = _at(run_vars, path)
        if isinstance(value, list):
            return list(to_jsonable(value))
    return []


def _answer(run: RunState, run_vars: Mapping[str, Any]) -> tuple[Any, str | None]:
    output = run.output if isinstance(run.output, dict) else {}
    for prefix, source in (("output", output), ("output.result", output.get("result"))):
        if not isinstance(source, Mapping):
            continue
        for key in _ANSWER_KEYS:
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value, f"{prefix}.{key}"
    result = output.get("result")
    if isinstance(result, str) and result.strip():
        return result, "output.result"
    if run.status == RunStatus.COMPLETED:
        last = _last_message(run_vars, "assistant")
        if last is not None:
            return last, "context.messages"
    return None, None
