"""``SqliteLeaseStore``: run leases in the ``run_leases`` table (schema version 2; see ``leases.py``).

Each operation is one ``BEGIN IMMEDIATE`` transaction (read the row, apply the lease rule, write it),
so an acquire is a compare-and-set between threads and processes sharing the database file.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from .leases import LeaseRules, LeaseSlot, RunLease, lease_stamp
from .sqlite_db import SqliteDatabase

__all__ = ["SqliteLeaseStore"]

_COLUMNS = "run_id, owner, expires_at, generation, recoveries, recovery_mark"


def _row_to_lease(row: sqlite3.Row | tuple[object, ...]) -> RunLease:
    run_id, owner, expires_at, generation, recoveries, mark = tuple(row)
    return RunLease(
        run_id=str(run_id),
        owner=None if owner is None else str(owner),
        expires_at=None if expires_at is None else str(expires_at),
        generation=int(generation),
        recoveries=int(recoveries),
        recovery_mark=None if mark is None else str(mark),
    )


class SqliteLeaseStore(LeaseRules):
    """Run leases over a :class:`SqliteDatabase` (a ``RunLeaseStore``)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    @property
    def db(self) -> SqliteDatabase:
        """The database this store writes to."""
        return self._db

    @staticmethod
    def _get(conn: sqlite3.Connection, run_id: str) -> RunLease | None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM run_leases WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _row_to_lease(row)

    @staticmethod
    def _put(conn: sqlite3.Connection, lease: RunLease) -> None:
        conn.execute(
            f"INSERT OR REPLACE INTO run_leases ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                lease.run_id,
                lease.owner,
                lease.expires_at,
                lease.generation,
                lease.recoveries,
                lease.recovery_mark,
            ),
        )

    @contextmanager
    def _slot(self, run_id: str) -> Iterator[LeaseSlot]:
        with self._db.transaction() as conn:

            def write(lease: RunLease | None) -> None:
                if lease is None:
                    conn.execute("DELETE FROM run_leases WHERE run_id = ?", (run_id,))
                else:
                    self._put(conn, lease)

            yield LeaseSlot(self._get(conn, run_id), write)

    def get_lease(self, run_id: str) -> RunLease | None:
        """The row of ``run_id``, or None."""
        return self._get(self._db.connection(), run_id)

    def list_expired_leases(self, *, now: datetime, limit: int = 100) -> builtins.list[RunLease]:
        """Rows not live at ``now``, earliest expiry first (released rows first)."""
        rows = self._db.connection().execute(
            f"SELECT {_COLUMNS} FROM run_leases WHERE owner IS NULL OR expires_at IS NULL "
            "OR expires_at <= ? ORDER BY expires_at, run_id LIMIT ?",
            (lease_stamp(now), max(limit, 0)),
        )
        return [_row_to_lease(row) for row in rows]
