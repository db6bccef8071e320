"""External event delivery and tree cancellation for the ``Scheduler`` (private; SPEC §8.2).

Only runs WAITING on the exact key ``build_event_wait_key(...)`` are resumed (no wildcard), paused runs
are skipped, and each listener is resumed with its own key and the envelope, then ticked — through
the same delivery function as the EMIT_EVENT effect (``core.effects.events.deliver_to_listeners``), so
on a store with ``group_commit()`` the resumes commit in batches.  A listener resumed by another driver
meanwhile is skipped; one whose tick raises is recorded in the stats and delivery goes on.  Each resume
holds the listener's lease when it is free (see ``_polling.driving``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..core.effects.events import deliver_to_listeners, event_envelope, find_listener_checkpoints
from ..core.event_keys import build_event_wait_key, normalize_event_scope
from ..core.models import RunState, RunStatus
from ..core.runtime import Runtime
from ..core.spec import WorkflowSpec
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
    found, _candidates = find_listener_checkpoints(store, (wait_key,), limit=limit)
    listeners = [c.run for c in found]
    envelope = event_envelope(
        event_id=None,
        name=str(name).strip(),
        scope=normalize_event_scope(scope),
        session_id=session_id,
        payload=payload,
        emitted_at=envelope_at,
        emitter={"source": "external"},
    )
    registered: list[tuple[RunState, WorkflowSpec]] = []
    missing: str | None = None
    for listener in listeners:
        spec = registry.get(listener.workflow_id)
        if spec is None:  # SPEC §8.2: delivery stops at the first unregistered workflow, which raises
            missing = listener.workflow_id
            break
        registered.append((listener, spec))
    outcomes = deliver_to_listeners(
        runtime,
        registered,
        envelope=envelope,
        max_steps=max_steps,
        guard=lambda listener_id: _holding_lease(runtime, listener_id),
        checkpoints=found,
    )
    delivered: list[RunState] = []
    for outcome in outcomes:
        if outcome.status == "advanced" and outcome.state is not None:
            book.resumed(outcome.state)
            delivered.append(outcome.state)
        elif outcome.status == "failed" and outcome.error is not None:
            book.failed(outcome.run.run_id, outcome.error)
    if missing is not None:
        registry.get_or_raise(missing)
    return delivered


@contextmanager
def _holding_lease(runtime: Runtime, run_id: str) -> Iterator[bool]:
    """Hold the listener's lease when it is free; deliver either way (the revision check decides)."""
    with driving(runtime, run_id):
        yield True


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
