"""A small durable knowledge-graph store: :class:`SqliteTripleStore` (stdlib only, SPEC §11.7).

It implements the TripleStore contract the MEMORY_KG bridge needs (``add`` and ``query``) over one SQLite
table, so a host without AbstractMemory (the CLI) can run flows with ``memory_kg_*`` nodes durably.

An assertion is a dict ``{subject, predicate, object, observed_at?, valid_from?, valid_until?, confidence?,
attributes?, provenance?, scope?, span_id?}``; ``subject``/``predicate`` are non-blank strings and
``object`` any JSON value (a non-string is kept as its compact JSON text).  Each stored row is owned by an
``owner_id`` (the run id of a memory scope, see :func:`~.handlers.resolve_scope_owner_id`).

Identity and dedupe: an assertion's id is ``kg_<sha256(owner, subject, predicate, object)[:24]>``; with
``dedupe`` (the default) adding the same fact again keeps the first row and returns its id, so re-running
an assert effect after a crash never duplicates facts.  Without ``dedupe`` the observation time is part of
the identity (one row per distinct ``observed_at``).

Query scoring: with a ``query_text``, an item's score is the share of the query's words (lower-cased
runs of letters/digits) found among the words of its subject, predicate and object; items scoring 0 or
below ``min_score`` are dropped.  Results are ordered by score, then ``observed_at`` (newest first unless
``order="asc"``), then insertion order.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import InvalidRecordError

__all__ = ["SqliteTripleStore", "assertion_text", "words"]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kg_assertions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    assertion_id TEXT NOT NULL UNIQUE,
    owner_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    predicate TEXT NOT NULL,
    object TEXT NOT NULL,
    observed_at TEXT NOT NULL,
    valid_from TEXT,
    valid_until TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kg_owner_subject ON kg_assertions (owner_id, subject);
CREATE INDEX IF NOT EXISTS kg_owner_predicate ON kg_assertions (owner_id, predicate);
"""


def words(text: str) -> set[str]:
    """The lower-cased words (runs of letters and digits) of ``text``."""
    return set(_WORD.findall(text.lower()))


