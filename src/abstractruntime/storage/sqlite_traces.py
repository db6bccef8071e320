"""Node traces of SQLite runs in their own rows (schema version 4; SPEC §5.3, §7.4).

A run's ``vars._runtime.node_traces`` grows by one entry per step (capped per node), so storing it
inside the run row made every step rewrite it whole.  Here each trace entry is one row of
``run_trace_steps (run_id, node_id, seq, entry_json)``; the run row keeps the traced node ids, in order,
under the extra stored key ``node_trace_nodes``, and under ``node_trace_heads`` the *head* (the trace
dict without ``steps``) of each trace whose head is not the engine's usual ``{"node_id", "updated_at":
<last entry's ts>}`` (rebuilt on load; since v5 — v4 rows hold every head and no node list).  A step
commit then inserts the entries appended since the last write and deletes the ones trimmed off the front.

What changed is found by object identity: :class:`TraceCache` remembers, per run and revision, the
entry objects last written or loaded.  The engine only appends entries and trims old ones, so the
entries still in a trace are the same objects; anything else (a trace replaced, reordered, or an
unknown revision) rewrites that node's rows or all of the run's.  An entry edited *in place* after it
was stored is not noticed — trace entries are append-only data (SPEC §5.3).

A run whose traces do not have the usual shape (``node_traces`` not a dict of dicts with a ``steps``
list) is stored whole in its row, as before version 4; so are rows written by earlier versions until
their next write.
"""

from __future__ import annotations

import operator
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from .codec import decode_json, encode_json

__all__ = ["HEADS_KEY", "NODES_KEY", "TraceCache", "TraceWrite", "attach_traces", "split_traces"]

HEADS_KEY = "node_trace_heads"
NODES_KEY = "node_trace_nodes"

_INSERT = "INSERT INTO run_trace_steps (run_id, node_id, seq, entry_json) VALUES (?, ?, ?, ?)"
_TRIM = "DELETE FROM run_trace_steps WHERE run_id = ? AND node_id = ? AND seq < ?"
_DROP_NODE = "DELETE FROM run_trace_steps WHERE run_id = ? AND node_id = ?"
_DROP_RUN = "DELETE FROM run_trace_steps WHERE run_id = ?"
_SELECT = "SELECT node_id, seq, entry_json FROM run_trace_steps WHERE run_id = ? ORDER BY node_id, seq"


@dataclass
class _NodeRows:
    """The entries of one node as stored: ``entries[i]`` is row ``first_seq + i``."""

    entries: list[Any]
    first_seq: int

    @property
    def next_seq(self) -> int:
        return self.first_seq + len(self.entries)


@dataclass
class _RunRows:
    revision: int
    epoch: int
    nodes: dict[str, _NodeRows] = field(default_factory=dict)
    size: int = 0  # trace entries held (set from ``nodes``)

    def __post_init__(self) -> None:
        self.size = sum(len(rows.entries) for rows in self.nodes.values())


def split_traces(data: dict[str, Any]) -> dict[str, list[Any]] | None:
    """Move the trace steps out of ``data`` (a run's ``to_dict()``), in place on shallow copies.

    Returns ``{node_id: steps}`` and leaves ``data["vars"]`` without ``_runtime.node_traces`` and
    ``data[HEADS_KEY]`` with the trace heads; returns None (``data`` untouched) when the traces do not
    have the usual shape, so the run is stored whole.
    """
    variables = data.get("vars")
    runtime_ns = variables.get("_runtime") if isinstance(variables, dict) else None
    traces = runtime_ns.get("node_traces") if isinstance(runtime_ns, dict) else None
    if not isinstance(traces, dict):
        return None
    assert isinstance(variables, dict) and isinstance(runtime_ns, dict)
    steps: dict[str, list[Any]] = {}
    heads: dict[str, Any] = {}
    for node_id, trace in traces.items():
        entries = trace.get("steps") if isinstance(trace, dict) else None
        if not isinstance(entries, list):
            return None  # an unusual shape: the run is stored whole
        steps[node_id] = entries
        if not _derivable(node_id, trace, entries):
            head = heads[node_id] = dict(trace)
            del head["steps"]
    data[NODES_KEY] = list(steps)
    data[HEADS_KEY] = heads
    rest = dict(runtime_ns)
    del rest["node_traces"]
    data["vars"] = {**variables, "_runtime": rest}
    return steps


