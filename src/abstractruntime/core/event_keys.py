"""Wait keys for durable events (SPEC §4.11 "Wait keys").

A run waiting for an event waits on ``evt:{scope}:{scope_id}:{name}``; EMIT_EVENT computes the same key
and resumes every matching listener.  The scope decides what ``scope_id`` is:

=========  ==========================
scope      scope_id
=========  ==========================
session    the session id
workflow   the workflow id
run        the run id
global     the literal ``global``
=========  ==========================

A listener can also wait on the wildcard name ``*`` (:func:`wildcard_event_wait_key`), which matches
every event of its scope.
"""

from __future__ import annotations

from ..errors import InvalidEventKeyError

__all__ = [
    "DEFAULT_EVENT_SCOPE",
    "EVENT_SCOPES",
    "EVENT_WAIT_KEY_PREFIX",
    "WILDCARD_EVENT_NAME",
    "build_event_wait_key",
    "normalize_event_scope",
    "resolve_scope_id",
    "wildcard_event_wait_key",
]

EVENT_SCOPES: tuple[str, ...] = ("session", "workflow", "run", "global")
DEFAULT_EVENT_SCOPE = "session"
EVENT_WAIT_KEY_PREFIX = "evt"
WILDCARD_EVENT_NAME = "*"


def normalize_event_scope(scope: str | None) -> str:
    """Lower-case and strip ``scope``; None or blank gives ``"session"`` (SPEC §4.11).

    Args:
        scope: one of :data:`EVENT_SCOPES`, in any case and with surrounding whitespace.

    Returns:
        The normalised scope.

    Raises:
        InvalidEventKeyError (a ValueError): the scope is not one of :data:`EVENT_SCOPES`.
    """
    normalized = str(scope).strip().lower() if scope is not None else ""
    if not normalized:
        return DEFAULT_EVENT_SCOPE
    if normalized not in EVENT_SCOPES:
        raise InvalidEventKeyError(
            f"Unknown event scope {scope!r}; expected one of {', '.join(EVENT_SCOPES)}",
            scope=str(scope),
        )
    return normalized


def resolve_scope_id(
    *,
    scope: str | None,
    session_id: str | None = None,
    workflow_id: str | None = None,
    run_id: str | None = None,
) -> str:
    """The scope id of an event key: session → ``session_id``, workflow → ``workflow_id``,
    run → ``run_id``, global → ``"global"`` (SPEC §4.11).

    Args:
        scope: the event scope (normalised with :func:`normalize_event_scope`).
        session_id: used by the session scope.
        workflow_id: used by the workflow scope.
        run_id: used by the run scope.

    Returns:
        The stripped scope id.

    Raises:
        InvalidEventKeyError (a ValueError): unknown scope, or the id the scope needs is missing or blank.
    """
    normalized = normalize_event_scope(scope)
    if normalized == "global":
        return "global"
    candidates = {"session": session_id, "workflow": workflow_id, "run": run_id}
    value = candidates[normalized]
    scope_id = str(value).strip() if value is not None else ""
    if not scope_id:
        raise InvalidEventKeyError(
            f"Event scope '{normalized}' needs a non-empty {normalized}_id",
            scope=normalized,
        )
    return scope_id


def build_event_wait_key(
    *,
    scope: str | None = DEFAULT_EVENT_SCOPE,
    name: str,
    session_id: str | None = None,
    workflow_id: str | None = None,
    run_id: str | None = None,
) -> str:
    """The wait key ``evt:{scope}:{scope_id}:{name}`` of an event (SPEC §4.11).

    Args:
        scope: ``session`` (default), ``workflow``, ``run`` or ``global``; lower-cased and stripped.
        name: the event name; stripped, must not be blank (``"*"`` is the wildcard name).
        session_id: the scope id for the session scope.
        workflow_id: the scope id for the workflow scope.
        run_id: the scope id for the run scope.

    Returns:
        For example ``evt:session:s1:order.paid``.

    Raises:
        InvalidEventKeyError (a ValueError): blank name, unknown scope, or empty scope id.
    """
    event_name = str(name).strip() if name is not None else ""
    if not event_name:
        raise InvalidEventKeyError("Event name is required", scope=None if scope is None else str(scope))
    normalized = normalize_event_scope(scope)
    scope_id = resolve_scope_id(
        scope=normalized, session_id=session_id, workflow_id=workflow_id, run_id=run_id
    )
    return f"{EVENT_WAIT_KEY_PREFIX}:{normalized}:{scope_id}:{event_name}"


def wildcard_event_wait_key(*, scope: str | None, scope_id: str) -> str:
    """The key ``evt:{scope}:{scope_id}:*`` that matches every event of a scope (SPEC §4.11 step 3).

    Args:
        scope: the event scope (normalised with :func:`normalize_event_scope`).
        scope_id: the already-resolved scope id (see :func:`resolve_scope_id`); stripped.

    Returns:
        For example ``evt:session:s1:*``.

    Raises:
        InvalidEventKeyError (a ValueError): unknown scope or blank scope id.
    """
    normalized = normalize_event_scope(scope)
    resolved = str(scope_id).strip() if scope_id is not None else ""
    if not resolved:
        raise InvalidEventKeyError(f"Event scope '{normalized}' needs a non-empty scope id", scope=normalized)
    return f"{EVENT_WAIT_KEY_PREFIX}:{normalized}:{resolved}:{WILDCARD_EVENT_NAME}"
