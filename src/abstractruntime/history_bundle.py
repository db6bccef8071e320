"""Run history bundles: one JSON document with everything needed to inspect a run (SPEC §10.1).

:func:`export_run_history_bundle` gathers a run, its descendants' ledgers, a flat timeline and
(optionally) a summary of the other turns of its session into a plain, JSON-safe dict that a UI, a
support ticket or an archive can hold.  It is a pure export: it reads the stores, never changes the
run, and only writes to the artifact store when ``input_data`` holds values too large to inline.

:func:`persist_workflow_snapshot` pins the definition a run was started from (for example the
VisualFlow JSON) as an artifact and records its reference in ``vars._runtime.workflow_snapshot``, so
a bundle exported later says exactly which workflow produced the history.

Bundle layout (``version`` 1)::

    {
      "version": 1, "generated_at": iso, "root_run_id": id,
      "run": {run_id, workflow_id, status, current_node, created_at, updated_at, duration_ms,
              actor_id, session_id, parent_run_id, error, waiting},
      "workflow_snapshot": {workflow_id, format, sha256, artifact_id, created_at} | None,
      "input_data": {...},          # vars without "_"-prefixed keys (optionally only some keys),
                                    # large values as artifact refs
      "ledgers": {run_id: {run_id, total, cursor_start, cursor_end, items: [{cursor, record}]}},
      "timeline": [{run_id, cursor, node_id, status, effect_type, started_at, ended_at,
                    duration_ms}],
      "session": {session_id, turns: [...]} | None,
    }

Choices the specification leaves open, made here:

* ``run.duration_ms`` (and each session turn's) is ``updated_at - created_at`` in milliseconds (3
  decimals): the whole run once it is terminal, the time up to its last saved change before that;
  None when a stamp is missing or unparsable.
* ``input_data_keys`` (an addition to the SPEC signature) keeps only the named top-level vars in
  ``input_data``; ``"_"``-prefixed keys are never exported, even when named.  Names that the run does
  not have are ignored.
* cursors are 1-based positions in a run's full ledger; an empty ledger has ``cursor_start`` and
  ``cursor_end`` 0.  In ``tail`` mode ``cursor_start`` is ``total - len(items) + 1``.
* ``ledgers`` lists the root first, then descendants breadth-first (children in ``list_children``
  order, each run once).  A run store without ``list_children`` gives the root only.
* ``timeline`` covers the exported ledger items of every run, ordered by ``started_at`` (as instants;
  ties and unparsable stamps keep ledger order, root first); ``duration_ms`` is
  ``ended_at - started_at`` in milliseconds (3 decimals), None when either stamp is missing.
* ``session`` is None unless ``include_session`` is true and the run has a session id.  Turns are
  the session's root runs (internal ``__*__`` workflows excluded), oldest first, at most
  ``session_turn_limit`` (the newest ones).  ``abstractruntime._history_session`` documents how each
  turn summary is derived.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Collection, Mapping
from typing import Any

from ._history_ledgers import descendants, ledger_page, timeline
from ._history_session import run_duration_ms, session_turns
from .core.clock import utc_now_iso
from .core.jsonable import find_non_json_safe, to_jsonable
from .core.models import RunState, RunStatus, WaitState
from .errors import ConcurrencyError, InvalidRecordError, NotJsonSafeError, RunNotFoundError
from .storage.artifacts import ArtifactStore
from .storage.base import LedgerStore, RevisionedRunStore, RunStore
from .storage.offloading import default_max_inline_bytes, offload_large_values

__all__ = ["RUN_HISTORY_BUNDLE_VERSION_V1", "export_run_history_bundle", "persist_workflow_snapshot"]

_log = logging.getLogger("abstractruntime.history_bundle")

RUN_HISTORY_BUNDLE_VERSION_V1 = 1
"""The ``version`` of bundles produced by :func:`export_run_history_bundle`."""

LEDGER_MODES = ("tail", "full")
SNAPSHOT_COMMIT_ATTEMPTS = 5
"""How often :func:`persist_workflow_snapshot` retries a commit that lost a revision race."""


# =================================================================================================
# export
# =================================================================================================
def export_run_history_bundle(
    *,
    run_id: str,
    run_store: RunStore,
    ledger_store: LedgerStore,
    artifact_store: ArtifactStore | None = None,
    include_subruns: bool = True,
    include_session: bool = False,
    session_turn_limit: int = 200,
    ledger_mode: str = "tail",
    ledger_max_items: int = 2000,
    max_inline_bytes: int | None = None,
    input_data_keys: Collection[str] | None = None,
) -> dict[str, Any]:
    """Export the history of ``run_id`` as a JSON-safe bundle (layout in the module docstring).

    Args:
        run_id: the run to export (the bundle's ``root_run_id``).
        run_store: where the run and its descendants live (``list_children`` is used for
            descendants, ``list_run_index`` for session turns, when the store has them).
        ledger_store: where the ledgers live (``count``/``list_after`` are used for tails when
            present, ``metrics_many`` for turn stats).
        artifact_store: when given, large ``input_data`` values are offloaded to it (SPEC §7.8).
        include_subruns: also export the ledgers of every descendant run.
        include_session: add a summary of the session's turns.
        session_turn_limit: at most this many turns (the newest); ``<= 0`` gives none.
        ledger_mode: ``"tail"`` keeps the last ``ledger_max_items`` records of each ledger;
            ``"full"`` keeps all (so does ``ledger_max_items <= 0``).
        ledger_max_items: the tail length.
        max_inline_bytes: the offloading limit for ``input_data`` (an addition to the SPEC
            signature); None uses ``$ABSTRACTRUNTIME_MAX_INLINE_BYTES`` or 262144, ``<= 0`` disables.
        input_data_keys: when given, ``input_data`` holds only these top-level vars (an addition to
            the SPEC signature; ``"_"``-prefixed names are still left out, unknown names ignored, an
            empty collection gives ``{}``).  None exports every public var.

    Returns:
        The bundle dict (``version`` :data:`RUN_HISTORY_BUNDLE_VERSION_V1`).

    Raises:
        InvalidRecordError (ValueError): ``run_id`` is empty, ``ledger_mode`` is unknown, or
            ``input_data_keys`` is a bare string instead of a collection of names.
        RunNotFoundError (KeyError): no such run.
    """
    root_id = _require_run_id(run_id)
    mode = str(ledger_mode or "").strip().lower()
    if mode not in LEDGER_MODES:
        raise InvalidRecordError(f"ledger_mode must be one of {LEDGER_MODES}, got {ledger_mode!r}")
    if isinstance(input_data_keys, (str, bytes)):
        raise InvalidRecordError(
            f"input_data_keys must be a collection of var names, not a string: {input_data_keys!r}"
        )
    run = run_store.load(root_id)
    if run is None:
        raise RunNotFoundError(root_id)
    max_items = 0 if mode == "full" else int(ledger_max_items)
    run_ids = [root_id, *(descendants(run_store, root_id) if include_subruns else [])]
    ledgers = {rid: ledger_page(ledger_store, rid, max_items) for rid in run_ids}
    session = None
    if include_session and run.session_id:
        session = {
            "session_id": run.session_id,
            "turns": session_turns(run_store, ledger_store, run, session_turn_limit),
        }
    return {
        "version": RUN_HISTORY_BUNDLE_VERSION_V1,
        "generated_at": utc_now_iso(),
        "root_run_id": root_id,
        "run": _run_summary(run),
        "workflow_snapshot": _workflow_snapshot(run),
        "input_data": _input_data(run, artifact_store, max_inline_bytes, input_data_keys),
        "ledgers": ledgers,
        "timeline": timeline(ledgers),
        "session": session,
    }


def _require_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not run_id.strip():
        raise InvalidRecordError(f"run_id must be a non-empty string, got {run_id!r}")
    return run_id


def _run_summary(run: RunState) -> dict[str, Any]:
    waiting = run.waiting
    return {
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "status": RunStatus(run.status).value,
        "current_node": run.current_node,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "duration_ms": run_duration_ms(run),
        "actor_id": run.actor_id,
        "session_id": run.session_id,
        "parent_run_id": run.parent_run_id,
        "error": run.error,
        "waiting": to_jsonable(waiting.to_dict()) if isinstance(waiting, WaitState) else None,
    }


def _runtime_ns(run: RunState) -> Mapping[str, Any]:
    runtime_ns = run.vars.get("_runtime") if isinstance(run.vars, dict) else None
    return runtime_ns if isinstance(runtime_ns, dict) else {}


def _workflow_snapshot(run: RunState) -> dict[str, Any] | None:
    snapshot = _runtime_ns(run).get("workflow_snapshot")
    return copy.deepcopy(snapshot) if isinstance(snapshot, dict) else None


def _input_data(
    run: RunState,
    artifact_store: ArtifactStore | None,
    max_inline_bytes: int | None,
    keys: Collection[str] | None,
) -> dict[str, Any]:
    source = run.vars if isinstance(run.vars, dict) else {}
    wanted = None if keys is None else {str(k) for k in keys}
    data = to_jsonable(
        {
            k: v
            for k, v in source.items()
            if not (isinstance(k, str) and k.startswith("_")) and (wanted is None or k in wanted)
        }
    )
    if artifact_store is None:
        return dict(data)
    offloaded = offload_large_values(
        data,
        artifact_store=artifact_store,
        run_id=run.run_id,
        max_inline_bytes=default_max_inline_bytes() if max_inline_bytes is None else int(max_inline_bytes),
        base_tags={"source": "history_bundle_input"},
        root_path="input_data",
    )
    return dict(offloaded) if isinstance(offloaded, dict) else dict(data)


# =================================================================================================
# workflow snapshot
# =================================================================================================
def persist_workflow_snapshot(
    *,
    run_store: RunStore,
    artifact_store: ArtifactStore,
    run_id: str,
    workflow_id: str,
    snapshot: dict[str, Any],
    format: str,
    ledger_store: LedgerStore | None = None,
) -> dict[str, Any]:
    """Store the workflow definition of a run as an artifact and reference it from the run.

    Idempotent: when ``vars._runtime.workflow_snapshot`` already holds a reference, that reference
    is returned and nothing is written (the first snapshot of a run wins).

    Otherwise the snapshot is stored with ``store_json`` (tags ``kind=workflow_snapshot``,
    ``workflow_id``, ``format``, ``sha256`` — the sha256 of its canonical JSON: sorted keys, compact
    separators, ``ensure_ascii=False``) and the reference is written to the run:

    * with a revisioned run store (``load_checkpoint``/``commit``, SPEC-compatible stores bundled
      here) **and** a ``ledger_store``, through ``commit(run, [], ledger_store=...,
      expected_revision=...)``: a concurrent writer makes the commit fail, and it is retried from a
      fresh load (up to :data:`SNAPSHOT_COMMIT_ATTEMPTS` times) — nothing another writer committed
      is overwritten;
    * otherwise with ``run_store.save(run)`` (a plain SPEC §7.1 store, or no ledger store given):
      last writer wins, so call it before driving the run or from the run's only driver.

    ``updated_at`` is not changed: the reference is metadata, not progress.

    Args:
        run_store: the run store holding ``run_id``.
        artifact_store: where the snapshot JSON goes.
        run_id: the run.
        workflow_id: the id of the workflow the snapshot describes.
        snapshot: the definition, a JSON-safe dict (for example a VisualFlow document).
        format: a label for the snapshot's format, such as ``"visualflow_json"``.
        ledger_store: the runtime's ledger store; enables the revision-checked commit.

    Returns:
        ``{workflow_id, format, sha256, artifact_id, created_at}`` (a copy of what the run holds).

    Raises:
        InvalidRecordError (ValueError): ``run_id`` is empty.
        RunNotFoundError (KeyError): no such run.
        NotJsonSafeError (TypeError): ``snapshot`` is not a JSON-safe dict.
        ConcurrencyError: other writers kept winning the revision race after every retry.
    """
    rid = _require_run_id(run_id)
    if not isinstance(snapshot, dict):
        raise NotJsonSafeError(path="snapshot", type_name=type(snapshot).__name__, run_id=rid)
    problem = find_non_json_safe(snapshot, "snapshot")
    if problem is not None:
        raise NotJsonSafeError(path=problem[0], type_name=problem[1], run_id=rid)
    revisioned = isinstance(run_store, RevisionedRunStore) and ledger_store is not None
    for attempt in range(1, SNAPSHOT_COMMIT_ATTEMPTS + 1):
        run, revision = _load_for_update(run_store, rid, revisioned)
        existing = _workflow_snapshot(run)
        if existing is not None and existing.get("artifact_id"):
            return existing
        ref = _store_snapshot(artifact_store, rid, workflow_id, snapshot, format)
        runtime_ns = run.vars.get("_runtime")
        if not isinstance(runtime_ns, dict):
            runtime_ns = run.vars["_runtime"] = {}
        runtime_ns["workflow_snapshot"] = dict(ref)
        if not revisioned:
            run_store.save(run)
            return ref
        assert isinstance(run_store, RevisionedRunStore) and ledger_store is not None
        try:
            run_store.commit(run, [], ledger_store=ledger_store, expected_revision=revision)
        except ConcurrencyError:
            if attempt == SNAPSHOT_COMMIT_ATTEMPTS:
                raise
            _log.info("run %s changed while persisting its workflow snapshot; retrying", rid)
            continue
        return ref
    raise AssertionError("unreachable")  # pragma: no cover


def _load_for_update(run_store: RunStore, run_id: str, revisioned: bool) -> tuple[RunState, int | None]:
    if revisioned and isinstance(run_store, RevisionedRunStore):
        checkpoint = run_store.load_checkpoint(run_id)
        if checkpoint is None:
            raise RunNotFoundError(run_id)
        return checkpoint.run, checkpoint.revision
    run = run_store.load(run_id)
    if run is None:
        raise RunNotFoundError(run_id)
    return run, None


def _store_snapshot(
    artifact_store: ArtifactStore, run_id: str, workflow_id: str, snapshot: dict[str, Any], fmt: str
) -> dict[str, Any]:
    canonical = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    tags = {
        "kind": "workflow_snapshot",
        "workflow_id": str(workflow_id),
        "format": str(fmt),
        "sha256": digest,
    }
    meta = artifact_store.store_json(snapshot, run_id=run_id, tags=tags)
    return {
        "workflow_id": workflow_id,
        "format": fmt,
        "sha256": digest,
        "artifact_id": meta.artifact_id,
        "created_at": utc_now_iso(),
    }
