"""The SQLite backend (SPEC §7.4): one database file for runs, ledger and commands.

Standard library only (``sqlite3``).  Typical use::

    db = SqliteDatabase("./runs.db")
    runtime = Runtime(run_store=SqliteRunStore(db), ledger_store=SqliteLedgerStore(db))

With both stores on the same database, every step is one transaction (see ``sqlite_runs.py``).
"""

from __future__ import annotations

from .sqlite_commands import SqliteCommandCursorStore, SqliteCommandStore
from .sqlite_db import SqliteDatabase
from .sqlite_ledger import SqliteLedgerStore
from .sqlite_runs import SqliteRunStore

__all__ = [
    "SqliteCommandCursorStore",
    "SqliteCommandStore",
    "SqliteDatabase",
    "SqliteLedgerStore",
    "SqliteRunStore",
]
