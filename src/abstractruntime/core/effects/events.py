"""EMIT_EVENT (SPEC §4.11): deliver an event to the runs waiting for it, inside the emitter's step.

Listeners are the WAITING runs whose wait key equals the event's key, or the scope's wildcard key
``evt:{scope}:{scope_id}:*``.  Each is resumed with the event envelope at its ``result_key`` and,
by default (``max_steps`` 0), left RUNNING at its resume node for the host to tick.  Delivery is
at-least-once and best effort: one failing listener is reported, not raised.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from ...errors import InvalidEventKeyError
from ..clock import to_iso
from ..event_keys import build_event_wait_key, resolve_scope_id, wildcard_event_wait_key
from ..models import Effect, RunState, RunStatus, WaitReason
from ..outcome import EffectOutcome
from ..ports import QueryableRunStore
from .kernel import Kernel

__all__ = ["event_envelope", "make_emit_event_handler"]

_log = logging.getLogger("abstractruntime.effects.events")
_CANDIDATE_LIMIT = 10000
_MAX_LISTED_LISTENERS = 15


def event_envelope(
    *,
    event_id: str | None,
    name: str,
    scope: str,
    session_id: str | None,
    payload: Any,
    emitted_at: str,
    emitter: dict[str, Any],
) -> dict[str, Any]:
    """The value delivered at a listener's ``result_key``.

    A non-dict ``payload`` ``v`` becomes ``{"value": v}`` (None becomes ``{}``).
    """
    body = payload if isinstance(payload, dict) else ({} if payload is None else {"value": payload})
    return {
        "event_id": event_id,
        "name": name,
        "scope": scope,
        "session_id": session_id,
        "payload": body,
        "emitted_at": emitted_at,
        "emitter": emitter,
    }


def _is_paused(run: RunState) -> bool:
    runtime_ns = run.vars.get("_runtime") if isinstance(run.vars, dict) else None
    control = runtime_ns.get("control") if isinstance(runtime_ns, dict) else None
    return isinstance(control, dict) and control.get("paused") is True


def make_emit_event_handler(kernel: Kernel) -> Callable[[RunState, Effect, str | None], EffectOutcome]:
    """An EMIT_EVENT handler bound to ``kernel``.

    Payload: ``name``/``event_name`` (required), ``scope`` (default ``session``), ``session_id``,
    ``workflow_id``, ``run_id`` (scope ids; default the emitter's), ``payload``, ``event_id``,
    ``max_steps`` (default 0).  Result: ``{wait_key, name, scope, delivered, delivered_to, resumed}``.
    """

    def emit_event(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        name = payload.get("name") or payload.get("event_name")
        if not name:
            return EffectOutcome.failed("emit_event requires payload.name")
        scope = str(payload.get("scope") or "session").strip().lower()
        session_id = payload.get("session_id") or run.session_id or run.run_id
        try:
            wait_key = build_event_wait_key(
                scope=scope,
                name=str(name),
                session_id=session_id,
                workflow_id=payload.get("workflow_id") or run.workflow_id,
                run_id=payload.get("run_id") or run.run_id,
            )
            scope_id = resolve_scope_id(
                scope=scope,
                session_id=session_id,
                workflow_id=payload.get("workflow_id") or run.workflow_id,
                run_id=payload.get("run_id") or run.run_id,
            )
        except InvalidEventKeyError as exc:
            return EffectOutcome.failed(f"emit_event invalid payload: {exc}")
        store = kernel.run_store
        if not isinstance(store, QueryableRunStore):
            return EffectOutcome.failed("emit_event requires a QueryableRunStore to find listeners")
        wildcard = wildcard_event_wait_key(scope=scope, scope_id=scope_id)
        candidates = store.list_runs(
            status=RunStatus.WAITING, wait_reason=WaitReason.EVENT, limit=_CANDIDATE_LIMIT
        )
        listeners = [
            c
            for c in candidates
            if c.waiting is not None and c.waiting.wait_key in (wait_key, wildcard) and not _is_paused(c)
        ]
        report: dict[str, Any] = {
            "wait_key": wait_key,
            "name": str(name),
            "scope": scope,
            "delivered": 0,
            "delivered_to": [],
            "resumed": [],
        }
        if not listeners:
            prefix = f"evt:session:{session_id}:"
            seen = sorted(
                {
                    c.waiting.wait_key[len(prefix) :]
                    for c in candidates
                    if c.waiting is not None
                    and isinstance(c.waiting.wait_key, str)
                    and c.waiting.wait_key.startswith(prefix)
                }
            )
            report["available_listeners_in_session"] = seen[:_MAX_LISTED_LISTENERS]
            return EffectOutcome.completed(report)
        registry = kernel.workflow_registry
        if registry is None:
            return EffectOutcome.failed("emit_event requires a workflow_registry to resume listeners")
        envelope = event_envelope(
            event_id=payload.get("event_id") or uuid.uuid4().hex,
            name=str(name),
            scope=scope,
            session_id=session_id if scope == "session" else payload.get("session_id"),
            payload=payload.get("payload"),
            emitted_at=to_iso(kernel.now()),
            emitter={"run_id": run.run_id, "workflow_id": run.workflow_id, "node_id": run.current_node},
        )
        max_steps = int(payload.get("max_steps") or 0)
        for listener in listeners:
            _deliver(kernel, registry, listener, envelope=envelope, max_steps=max_steps, report=report)
        return EffectOutcome.completed(report)

    return emit_event


def _deliver(
    kernel: Kernel,
    registry: Any,
    listener: RunState,
    *,
    envelope: dict[str, Any],
    max_steps: int,
    report: dict[str, Any],
) -> None:
    spec = registry.get(listener.workflow_id)
    if spec is None:
        report["resumed"].append(
            {"run_id": listener.run_id, "status": "skipped", "error": "workflow_not_registered"}
        )
        return
    try:
        key = listener.waiting.wait_key if listener.waiting is not None else None
        state = kernel.resume(
            workflow=spec, run_id=listener.run_id, wait_key=key, payload=envelope, max_steps=max_steps
        )
    except Exception as exc:  # noqa: BLE001 - one listener's failure is reported, never raised into the emitter
        _log.warning("event delivery to run %s failed: %s", listener.run_id, exc)
        report["resumed"].append({"run_id": listener.run_id, "status": "error", "error": str(exc)})
        return
    report["delivered"] += 1
    report["delivered_to"].append(listener.run_id)
    report["resumed"].append({"run_id": listener.run_id, "status": RunStatus(state.status).value})
