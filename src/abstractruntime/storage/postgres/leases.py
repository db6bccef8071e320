"""``PostgresLeaseStore``: run leases in the ``run_leases`` table (the ``RunLeaseStore`` port).

Each operation is one transaction that locks the run's row (``FOR UPDATE``; a missing row is created
first so two acquirers of a fresh lease serialise on it), applies the shared lease rules and writes
the result: an acquire is a compare-and-set between processes and hosts.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from ..leases import LeaseRules, LeaseSlot, RunLease, lease_stamp
from ..sqlite_leases import _row_to_lease as lease_from_row  # the same six columns
from .db import PostgresDatabase

__all__ = ["PostgresLeaseStore", "lease_from_row"]

COLUMNS = "run_id, owner, expires_at, generation, recoveries, recovery_mark"


class PostgresLeaseStore(LeaseRules):
    """Run leases over a :class:`PostgresDatabase`."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    @property
    def db(self) -> PostgresDatabase:
        """The database this store writes to."""
        return self._db

    @contextmanager
    def _slot(self, run_id: str) -> Iterator[LeaseSlot]:
        with self._db.transaction() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM run_leases WHERE run_id = %s FOR UPDATE", (run_id,)
            ).fetchone()
            if row is None:  # serialise racing first acquires on one row
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (run_id,))
                row = conn.execute(
                    f"SELECT {COLUMNS} FROM run_leases WHERE run_id = %s FOR UPDATE", (run_id,)
                ).fetchone()

            def write(lease: RunLease | None) -> None:
                if lease is None:
                    conn.execute("DELETE FROM run_leases WHERE run_id = %s", (run_id,))
                    return
                conn.execute(
                    f"INSERT INTO run_leases ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, "
                    "generation = excluded.generation, recoveries = excluded.recoveries, "
                    "recovery_mark = excluded.recovery_mark",
                    (
                        lease.run_id,
                        lease.owner,
                        lease.expires_at,
                        lease.generation,
                        lease.recoveries,
                        lease.recovery_mark,
                    ),
                )

            yield LeaseSlot(None if row is None else lease_from_row(row), write)

    def get_lease(self, run_id: str) -> RunLease | None:
        """The row of ``run_id``, or None."""
        with self._db.connection() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM run_leases WHERE run_id = %s", (run_id,)).fetchone()
        return None if row is None else lease_from_row(row)

    def list_expired_leases(self, *, now: datetime, limit: int = 100) -> builtins.list[RunLease]:
        """Rows not live at ``now``, earliest expiry first (released rows first)."""
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM run_leases WHERE owner IS NULL OR expires_at IS NULL "
                "OR expires_at <= %s ORDER BY expires_at NULLS FIRST, run_id LIMIT %s",
                (lease_stamp(now), max(limit, 0)),
            ).fetchall()
        return [lease_from_row(row) for row in rows]
