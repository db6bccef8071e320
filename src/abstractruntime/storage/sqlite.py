"""The SQLite backend (SPEC §7.4): one database file for runs, ledger and commands.

Standard library only (``sqlite3``).  Typical use::

    db = SqliteDatabase("./runs.db")
    runtime = Runtime(run_store=SqliteRunStore(db), ledger_store=SqliteLedgerStore(db))

With both stores on the same database, every step is one transaction (see ``sqlite_runs.py``).
``SqliteLeaseStore(db)`` keeps run leases in the same file (``sqlite_leases.py``).
"""

from __future__ import annotations

from .sqlite_commands import SqliteCommandCursorStore, SqliteCommandStore
from .sqlite_db import SqliteDatabase
from .sqlite_leases import SqliteLeaseStore
from .sqlite_ledger import SqliteLedgerStore
from .sqlite_runs import SqliteRunStore

__all__ = [
    "SqliteCommandCursorStore",
    "SqliteCommandStore",
    "SqliteDatabase",
    "SqliteLeaseStore",
    "SqliteLedgerStore",
    "SqliteRunStore",
]
