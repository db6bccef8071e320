"""The PostgreSQL backend: runs, ledger, command inbox, leases and artifacts in one database (extra ``postgres``).

Typical use::

    from abstractruntime.storage.urls import open_stores
    stores = open_stores("postgresql://postgres@127.0.0.1:5432/test?schema=myapp")
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)

Every step is one transaction (``runs.py``); many worker processes can share the database
(``abstractruntime worker``, ``docs/scaling.md``).  Importing this package needs ``psycopg`` and
``psycopg_pool``; without them :class:`~abstractruntime.errors.MissingExtraError` names the extra.
"""

from __future__ import annotations

from .db import import_psycopg

import_psycopg()

from .artifacts import PostgresArtifactStore  # noqa: E402
from .commands import PostgresCommandCursorStore, PostgresCommandStore  # noqa: E402
from .db import PostgresDatabase  # noqa: E402
from .leases import PostgresLeaseStore  # noqa: E402
from .ledger import PostgresLedgerStore  # noqa: E402
from .runs import Fence, PostgresRunStore  # noqa: E402

__all__ = [
    "PostgresArtifactStore",
    "Fence",
    "PostgresCommandCursorStore",
    "PostgresCommandStore",
    "PostgresDatabase",
    "PostgresLeaseStore",
    "PostgresLedgerStore",
    "PostgresRunStore",
]
