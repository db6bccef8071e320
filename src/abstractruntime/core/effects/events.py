"""EMIT_EVENT (SPEC §4.11): deliver an event to the runs waiting for it, inside the emitter's step.

Listeners are the WAITING runs whose wait key equals the event's key, or the scope's wildcard key
``evt:{scope}:{scope_id}:*``.  Each is resumed with the event envelope at its ``result_key`` and,
by default (``max_steps`` 0), left RUNNING at its resume node for the host to tick.  Delivery is
at-least-once and best effort: one failing listener is reported, not raised.

:func:`deliver_to_listeners` is the one delivery path, shared with ``Scheduler.emit_event``: on a
store with ``group_commit()`` (SQLite) the listeners' resumes commit in batches, one transaction per
batch (see :mod:`abstractruntime.core.effects.wake`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import InvalidEventKeyError
from ..clock import to_iso
from ..event_keys import build_event_wait_key, resolve_scope_id, wildcard_event_wait_key
from ..logs import LazyLogger
from ..models import Effect, RunState, RunStatus, WaitReason, new_id
from ..outcome import EffectOutcome
from ..ports import Checkpoint, CheckpointListingRunStore, QueryableRunStore
from ..spec import WorkflowSpec
from .kernel import Kernel

if TYPE_CHECKING:  # loaded at the first delivery: `import abstractruntime` stays as small as it was
    from .wake import Guard, WakeOutcome

__all__ = [
    "deliver_to_listeners",
    "event_envelope",
    "find_listener_checkpoints",
    "find_listeners",
    "make_emit_event_handler",
]

_log = LazyLogger("abstractruntime.effects.events")
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
        found, candidates = find_listener_checkpoints(store, (wait_key, wildcard), limit=_CANDIDATE_LIMIT)
        listeners = [c.run for c in found]
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
            event_id=payload.get("event_id") or new_id().replace("-", ""),
            name=str(name),
            scope=scope,
            session_id=session_id if scope == "session" else payload.get("session_id"),
            payload=payload.get("payload"),
            emitted_at=to_iso(kernel.now()),
            emitter={"run_id": run.run_id, "workflow_id": run.workflow_id, "node_id": run.current_node},
        )
        registered: list[tuple[RunState, Any]] = []
        for listener in listeners:
            spec = registry.get(listener.workflow_id)
            if spec is None:
                report["resumed"].append(
                    {"run_id": listener.run_id, "status": "skipped", "error": "workflow_not_registered"}
                )
            else:
                registered.append((listener, spec))
        outcomes = deliver_to_listeners(
            kernel,
            registered,
            envelope=envelope,
            max_steps=int(payload.get("max_steps") or 0),
            checkpoints=found,
        )
        for outcome in outcomes:
            if outcome.status == "advanced" and outcome.state is not None:
                report["delivered"] += 1
                report["delivered_to"].append(outcome.run.run_id)
                status = RunStatus(outcome.state.status).value
                report["resumed"].append({"run_id": outcome.run.run_id, "status": status})
            else:
                _log.warning("event delivery to run %s failed: %s", outcome.run.run_id, outcome.error)
                report["resumed"].append(
                    {"run_id": outcome.run.run_id, "status": "error", "error": str(outcome.error)}
                )
        return EffectOutcome.completed(report)

    return emit_event


def find_listeners(
    store: QueryableRunStore, wait_keys: Collection[str], *, limit: int
) -> tuple[list[RunState], list[RunState]]:
    """The unpaused WAITING+EVENT runs whose wait key is one of ``wait_keys``.

    Args:
        store: where the EVENT waits are listed (``list_runs``, newest first).
        wait_keys: the keys that match (the event's key, and for EMIT_EVENT its scope's wildcard).
        limit: how many EVENT waits are examined.

    Returns:
        ``(listeners, candidates)``: the matching runs, and every EVENT wait examined.
    """
    found, candidates = find_listener_checkpoints(store, wait_keys, limit=limit)
    return [c.run for c in found], candidates


def find_listener_checkpoints(
    store: QueryableRunStore, wait_keys: Collection[str], *, limit: int
) -> tuple[list[Checkpoint], list[RunState]]:
    """:func:`find_listeners` with each listener's revision, so delivery need not load it again.

    A store without ``list_checkpoints`` (:class:`CheckpointListingRunStore`) is listed with
    ``list_runs``; its listeners then carry revision ``-1``, which :func:`deliver_to_listeners` takes
    as "load it again".
    """
    if isinstance(store, CheckpointListingRunStore):
        listed = store.list_checkpoints(status=RunStatus.WAITING, wait_reason=WaitReason.EVENT, limit=limit)
    else:
        runs = store.list_runs(status=RunStatus.WAITING, wait_reason=WaitReason.EVENT, limit=limit)
        listed = [Checkpoint(run, _UNKNOWN_REVISION) for run in runs]
    keys = set(wait_keys)
    listeners = [
        c
        for c in listed
        if c.run.waiting is not None and c.run.waiting.wait_key in keys and not _is_paused(c.run)
    ]
    return listeners, [c.run for c in listed]


_UNKNOWN_REVISION = -1


def deliver_to_listeners(
    kernel: Kernel,
    listeners: Sequence[tuple[RunState, WorkflowSpec]],
    *,
    envelope: dict[str, Any],
    max_steps: int,
    guard: Guard | None = None,
    batch_size: int | None = None,
    checkpoints: Sequence[Checkpoint] | None = None,
) -> list[WakeOutcome]:
    """Resume each listener on its own wait key with ``envelope``, then let it run ``max_steps`` steps.

    The one delivery path of EMIT_EVENT (SPEC §4.11) and ``Scheduler.emit_event`` (§8.2).  Each
    listener is resumed at most once (the store's revision check refuses a second resume, reported as
    ``"conflict"``); one listener's failure never stops delivery to the others.  When the run store
    offers ``group_commit()``, the resumes commit in batches of ``batch_size`` (one transaction each)
    and the steps follow outside the batch (see :mod:`abstractruntime.core.effects.wake`).

    Args:
        kernel: resumes and ticks the listeners (its ``run_store`` is probed for ``group_commit``).
        listeners: ``(run as listed, its workflow)`` pairs, in delivery order.
        envelope: the value written at each listener's ``result_key`` (see :func:`event_envelope`).
        max_steps: steps each listener may take after its resume (0: left RUNNING for the host).
        guard: held around each listener's resume and steps (the scheduler's lease); see ``wake_runs``.
        batch_size: listeners per transaction when batching (default ``wake.WAKE_BATCH_SIZE``, 200).
        checkpoints: the listeners as listed with their revisions (:func:`find_listener_checkpoints`):
            each is resumed from that copy (``Runtime.resume_checkpoint``) instead of being loaded
            again; the run objects in ``listeners`` must be those of the checkpoints.

    Returns:
        One :class:`~abstractruntime.core.effects.wake.WakeOutcome` per listener, in order.
    """
    from .wake import WAKE_BATCH_SIZE, wake_runs

    specs = {run.run_id: spec for run, spec in listeners}
    resume_checkpoint = getattr(kernel, "resume_checkpoint", None)
    tick_checkpoint = getattr(kernel, "tick_checkpoint", None)
    listed = callable(resume_checkpoint) and callable(tick_checkpoint)
    known = {c.run.run_id: c for c in checkpoints or () if listed and c.revision != _UNKNOWN_REVISION}
    woken: dict[str, Checkpoint] = {}  # the working copy each resume left committed, for its steps

    def resume(run: RunState, steps: int) -> RunState:
        key = run.waiting.wait_key if run.waiting is not None else None
        spec = specs[run.run_id]
        checkpoint = known.pop(run.run_id, None)
        if checkpoint is None:
            return kernel.resume(
                workflow=spec, run_id=run.run_id, wait_key=key, payload=envelope, max_steps=steps
            )
        assert resume_checkpoint is not None  # listed with its revision: no reload
        state: RunState = resume_checkpoint(
            workflow=spec, checkpoint=checkpoint, wait_key=key, payload=envelope, max_steps=steps
        )
        woken[run.run_id] = checkpoint
        return state

    def tick(state: RunState, steps: int) -> RunState:
        spec = specs[state.run_id]
        checkpoint = woken.pop(state.run_id, None)
        if checkpoint is None or checkpoint.run is not state:
            return kernel.tick(workflow=spec, run_id=state.run_id, max_steps=steps)
        assert tick_checkpoint is not None  # go on from the copy the wake committed: no reload
        advanced: RunState = tick_checkpoint(workflow=spec, checkpoint=checkpoint, max_steps=steps)
        return advanced

    return wake_runs(
        [run for run, _spec in listeners],
        store=kernel.run_store,
        wake=resume,
        tick=tick,
        max_steps=max_steps,
        guard=guard,
        batch_size=WAKE_BATCH_SIZE if batch_size is None else batch_size,
    )