def assertion_text(item: Mapping[str, Any]) -> str:
    """``"<subject> <predicate> <object>"`` of a stored assertion."""
    return f"{item.get('subject', '')} {item.get('predicate', '')} {item.get('object', '')}"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _optional_iso(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


class SqliteTripleStore:
    """Assertions in one SQLite table; safe to share between threads of one process.

    Args:
        path: the database file (created with its parent directory), or ``":memory:"`` (the default) for
            a store that lives as long as this object.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        target = str(path)
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self.path = target
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout = 5000")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database connection (the store is unusable afterwards)."""
        with self._lock:
            self._conn.close()

    def add(
        self, assertions: Sequence[Mapping[str, Any]], *, owner_id: str, observed_at: str, dedupe: bool = True
    ) -> list[str]:
        """Store ``assertions`` for ``owner_id`` in one transaction; returns their ids in input order.

        Args:
            assertions: assertion dicts (see the module docstring).
            owner_id: the owning run id (non-blank).
            observed_at: ISO time used for items without their own ``observed_at``.
            dedupe: keep the first row of an already stored fact (True) instead of adding another
                observation of it.

        Raises:
            InvalidRecordError: a blank ``owner_id``, or an item without a subject, predicate or object
                (nothing is stored then).
        """
        if not isinstance(owner_id, str) or not owner_id.strip():
            raise InvalidRecordError("a KG assertion needs a non-blank owner_id")
        rows = [
            self._row(item, owner_id, observed_at, dedupe, index) for index, item in enumerate(assertions)
        ]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR IGNORE INTO kg_assertions (assertion_id, owner_id, subject, predicate, object, "
                    "observed_at, valid_from, valid_until, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return [str(row[0]) for row in rows]

    @staticmethod
    def _row(
        item: Mapping[str, Any], owner_id: str, observed_at: str, dedupe: bool, index: int
    ) -> tuple[Any, ...]:
        if not isinstance(item, Mapping):
            raise InvalidRecordError(f"KG assertion #{index + 1} is not an object")
        subject, predicate, obj = (_text(item.get(k)) for k in ("subject", "predicate", "object"))
        if not subject or not predicate or not obj:
            raise InvalidRecordError(f"KG assertion #{index + 1} needs a subject, a predicate and an object")
        seen = _optional_iso(item, "observed_at") or observed_at
        identity = [owner_id, subject, predicate, obj] + ([] if dedupe else [seen])
        digest = hashlib.sha256(json.dumps(identity).encode("utf-8")).hexdigest()[:24]
        assertion_id = f"kg_{digest}"
        data = {k: v for k, v in item.items() if k not in ("subject", "predicate", "object")}
        data.update(
            assertion_id=assertion_id,
            subject=subject,
            predicate=predicate,
            object=obj,
            observed_at=seen,
            owner_id=owner_id,
        )
        encoded = json.dumps(data, sort_keys=True, default=str)
        valid_from, valid_until = _optional_iso(item, "valid_from"), _optional_iso(item, "valid_until")
        return (assertion_id, owner_id, subject, predicate, obj, seen, valid_from, valid_until, encoded)

    def query(
        self,
        *,
        owner_ids: Iterable[str],
        subject: str | None = None,
        predicate: str | None = None,
        object: str | None = None,
        since: str | None = None,
        until: str | None = None,
        active_at: str | None = None,
        query_text: str | None = None,
        min_score: float | None = None,
        limit: int | None = None,
        order: str = "desc",
    ) -> list[dict[str, Any]]:
        """The stored assertions of ``owner_ids`` that match every given filter, best first.

        ``subject``/``predicate``/``object`` match exactly (case-insensitively); ``since``/``until`` bound
        ``observed_at`` (inclusive, ISO strings compared as text); ``active_at`` keeps items valid at that
        time (``valid_from <= t < valid_until``, open ends allowed).  Each item is the stored assertion
        plus ``score`` (1.0 without a ``query_text``).  ``limit`` (None or <= 0: no limit) caps the list.
        """
        owners = [o for o in owner_ids if isinstance(o, str) and o]
        if not owners:
            return []
        clauses = [f"owner_id IN ({','.join('?' for _ in owners)})"]
        params: list[Any] = list(owners)
        for column, value in (("subject", subject), ("predicate", predicate), ("object", object)):
            if isinstance(value, str) and value.strip():
                clauses.append(f"lower({column}) = lower(?)")
                params.append(value.strip())
        for clause, value in (("observed_at >= ?", since), ("observed_at <= ?", until)):
            if isinstance(value, str) and value.strip():
                clauses.append(clause)
                params.append(value.strip())
        if isinstance(active_at, str) and active_at.strip():
            clauses.append(
                "(valid_from IS NULL OR valid_from <= ?) AND (valid_until IS NULL OR valid_until > ?)"
            )
            params += [active_at.strip(), active_at.strip()]
        sql = f"SELECT seq, data FROM kg_assertions WHERE {' AND '.join(clauses)} ORDER BY seq"
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return _rank(
            [(int(seq), json.loads(data)) for seq, data in rows], query_text, min_score, limit, order
        )


def _rank(
    rows: list[tuple[int, dict[str, Any]]],
    query_text: str | None,
    min_score: float | None,
    limit: int | None,
    order: str,
) -> list[dict[str, Any]]:
    wanted = words(query_text) if isinstance(query_text, str) else set()
    floor = (
        float(min_score) if isinstance(min_score, (int, float)) and not isinstance(min_score, bool) else 0.0
    )
    scored: list[tuple[float, str, int, dict[str, Any]]] = []
    for seq, item in rows:
        score = 1.0
        if wanted:
            score = round(len(wanted & words(assertion_text(item))) / len(wanted), 4)
            if score <= 0 or score < floor:
                continue
        scored.append((score, str(item.get("observed_at") or ""), seq, {**item, "score": score}))
    newest_first = str(order or "desc").strip().lower() != "asc"
    scored.sort(key=lambda s: s[2], reverse=newest_first)
    scored.sort(key=lambda s: s[1], reverse=newest_first)
    scored.sort(key=lambda s: s[0], reverse=True)
    items = [s[3] for s in scored]
    return items[:limit] if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else items