def _derivable(node_id: str, trace: dict[str, Any], entries: list[Any]) -> bool:
    """True when the trace's head is what the engine writes — ``{"node_id": <its id>, "updated_at":
    <the last entry's ts>}`` — so it need not be stored: :func:`attach_traces` rebuilds it."""
    if len(trace) != 3 or not entries or trace.get("node_id") != node_id:
        return False
    last = entries[-1]
    return isinstance(last, dict) and "updated_at" in trace and trace["updated_at"] == last.get("ts")


def attach_traces(
    data: dict[str, Any], conn: sqlite3.Connection, run_id: str, *, location: str
) -> dict[str, _NodeRows] | None:
    """Undo :func:`split_traces` on decoded row ``data``: read the run's trace rows back into
    ``vars._runtime.node_traces``.  Returns the rows per node (for the cache), or None when the row was
    stored whole.

    Raises:
        CorruptRunError: a trace row is not valid JSON, or the row's heads are not an object.
    """
    heads = data.pop(HEADS_KEY, None)
    order = data.pop(NODES_KEY, None)  # schema v5 rows: every node, in order (v4 rows: heads only)
    if heads is None:
        return None
    variables = data.get("vars")
    if order is None:
        order = list(heads) if isinstance(heads, dict) else None
    if (
        not isinstance(heads, dict)
        or not isinstance(variables, dict)
        or not isinstance(order, list)
        or not all(isinstance(node_id, str) for node_id in order)
    ):
        from ..errors import CorruptRunError

        raise CorruptRunError(f"malformed node trace heads at {location}", run_id=run_id, location=location)
    nodes: dict[str, _NodeRows] = {node_id: _NodeRows([], 1) for node_id in order}
    for node_id, seq, text in conn.execute(_SELECT, (run_id,)):
        rows = nodes.get(node_id)
        if rows is None:
            continue  # rows of a node the run no longer has are never left behind; ignore stray ones
        if not rows.entries:
            rows.first_seq = int(seq)
        rows.entries.append(decode_json(text, run_id=run_id, location=f"{location}/trace/{node_id}/{seq}"))
    traces: dict[str, Any] = {}
    for node_id in order:
        entries = nodes[node_id].entries
        head = heads.get(node_id)
        if head is None:  # derivable (see _derivable); an empty trace always has its head stored
            last = entries[-1] if entries else {}
            head = {"node_id": node_id, "updated_at": last.get("ts") if isinstance(last, dict) else None}
        traces[node_id] = {**head, "steps": list(entries)}
    runtime_ns = variables.setdefault("_runtime", {})
    runtime_ns["node_traces"] = traces
    return nodes


