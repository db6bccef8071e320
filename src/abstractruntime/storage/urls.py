"""``open_stores(url)``: build a matching set of stores from one URL (ARCHITECTURE principle 7).

=================================  ==========================================================
URL                                Backend
=================================  ==========================================================
``memory://``                      in-memory stores (nothing survives the process)
``file:///abs/dir``, ``file:dir``  ``JsonFileRunStore`` + ``JsonlLedgerStore`` + ``JsonlCommandStore``
``sqlite:///rel.db``               one SQLite file for runs, ledger and commands
``sqlite:////abs/path.db``         (``?synchronous=NORMAL`` trades power-loss durability for speed)
``postgresql://user@host/db``      PostgreSQL (extra ``postgres``; ``?schema=name&pool_max=8``), artifacts too
=================================  ==========================================================

Backends are imported only when their scheme is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import AbstractRuntimeError
from .base import LedgerStore, RunStore

__all__ = ["Stores", "UnsupportedStoreURLError", "open_stores"]

SCHEMES = ("memory", "file", "sqlite", "postgresql")


class UnsupportedStoreURLError(AbstractRuntimeError, ValueError):
    """The URL's scheme is unknown or the URL is malformed; ``url`` holds it."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


@dataclass(frozen=True)
class Stores:
    """The stores one URL opened: pass ``run_store``, ``ledger_store`` and ``lease_store`` to ``Runtime``.

    ``database`` is the shared :class:`SqliteDatabase` for ``sqlite:`` URLs (None otherwise);
    ``lease_store`` keeps run leases for crash recovery (a ``RunLeaseStore``, see ``leases.py``);
    ``artifact_store`` is the backend's own ``ArtifactStore`` when it has one (``postgresql://``), else None.
    """

    url: str
    run_store: RunStore
    ledger_store: LedgerStore
    command_store: Any
    database: Any = None
    lease_store: Any = None
    artifact_store: Any = None

    def close(self) -> None:
        """Release connections and file handles held by these stores."""
        if self.database is not None:
            self.database.close()
        for store in (self.run_store, self.lease_store):
            closer = getattr(store, "close", None)
            if callable(closer):
                closer()


def open_stores(url: str) -> Stores:
    """Open the run, ledger and command stores named by ``url``.

    Raises:
        UnsupportedStoreURLError (ValueError): unknown scheme, missing path or bad option.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return _memory(url)
    if scheme == "file":
        return _files(url, _path_of(url, parts.netloc, parts.path))
    if scheme == "sqlite":
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return _sqlite(url, _path_of(url, parts.netloc, parts.path), options)
    if scheme in ("postgresql", "postgres"):
        return _postgres(url)
    raise UnsupportedStoreURLError(
        f"unsupported store URL {url!r}; use one of: memory://, file:///dir, sqlite:///path.db, postgresql://…",
        url=url,
    )


def _path_of(url: str, netloc: str, path: str) -> str:
    if netloc not in ("", "localhost"):
        path = netloc + path  # file://relative/dir
    elif path.startswith("/") and url.split(":", 1)[1].startswith("///") and url.startswith("sqlite"):
        path = path[1:]  # sqlite:///rel.db is relative; sqlite:////abs.db is absolute
    path = unquote(path)
    if not path:
        raise UnsupportedStoreURLError(f"store URL {url!r} names no path", url=url)
    return path


def _memory(url: str) -> Stores:
    from .commands import InMemoryCommandStore
    from .in_memory import InMemoryLeaseStore, InMemoryLedgerStore, InMemoryRunStore

    return Stores(
        url,
        InMemoryRunStore(),
        InMemoryLedgerStore(),
        InMemoryCommandStore(),
        lease_store=InMemoryLeaseStore(),
    )


def _files(url: str, path: str) -> Stores:
    from .commands import JsonlCommandStore
    from .json_files import JsonFileLeaseStore, JsonFileRunStore, JsonlLedgerStore

    return Stores(
        url,
        JsonFileRunStore(path),
        JsonlLedgerStore(path),
        JsonlCommandStore(path),
        lease_store=JsonFileLeaseStore(path),
    )


def _sqlite(url: str, path: str, options: dict[str, str]) -> Stores:
    from .sqlite import (
        SqliteCommandStore,
        SqliteDatabase,
        SqliteLeaseStore,
        SqliteLedgerStore,
        SqliteRunStore,
    )

    unknown = set(options) - {"synchronous", "busy_timeout_ms"}
    if unknown:
        raise UnsupportedStoreURLError(f"unknown sqlite URL option(s): {sorted(unknown)}", url=url)
    try:
        db = SqliteDatabase(
            path,
            synchronous=options.get("synchronous", "FULL"),
            busy_timeout_ms=int(options.get("busy_timeout_ms", "5000")),
        )
    except ValueError as exc:
        raise UnsupportedStoreURLError(f"bad sqlite URL {url!r}: {exc}", url=url) from exc
    return Stores(
        url,
        SqliteRunStore(db),
        SqliteLedgerStore(db),
        SqliteCommandStore(db),
        database=db,
        lease_store=SqliteLeaseStore(db),
    )


def _postgres(url: str) -> Stores:
    """Raises MissingExtraError without the ``postgres`` extra."""
    from .postgres import (
        PostgresArtifactStore,
        PostgresCommandStore,
        PostgresDatabase,
        PostgresLeaseStore,
        PostgresLedgerStore,
        PostgresRunStore,
    )

    try:
        db = PostgresDatabase(url)
    except ValueError as exc:
        raise UnsupportedStoreURLError(f"bad postgresql URL: {exc}", url=url) from exc
    return Stores(
        url,
        PostgresRunStore(db),
        PostgresLedgerStore(db),
        PostgresCommandStore(db),
        database=db,
        lease_store=PostgresLeaseStore(db),
        artifact_store=PostgresArtifactStore(db),
    )
