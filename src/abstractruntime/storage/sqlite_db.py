"""``SqliteDatabase``: one SQLite file shared by the run, ledger and command stores (SPEC §7.4).

* One connection per thread (and per process: a forked child opens its own), in autocommit mode;
  :meth:`SqliteDatabase.transaction` runs ``BEGIN IMMEDIATE … COMMIT`` and *joins* a transaction
  already open on the thread.  That is how a run store's step commit and the ledger appends made inside
  it — through any ledger decorators — become one atomic transaction.
* ``journal_mode=WAL``; ``synchronous=FULL`` by default, so a committed step survives power loss.
  ``synchronous="NORMAL"`` is faster and still survives a crash of the process (not of the machine).
* Versioned schema migrations tracked in ``PRAGMA user_version`` (see ``sqlite_schema.py``).
* Group commit: :meth:`SqliteDatabase.group_commit` keeps one write transaction open on the thread
  across many operations (typically one step of each of many runs); inside it every nested
  :meth:`~SqliteDatabase.transaction` is a ``SAVEPOINT``, so a failing operation (a revision conflict)
  rolls back only its own writes.  A ledger append of a STARTED intent made directly in the group
  flushes it (``COMMIT`` + ``BEGIN IMMEDIATE``) as soon as it is written, so an effect's durable intent
  is on disk before its handler runs.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType

from .sqlite_schema import migrate

__all__ = ["SqliteDatabase"]

_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


_PID = [os.getpid()]  # this process's id, refreshed in a forked child (os.getpid is a syscall)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


class _ThreadState(threading.local):
    conn: sqlite3.Connection | None = None
    pid: int = 0
    depth: int = 0
    group: bool = False  # the outermost transaction is a group_commit scope
    intent: bool = False  # a STARTED intent was written in the group and is not flushed yet


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
        self._epoch = 0
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
        if state.conn is None or state.pid != _PID[0]:
            state.conn = self._open()
            state.pid = _PID[0]
            state.depth = 0
            state.group = state.intent = False
        return state.conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(self._path), timeout=30, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._connections.append(conn)
        return conn

    @property
    def epoch(self) -> int:
        """A counter bumped whenever a transaction or savepoint rolls back (caches of what was written
        compare it to know they may be stale)."""
        return self._epoch

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on the thread's connection (``ROLLBACK`` on error).

        Nested use joins the outer transaction: only the outermost block commits.  Directly inside a
        :meth:`group_commit` scope a block is a ``SAVEPOINT``, undone alone when it raises (blocks
        nested in it join it).
        """
        return _Transaction(self)

    def _commit(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("COMMIT")
        except BaseException:
            self._rollback(conn)
            raise

    def _rollback(self, conn: sqlite3.Connection) -> None:
        self._epoch += 1
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    @contextmanager
    def group_commit(self) -> Iterator[None]:
        """Commit every write made on this thread inside the block as one transaction.

        Each nested operation — a run store's step commit with its ledger records, a lease change — runs
        in its own ``SAVEPOINT``, so one that raises (``ConcurrencyError``: a stale revision) leaves the
        others' writes in place.  A ledger append holding a STARTED record made directly in the group
        (an effect's durable intent) is committed at once, before the call returns.  At the end of the
        block — also when it raises — what the operations completed is committed; only a failing
        ``COMMIT`` rolls the group back.  Inside an open transaction the block just joins it.

        The write lock is held for the whole block: keep groups short (one step of each run), other
        writers on the file wait up to ``busy_timeout_ms``.
        """
        state = self._local
        if state.depth > 0 and state.pid == _PID[0]:
            yield
            return
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        state.depth, state.group, state.intent = 1, True, False
        try:
            yield
        finally:
            state.depth, state.group, state.intent = 0, False, False
            self._commit(conn)

    def mark_intent(self) -> None:
        """Note that a STARTED intent was just written: a group flushes when that write's block ends."""
        if self._local.group:
            self._local.intent = True

    def clear_intent(self) -> None:
        """Forget :meth:`mark_intent` (a step commit writes STARTED records together with their end)."""
        self._local.intent = False

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads: a deferred ``BEGIN`` … ``COMMIT``, or the thread's
        open transaction when there is one."""
        conn = self.connection()
        if self._local.depth > 0 or conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        """True while the calling thread is inside :meth:`transaction`."""
        return self._local.depth > 0 and self._local.pid == _PID[0]

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


class _Transaction:
    """The context manager of :meth:`SqliteDatabase.transaction` (a class: it runs on every commit)."""

    __slots__ = ("_conn", "_db", "_mode")

    _OUTER, _JOINED, _SAVEPOINT = 0, 1, 2

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        db = self._db
        conn = self._conn = db.connection()
        state = db._local
        if state.depth > 0:
            if state.group and state.depth == 1:  # an operation directly in a group: its own savepoint
                conn.execute("SAVEPOINT sp1")
                self._mode = self._SAVEPOINT
            else:
                self._mode = self._JOINED
            state.depth += 1
            return conn
        conn.execute("BEGIN IMMEDIATE")
        state.depth = 1
        self._mode = self._OUTER
        return conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        db, conn, state = self._db, self._conn, self._db._local
        if self._mode == self._JOINED:
            state.depth -= 1
        elif self._mode == self._SAVEPOINT:
            state.depth -= 1
            if exc_type is not None:
                db._epoch += 1
                conn.execute("ROLLBACK TO sp1")
                conn.execute("RELEASE sp1")
                return
            conn.execute("RELEASE sp1")
            if state.depth == 1 and state.intent:
                state.intent = False
                db._commit(conn)
                conn.execute("BEGIN IMMEDIATE")
        else:
            state.depth = 0
            if exc_type is not None:
                db._rollback(conn)
            else:
                db._commit(conn)
