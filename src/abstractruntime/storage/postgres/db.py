"""``PostgresDatabase``: a psycopg 3 connection pool, per-thread transactions and versioned migrations.

Every store of the PostgreSQL backend shares one :class:`PostgresDatabase`.  Each thread keeps one
pooled connection for itself (no checkout per statement); its :meth:`PostgresDatabase.transaction`
opens a transaction on it; a nested
``transaction()`` on the same thread joins it (as a savepoint), which is how a step commit appends its
ledger records and writes its run in one transaction, and how :meth:`group_commit` puts many step
commits in one transaction, each in its own savepoint.

URL: ``postgresql://user@host:port/db?schema=name&pool_max=8`` — ``schema`` (created when missing)
becomes the ``search_path`` of every connection, ``pool_max`` (default 32) caps the pool: one connection per live thread; other query options go to
libpq as they are.  The schema is brought to :data:`SCHEMA_VERSION` on open, under an advisory lock, so
workers starting together migrate once (table ``schema_version``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...errors import MissingExtraError, StoreUnavailableError
from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["PostgresDatabase", "import_psycopg"]

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_MIGRATION_LOCK = 0x4152_5047  # pg_advisory_xact_lock key of migrations ("ARPG")


def import_psycopg() -> Any:
    """The ``psycopg`` module.

    Raises:
        MissingExtraError (ImportError): the ``postgres`` extra is not installed.
    """
    try:
        import psycopg
        import psycopg_pool  # noqa: F401  (checked here so the error names the extra)
    except ImportError as exc:
        raise MissingExtraError(
            feature="The PostgreSQL store", extra="postgres", module=exc.name or "psycopg"
        ) from exc
    return psycopg


def split_url(url: str) -> tuple[str, str | None, int]:
    """``(libpq conninfo URL, schema or None, pool max size)`` from a ``postgresql://`` store URL.

    Raises:
        ValueError: a bad ``schema`` name or ``pool_max``.
    """
    parts = urlsplit(url)
    options = parse_qsl(parts.query, keep_blank_values=True)
    schema: str | None = None
    pool_max = 32
    rest: list[tuple[str, str]] = []
    for key, value in options:
        if key == "schema":
            if not _SCHEMA_NAME.match(value):
                raise ValueError(f"schema must be a plain SQL identifier, got {value!r}")
            schema = value
        elif key == "pool_max":
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"pool_max must be an integer >= 1, got {value!r}")
            pool_max = int(value)
        else:
            rest.append((key, value))
    scheme = "postgresql" if parts.scheme.lower() in ("postgresql", "postgres") else parts.scheme
    conninfo = urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), ""))
    return conninfo, schema, pool_max


class PostgresDatabase:
    """One PostgreSQL database (and schema) shared by the run, ledger, command and lease stores.

    Args:
        url: ``postgresql://…`` (see the module docstring).
        migrate: bring the schema to :data:`SCHEMA_VERSION` on open (default True).

    Raises:
        MissingExtraError: the ``postgres`` extra is not installed.
        ValueError: a bad URL option.
        StoreUnavailableError (ConnectionError): the server cannot be reached.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        psycopg = import_psycopg()
        from psycopg_pool import ConnectionPool

        self.url = url
        self.conninfo, self.schema, pool_max = split_url(url)
        try:  # one direct attempt first: a clear, fast error instead of a pool retrying in the background
            psycopg.connect(self.conninfo, connect_timeout=5).close()
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())
            raise StoreUnavailableError(
                f"PostgreSQL at {self.label} is unreachable: {reason}", location=self.label
            ) from exc
        self._local = threading.local()
        self._owners: dict[int, Any] = {}  # thread ident -> the connection it holds
        self._owners_lock = threading.Lock()
        self._pool = ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=pool_max,
            kwargs={"autocommit": True},
            configure=self._configure,
            check=ConnectionPool.check_connection,  # a pooled connection the server dropped is replaced
            open=False,
        )
        self._pool.open(wait=True, timeout=10.0)
        if migrate:
            self.migrate()

    def _configure(self, conn: Any) -> None:
        if self.schema is not None:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute(f'SET search_path TO "{self.schema}"')

    @property
    def label(self) -> str:
        """A label for error locations (the URL without its password)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}{parts.path}" + (f"#{self.schema}" if self.schema else "")

    def migrate(self) -> int:
        """Apply the migrations the schema lacks, in one transaction; returns the schema version."""
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at "
                "TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
            current = int(row[0])
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
        return max(current, SCHEMA_VERSION)

    def schema_version(self) -> int:
        """The highest applied migration."""
        with self.connection() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])

    def _thread_conn(self) -> Any:
        """This thread's own connection, taken from the pool on first use (and again after it broke).

        Connections of threads that have ended go back to the pool first, so short-lived threads do
        not exhaust it; a broken connection (lost server) is handed back and replaced: the caller's
        statement failed, the next one reconnects.
        """
        conn = getattr(self._local, "own", None)
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        with self._owners_lock:
            if conn is not None:
                self._owners.pop(threading.get_ident(), None)
                self._pool.putconn(conn)
            alive = {t.ident for t in threading.enumerate()}
            for ident in [i for i in self._owners if i not in alive]:
                self._pool.putconn(self._owners.pop(ident))
        conn = self._pool.getconn()
        with self._owners_lock:
            self._owners[threading.get_ident()] = conn
        self._local.own = conn
        return conn

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """This thread's connection (autocommit, or inside the thread's open transaction)."""
        yield self._thread_conn()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A transaction on this thread's connection (a savepoint when one is open); yields the
        connection.  Commits on a normal exit, rolls back (to the savepoint) on an exception."""
        conn = self._thread_conn()
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        try:
            with conn.transaction():
                yield conn
        finally:
            self._local.depth = depth

    def in_transaction(self) -> bool:
        """True while this thread has a transaction open."""
        return bool(getattr(self._local, "depth", 0))

    def group_commit(self) -> Any:
        """A context manager: step commits made inside it on this thread share one transaction, each
        in its own savepoint."""
        return self.transaction()

    def notify(self, channel: str, payload: str = "") -> None:
        """``NOTIFY channel`` (delivered when the current transaction commits)."""
        with self.connection() as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    def close(self) -> None:
        """Hand every thread's connection back and close the pool."""
        with self._owners_lock:
            for conn in self._owners.values():
                self._pool.putconn(conn)
            self._owners.clear()
        self._pool.close()
