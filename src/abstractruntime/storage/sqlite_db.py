"""``SqliteDatabase``: one SQLite file shared by the run, ledger and command stores (SPEC §7.4).

* One connection per thread (and per process: a forked child opens its own), in autocommit mode;
  :meth:`SqliteDatabase.transaction` runs ``BEGIN IMMEDIATE … COMMIT`` and *joins* a transaction
  already open on the thread.  That is how a run store's step commit and the ledger appends made inside
  it — through any ledger decorators — become one atomic transaction.
* ``journal_mode=WAL``; ``synchronous=FULL`` by default, so a committed step survives power loss.
  ``synchronous="NORMAL"`` is faster and still survives a crash of the process (not of the machine).
* Versioned schema migrations tracked in ``PRAGMA user_version`` (see ``sqlite_schema.py``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .sqlite_schema import migrate

__all__ = ["SqliteDatabase"]

_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class _ThreadState(threading.local):
    conn: sqlite3.Connection | None = None
    pid: int = 0
    depth: int = 0


class SqliteDatabase:
    """A SQLite database file with per-thread connections and nestable transactions.

    Args:
        path: the database file (parent directories are created). ``":memory:"`` is refused: each
            thread would get a different empty database; use the in-memory stores instead.
        synchronous: ``"FULL"`` (default, durable across power loss) or ``"NORMAL"`` (durable across
            process crashes), ``"EXTRA"`` or ``"OFF"``.
        busy_timeout_ms: how long a writer waits for another writer's lock, in milliseconds.

    Raises:
        ValueError: an in-memory path or an unknown ``synchronous`` mode.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, synchronous: str = "FULL", busy_timeout_ms: int = 5000
    ) -> None:
        text = os.fspath(path)
        if text == ":memory:" or text.startswith("file::memory:"):
            raise ValueError(
                "SqliteDatabase needs a file path; use InMemoryRunStore/InMemoryLedgerStore for memory"
            )
        mode = synchronous.upper()
        if mode not in _SYNC_MODES:
            raise ValueError(f"synchronous must be one of {_SYNC_MODES}, got {synchronous!r}")
        self._path = Path(text).expanduser().resolve()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = mode
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._local = _ThreadState()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        with self.transaction() as conn:
            migrate(conn)

    @property
    def path(self) -> Path:
        """The absolute path of the database file."""
        return self._path

    @property
    def synchronous(self) -> str:
        """The ``PRAGMA synchronous`` mode of every connection."""
        return self._synchronous

    def connection(self) -> sqlite3.Connection:
        """The calling thread's connection (opened on first use, ``row_factory=sqlite3.Row``)."""
        state = self._local
        if state.conn is None or state.pid != os.getpid():
            state.conn = self._open()
            state.pid = os.getpid()
            state.depth = 0
        return state.conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self._path), timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on the thread's connection (``ROLLBACK`` on error).

        Nested use joins the outer transaction: only the outermost block commits.
        """
        conn = self.connection()
        state = self._local
        if state.depth > 0:
            state.depth += 1
            try:
                yield conn
            finally:
                state.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        state.depth = 1
        try:
            yield conn
        except BaseException:
            state.depth = 0
            conn.execute("ROLLBACK")
            raise
        state.depth = 0
        conn.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        """True while the calling thread is inside :meth:`transaction`."""
        return self._local.depth > 0 and self._local.pid == os.getpid()

    def close(self) -> None:
        """Close every connection this object opened (in this process)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                continue
        self._local = _ThreadState()

    def __repr__(self) -> str:
        return f"SqliteDatabase({str(self._path)!r}, synchronous={self._synchronous!r})"