class TraceCache:
    """What each recently written or loaded run's trace rows hold, keyed by run id (an LRU).

    An entry is valid for one revision and one database *epoch* (bumped when a transaction that may
    have written entries rolls back), so a stale entry only costs a full rewrite, never a wrong one.
    The cache keeps at most ``runs`` runs and at most ``entries`` trace entries in all (it holds
    references to them): many runs with short traces (a wave of event listeners) all fit, a few runs
    with long traces do not crowd memory.
    """

    def __init__(self, runs: int = 4096, entries: int = 20_000) -> None:
        self._max_runs = runs
        self._max_entries = entries
        self._entries = 0
        self._runs: OrderedDict[str, _RunRows] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, run_id: str, revision: int, epoch: int, nodes: dict[str, _NodeRows] | None) -> None:
        """Record that ``run_id`` at ``revision`` holds ``nodes`` (None: stored whole, no rows)."""
        rows = _RunRows(revision, epoch, dict(nodes or {}))
        with self._lock:
            old = self._runs.pop(run_id, None)
            if old is not None:
                self._entries -= old.size
            self._runs[run_id] = rows
            self._entries += rows.size
            while self._runs and (len(self._runs) > self._max_runs or self._entries > self._max_entries):
                _run_id, evicted = self._runs.popitem(last=False)
                self._entries -= evicted.size

    def forget(self, run_id: str) -> None:
        """Drop what is known about ``run_id``."""
        with self._lock:
            old = self._runs.pop(run_id, None)
            if old is not None:
                self._entries -= old.size

    def get(self, run_id: str, revision: int | None, epoch: int) -> _RunRows | None:
        """The cached rows of ``run_id`` when they are those of ``revision`` in ``epoch``."""
        with self._lock:
            found = self._runs.get(run_id)
        if found is None or revision is None or found.revision != revision or found.epoch != epoch:
            return None
        return found


class TraceWrite:
    """Write a run's trace steps, inserting and deleting only what differs from ``known`` rows."""

    def __init__(self, conn: sqlite3.Connection, run_id: str) -> None:
        self._conn = conn
        self._run_id = run_id
        self._inserts: list[tuple[str, str, int, str]] = []

    def write(self, steps: dict[str, list[Any]] | None, known: _RunRows | None) -> dict[str, _NodeRows]:
        """Bring the rows to ``steps`` (None: the run is stored whole, so no rows); returns the new rows.

        Raises:
            NotJsonSafeError: an entry cannot be encoded (the caller's transaction rolls back).
        """
        run_id = self._run_id
        if known is None:
            self._conn.execute(_DROP_RUN, (run_id,))
            nodes: dict[str, _NodeRows] = {}
        else:
            nodes = dict(known.nodes)
        result: dict[str, _NodeRows] = {}
        same = operator.is_
        for node_id, new in (steps or {}).items():
            old = nodes.pop(node_id, None)
            if (
                old is not None
                and old.entries
                and len(new) == len(old.entries)
                and all(map(same, new, old.entries))
            ):
                result[node_id] = old  # a node that did not run this step: nothing to write or copy
            else:
                result[node_id] = self._node(node_id, new, old)
        for node_id in nodes:  # nodes whose trace is gone
            self._conn.execute(_DROP_NODE, (run_id, node_id))
        if self._inserts:
            self._conn.executemany(_INSERT, self._inserts)
        return result

    def _node(self, node_id: str, new: list[Any], old: _NodeRows | None) -> _NodeRows:
        if old is not None and old.entries:
            kept = _kept_prefix(old.entries, new)
            if kept is not None:
                start, count = kept
                if start:
                    self._conn.execute(_TRIM, (self._run_id, node_id, old.first_seq + start))
                self._add(node_id, new[count:], old.next_seq)
                return _NodeRows(list(new), old.first_seq + start)
            self._conn.execute(_DROP_NODE, (self._run_id, node_id))
        self._add(node_id, new, 1)
        return _NodeRows(list(new), 1)

    def _add(self, node_id: str, entries: list[Any], first_seq: int) -> None:
        for offset, entry in enumerate(entries):
            text = encode_json(entry, path=f"vars._runtime.node_traces.{node_id}", run_id=self._run_id)
            self._inserts.append((self._run_id, node_id, first_seq + offset, text))


def _kept_prefix(old: list[Any], new: list[Any]) -> tuple[int, int] | None:
    """``(start, count)`` when ``new`` begins with ``old[start:]`` (``count`` entries, same objects),
    i.e. ``start`` entries were trimmed and the rest of ``new`` was appended; else None."""
    if not new:
        return None
    first = new[0]
    for start, entry in enumerate(old):
        if entry is first:
            count = len(old) - start
            if count > len(new):
                return None
            for i in range(1, count):
                if new[i] is not old[start + i]:
                    return None
            return start, count
    return None
