"""Memory scopes (SPEC §4.9 "Memory scopes"): which run owns the span index a memory effect uses.

* ``run``: the current run, or ``payload.target_run_id``.
* ``session``: the internal run ``session_memory_<sid>`` (``session_memory_sha_<sha256(sid)[:32]>``
  when the session id is not ``[A-Za-z0-9_-]+``).  A run without a session id (legacy) uses the id of
  the root of its run tree as ``sid``, so every run of one tree shares ``session_memory_<root_run_id>``.
  The root run itself is never written: it may be in the middle of a step (a sync subworkflow's
  parent), and a write into it would make that step's commit conflict.
* ``global``: the internal run ``global_memory``; the environment variable
  ``ABSTRACTRUNTIME_GLOBAL_MEMORY_RUN_ID`` overrides the id.

Internal owner runs are created on first write, COMPLETED, with workflow id ``__session_memory__`` or
``__global_memory__``.  Writes to any run other than the current one go through
:func:`~abstractruntime.core.effects.run_updates.update_run` (revisioned compare-and-set, retried).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..clock import to_iso
from ..models import RunState, RunStatus
from ..ports import RunStore
from .kernel import Kernel
from .run_updates import create_run_if_missing, update_run

__all__ = [
    "DEFAULT_GLOBAL_MEMORY_RUN_ID",
    "GLOBAL_MEMORY_RUN_ID_ENV",
    "GLOBAL_MEMORY_WORKFLOW_ID",
    "MemoryOwner",
    "SCOPES",
    "SESSION_MEMORY_WORKFLOW_ID",
    "apply_to_owner",
    "global_memory_run_id",
    "load_owner",
    "resolve_owner",
    "root_run_id",
    "session_memory_run_id",
]

T = TypeVar("T")

SESSION_MEMORY_WORKFLOW_ID = "__session_memory__"
GLOBAL_MEMORY_WORKFLOW_ID = "__global_memory__"
GLOBAL_MEMORY_RUN_ID_ENV = "ABSTRACTRUNTIME_GLOBAL_MEMORY_RUN_ID"
DEFAULT_GLOBAL_MEMORY_RUN_ID = "global_memory"
SCOPES = ("run", "session", "global")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_MAX_TREE_DEPTH = 1000


def session_memory_run_id(session_id: str) -> str:
    """``session_memory_<sid>``, or ``session_memory_sha_<sha256(sid)[:32]>`` for an unsafe session id."""
    if _SAFE_ID.match(session_id):
        return f"session_memory_{session_id}"
    digest = hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:32]
    return f"session_memory_sha_{digest}"


def global_memory_run_id() -> str:
    """``$ABSTRACTRUNTIME_GLOBAL_MEMORY_RUN_ID`` (stripped) when set and non-blank, else ``global_memory``."""
    override = os.environ.get(GLOBAL_MEMORY_RUN_ID_ENV, "").strip()
    return override or DEFAULT_GLOBAL_MEMORY_RUN_ID


def root_run_id(run: RunState, run_store: RunStore) -> str:
    """The id of the root of ``run``'s tree, following ``parent_run_id`` (a missing parent ends the walk)."""
    current = run
    seen = {run.run_id}
    for _ in range(_MAX_TREE_DEPTH):
        parent_id = current.parent_run_id
        if not parent_id or parent_id in seen:
            break
        parent = run_store.load(parent_id)
        if parent is None:
            break
        seen.add(parent_id)
        current = parent
    return current.run_id


@dataclass(frozen=True)
class MemoryOwner:
    """The run that owns a scope's span index.

    Attributes:
        scope: ``run``, ``session`` or ``global``.
        run_id: the owner run id.
        workflow_id: for internal owner runs (created on demand), their workflow id; None when the
            owner is an ordinary run that must already exist (the ``run`` scope).
        session_id: the session the owner run belongs to (session owners only; for a legacy run
            without a session, the root run id).
    """

    scope: str
    run_id: str
    workflow_id: str | None = None
    session_id: str | None = None


def resolve_owner(
    run: RunState, scope: str | None, run_store: RunStore, *, target_run_id: str | None = None
) -> MemoryOwner:
    """The owner of ``scope`` as seen from ``run`` (``scope`` None or blank means ``run``).

    Raises:
        ValueError: ``scope`` is not ``run``, ``session`` or ``global``.
    """
    name = (scope or "run").strip().lower() or "run"
    if name == "run":
        return MemoryOwner("run", str(target_run_id or run.run_id))
    if name == "session":
        sid = run.session_id or root_run_id(run, run_store)
        return MemoryOwner("session", session_memory_run_id(sid), SESSION_MEMORY_WORKFLOW_ID, sid)
    if name == "global":
        return MemoryOwner("global", global_memory_run_id(), GLOBAL_MEMORY_WORKFLOW_ID)
    raise ValueError(f"unknown memory scope {scope!r} (expected run, session or global)")


def _owner_run(owner: MemoryOwner, now: str) -> RunState:
    assert owner.workflow_id is not None
    return RunState(
        run_id=owner.run_id,
        workflow_id=owner.workflow_id,
        status=RunStatus.COMPLETED,
        current_node="memory",
        vars={"context": {"messages": []}, "_runtime": {"memory_spans": []}},
        created_at=now,
        updated_at=now,
        session_id=owner.session_id,
    )


def load_owner(kernel: Kernel, run: RunState, owner: MemoryOwner) -> RunState | None:
    """The owner run as stored (``run`` itself when it owns the scope), or None when it does not exist."""
    if owner.run_id == run.run_id:
        return run
    return kernel.run_store.load(owner.run_id)


def apply_to_owner(kernel: Kernel, run: RunState, owner: MemoryOwner, mutate: Callable[[RunState], T]) -> T:
    """Apply ``mutate`` (idempotent) to the owner run and store it; returns what ``mutate`` returned.

    The current run is changed in place (the engine commits it with the step); any other run is
    created when it is an internal owner run, then updated with a revisioned read-modify-write.

    Raises:
        RunNotFoundError (KeyError): the owner is an ordinary run that does not exist.
        ConcurrencyError: the owner kept changing under every retry.
    """
    if owner.run_id == run.run_id:
        return mutate(run)

    def now() -> str:
        return to_iso(kernel.now())

    if owner.workflow_id is not None:
        create_run_if_missing(kernel.run_store, kernel.ledger_store, _owner_run(owner, now()))
    return update_run(kernel.run_store, kernel.ledger_store, owner.run_id, mutate, now=now)
