"""External event delivery and tree cancellation for the ``Scheduler`` (private; SPEC §8.2).

Only runs WAITING on the exact key ``build_event_wait_key(...)`` are resumed (no wildcard), paused runs
are skipped, and each listener is resumed with its own key and the envelope, then ticked.  A listener
resumed by another driver meanwhile is skipped; one whose tick raises is recorded in the stats and
delivery goes on.  Each resume holds the listener's lease when it is free (see ``_polling.driving``).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from ..core.effects.events import event_envelope
from ..core.engine.store_access import is_paused
from ..core.event_keys import build_event_wait_key, normalize_event_scope
from ..core.models import RunState, RunStatus, WaitReason
from ..core.runtime import Runtime
from ..errors import ConcurrencyError, ResumeError
from ..storage.base import QueryableRunStore
from ._polling import StatsBook, driving
from .registry import WorkflowRegistry

__all__ = ["cancel_tree", "deliver_event"]

_log = logging.getLogger("abstractruntime.scheduler")


def deliver_event(
    *,
    runtime: Runtime,
    store: QueryableRunStore,
    registry: WorkflowRegistry,
    book: StatsBook,
    envelope_at: str,
    name: str,
    payload: Any,
    scope: str,
    session_id: str | None,
    workflow_id: str | None,
    run_id: str | None,
    max_steps: int,
    limit: int,
) -> list[RunState]:
    """Resume the listeners of one external event; returns their states in delivery order.

    Args:
        envelope_at: the ``emitted_at`` stamp of the envelope (UTC ISO-8601).
        limit: how many EVENT waits are examined (newest first).
        (the others as in ``Scheduler.emit_event``)

    Raises:
        InvalidEventKeyError (ValueError): blank name, unknown scope, or missing scope id.
        WorkflowNotRegisteredError (KeyError): a listener's workflow is not registered.
    """
    wait_key = build_event_wait_key(
        scope=scope, name=name, session_id=session_id, workflow_id=workflow_id, run_id=run_id
    )
    candidates = store.list_runs(status=RunStatus.WAITING, wait_reason=WaitReason.EVENT, limit=limit)
    listeners = [
        c for c in candidates if c.waiting is not None and c.waiting.wait_key == wait_key and not is_paused(c)
    ]
    envelope = event_envelope(
        event_id=None,
        name=str(name).strip(),
        scope=normalize_event_scope(scope),
        session_id=session_id,
        payload=payload,
        emitted_at=envelope_at,
        emitter={"source": "external"},
    )
    delivered: list[RunState] = []
    for listener in listeners:
        spec = registry.get_or_raise(listener.workflow_id)
        try:
            with driving(runtime, listener.run_id):
                state = runtime.resume(
                    workflow=spec,
                    run_id=listener.run_id,
                    wait_key=wait_key,
                    payload=envelope,
                    max_steps=max_steps,
                )
        except (ConcurrencyError, ResumeError) as exc:
            _log.debug(
                "scheduler: listener %s was resumed by another driver; skipped (%s)", listener.run_id, exc
            )
            continue
        except Exception as exc:  # noqa: BLE001 - one listener's failure never stops delivery to the others
            book.failed(listener.run_id, exc)
            continue
        book.resumed(state)
        delivered.append(state)
    return delivered


def cancel_tree(
    runtime: Runtime, store: QueryableRunStore, run_id: str, *, reason: str | None
) -> list[RunState]:
    """Cancel ``run_id`` and, breadth-first, every RUNNING or WAITING descendant; unknown ids are
    skipped.  Returns the runs that are CANCELLED afterwards, in visiting order (the root first)."""
    cancelled: list[RunState] = []
    queue: deque[str] = deque([run_id])
    seen: set[str] = set()
    while queue:
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        try:
            state = runtime.cancel_run(current, reason=reason)
        except KeyError:
            _log.debug("cancel_with_children: unknown run %s skipped", current)
            continue
        if state.status == RunStatus.CANCELLED:
            cancelled.append(state)
        for child in store.list_children(parent_run_id=current):
            if child.status in (RunStatus.RUNNING, RunStatus.WAITING):
                queue.append(child.run_id)
    return cancelled
