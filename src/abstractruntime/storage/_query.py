"""Query helpers shared by the backends: filtering runs in Python (memory, files) and the ``WHERE``
clause of the SQL backends (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..core.clock import parse_iso
from ..core.models import RunState, RunStatus, WaitReason

__all__ = ["due_until", "index_row", "matches", "newest_first", "sql_run_filters", "until_of"]


def matches(
    run: RunState,
    *,
    status: RunStatus | str | None = None,
    wait_reason: WaitReason | str | None = None,
    workflow_id: str | None = None,
    session_id: str | None = None,
    root_only: bool = False,
) -> bool:
    """True when ``run`` passes every filter that is not None."""
    if status is not None and run.status != status:
        return False
    if wait_reason is not None and (run.waiting is None or run.waiting.reason != wait_reason):
        return False
    if workflow_id is not None and run.workflow_id != workflow_id:
        return False
    if session_id is not None and run.session_id != session_id:
        return False
    return not (root_only and run.parent_run_id)


def sql_run_filters(
    placeholder: str,
    *,
    status: RunStatus | None = None,
    wait_reason: WaitReason | None = None,
    workflow_id: str | None = None,
    session_id: str | None = None,
    parent_run_id: str | None = None,
    root_only: bool = False,
) -> tuple[str, list[Any]]:
    """``(" WHERE ...", args)`` over the ``runs`` table's indexed columns (``("", [])`` with no filter).

    Args:
        placeholder: the driver's parameter marker (``?`` for sqlite3, ``%s`` for psycopg).
    """
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("status", status),
        ("wait_reason", wait_reason),
        ("workflow_id", workflow_id),
        ("session_id", session_id),
        ("parent_run_id", parent_run_id),
    ):
        if value is not None:
            clauses.append(f"{column} = {placeholder}")
            args.append(value.value if isinstance(value, (RunStatus, WaitReason)) else value)
    if root_only:
        clauses.append("(parent_run_id IS NULL OR parent_run_id = '')")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def newest_first(runs: Iterable[RunState]) -> list[RunState]:
    """Runs sorted by ``updated_at`` descending (as instants; unparsable stamps sort last)."""
    return sorted(runs, key=lambda r: _instant(r.updated_at), reverse=True)


def until_of(run: RunState) -> datetime | None:
    """The deadline of a WAITING+UNTIL run as a datetime, or None (other runs, bad stamps)."""
    wait = run.waiting
    if run.status != RunStatus.WAITING or wait is None or wait.reason != WaitReason.UNTIL or not wait.until:
        return None
    try:
        return parse_iso(wait.until)
    except ValueError:
        return None


def due_until(runs: Iterable[RunState], *, now_iso: str, limit: int) -> list[RunState]:
    """UNTIL waits due at ``now_iso``, earliest deadline first, at most ``limit``."""
    now = parse_iso(now_iso)
    due: list[tuple[datetime, RunState]] = []
    for run in runs:
        until = until_of(run)
        if until is not None and until <= now:
            due.append((until, run))
    due.sort(key=lambda pair: pair[0])
    return [run for _, run in due[: max(limit, 0)]]


def index_row(run: RunState) -> dict[str, Any]:
    """The light listing row of SPEC §7.1 for ``run``."""
    wait = run.waiting
    return {
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "status": RunStatus(run.status).value,
        "wait_reason": None if wait is None else WaitReason(wait.reason).value,
        "wait_until": wait.until if wait is not None and wait.reason == WaitReason.UNTIL else None,
        "parent_run_id": run.parent_run_id,
        "actor_id": run.actor_id,
        "session_id": run.session_id,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
    }


_EPOCH = datetime.min.replace(tzinfo=parse_iso("2000-01-01T00:00:00+00:00").tzinfo)


def _instant(stamp: str | None) -> datetime:
    if not stamp:
        return _EPOCH
    try:
        return parse_iso(stamp)
    except ValueError:
        return _EPOCH
