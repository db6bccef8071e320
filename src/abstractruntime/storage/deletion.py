"""Deleting stored runs: the run, its ledger, its lease and trace rows (``runs delete``/``runs prune``).

:func:`delete_runs` removes a set of runs (a run and its child runs, as the caller collected them) from
the stores one URL opened (:class:`~abstractruntime.storage.urls.Stores`):

* SQLite: one transaction over every table keyed by ``run_id`` that exists in the database (``runs``,
  ``wait_index``, ``ledger``, ``ledger_heads`` of older schemas, ``run_leases``, ``run_trace_steps``), so a crash deletes
  all of them or none;
* JSON files: the run files first (the runs disappear from every listing), then the ledger and lease
  files; a crash in between leaves an orphaned ledger file that a new delete of the same id removes;
* memory: the dict entries, under the stores' locks.

Artifacts are deleted by the caller through ``ArtifactStore.delete_by_run`` (artifacts owned by the run;
content-addressed ones without a run id may be shared and are kept).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import CapabilityError

__all__ = ["RUN_TABLES", "delete_runs"]

RUN_TABLES = ("runs", "wait_index", "ledger", "ledger_heads", "run_leases", "run_trace_steps")
"""SQLite tables whose rows belong to one run (column ``run_id``)."""


def delete_runs(stores: Any, run_ids: Iterable[str]) -> int:
    """Delete ``run_ids`` with their ledgers, leases and trace rows; returns how many runs existed.

    Args:
        stores: the :class:`~abstractruntime.storage.urls.Stores` of a ``sqlite:``, ``file:`` or
            ``memory:`` URL.
        run_ids: the runs to delete together (one transaction on SQLite).

    Raises:
        CapabilityError (RuntimeError): stores of another kind (no delete support).
    """
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return 0
    database = getattr(stores, "database", None)
    if database is not None and hasattr(database, "transaction"):
        return _delete_sqlite(database, ids)
    run_store = stores.run_store
    if hasattr(run_store, "base_dir") and hasattr(run_store, "_path"):
        return _delete_files(stores, ids)
    if hasattr(run_store, "_runs") and hasattr(stores.ledger_store, "_records"):
        return _delete_memory(stores, ids)
    raise CapabilityError(f"deleting runs is not supported by {type(run_store).__name__}")


def _delete_sqlite(database: Any, ids: list[str]) -> int:
    marks = ",".join("?" for _ in ids)
    with database.transaction() as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        existed = int(conn.execute(f"SELECT COUNT(*) FROM runs WHERE run_id IN ({marks})", ids).fetchone()[0])
        for table in RUN_TABLES:
            if table in tables:
                conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", ids)
    return existed


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _delete_files(stores: Any, ids: list[str]) -> int:
    run_store = stores.run_store
    existed = sum(1 for run_id in ids if _unlink(run_store._path(run_id)))
    if getattr(run_store, "_children", None) is not None:
        run_store._children = None  # rebuilt on the next list_children
    for store in (stores.ledger_store, getattr(stores, "lease_store", None)):
        path_of = getattr(store, "_path", None)
        if callable(path_of):
            for run_id in ids:
                _unlink(path_of(run_id))
    return existed


def _delete_memory(stores: Any, ids: list[str]) -> int:
    runs, ledger = stores.run_store, stores.ledger_store
    existed = 0
    with runs._lock:
        for run_id in ids:
            state = runs._runs.pop(run_id, None)
            existed += state is not None
            getattr(runs, "_revisions", {}).pop(run_id, None)
            children = getattr(runs, "_children", {})
            children.pop(run_id, None)
            if state is not None and state.parent_run_id in children:
                children[state.parent_run_id].discard(run_id)
    with ledger._lock:
        for run_id in ids:
            ledger._records.pop(run_id, None)
        for index in (getattr(ledger, "_completed", {}), getattr(ledger, "_open", {})):
            for key in [k for k in index if k[0] in ids]:
                del index[key]
    leases = getattr(stores, "lease_store", None)
    rows = getattr(leases, "_rows", None)
    if isinstance(rows, dict):
        for run_id in ids:
            rows.pop(run_id, None)
    return existed
