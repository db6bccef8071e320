"""Opening the ``--store`` of one command without surprises.

* ``sqlite:`` URLs must be ``sqlite:///relative.db`` or ``sqlite:////absolute.db``: ``sqlite:/x`` (one
  slash) would put a database at the filesystem root and is refused (exit 2), as are ``sqlite:x`` and
  ``sqlite://host/x``.
* Only ``run`` and ``scheduler serve`` create a store (and its directory) that does not exist yet.  Every
  other command needs an existing store and says ``no store at PATH`` (exit 3, "not found") instead; the
  read-only commands (``runs list/show``, ``info``, ``ledger show/verify``, ``export``) also create no file
  inside an existing ``file://`` store.
* A damaged SQLite file is reported as such (exit 6) and never rewritten.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import click

from abstractruntime.storage import open_stores
from abstractruntime.storage.urls import Stores

from .app import EXIT_NOT_FOUND, EXIT_USAGE, CliError
from .guard import EXIT_CORRUPT, is_sqlite_corruption, one_line

StoreMode = Literal["create", "existing", "read"]

CREATING_COMMANDS = frozenset({"run", "scheduler serve"})
READ_ONLY_COMMANDS = frozenset({"runs list", "runs show", "info", "ledger show", "ledger verify", "export"})


class MissingStoreError(CliError):
    """The store named by ``--store`` does not exist and this command does not create one (exit 3)."""

    def __init__(self, url: str, path: Path) -> None:
        super().__init__(f"no store at {path.absolute()}", EXIT_NOT_FOUND)
        self.url = url
        self.path = path


def store_mode(ctx: click.Context | None = None) -> StoreMode:
    """How the running command may open its store, from its command path (``create`` outside click)."""
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return "create"
    path = " ".join(ctx.command_path.split()[1:])
    if path in CREATING_COMMANDS:
        return "create"
    return "read" if path in READ_ONLY_COMMANDS else "existing"


def _local_path(url: str) -> Path | None:
    """The file (sqlite) or directory (file) a URL names, as the storage backends resolve it."""
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "sqlite":
        if not rest.startswith("///"):
            raise CliError(
                f"cannot open store {url!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db",
                EXIT_USAGE,
            )
        text = unquote(rest[3:].split("?", 1)[0])
    elif scheme == "file":
        parts = urlsplit(url)
        text = unquote(parts.path if parts.netloc in ("", "localhost") else parts.netloc + parts.path)
    else:
        return None
    return Path(text).expanduser() if text else None


def _check_reachable(url: str, path: Path) -> None:
    """Refuse a path below a regular file (it can never exist): a bad URL, not a missing store."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise CliError(f"cannot open store {url!r}: {parent} is not a directory", EXIT_USAGE)
            return


def _open(url: str, path: Path | None, mode: StoreMode) -> Stores:
    if mode == "read" and path is not None and url.lower().startswith("file:"):
        if not path.is_dir():
            raise CliError(f"cannot open store {url!r}: {path} is not a directory", EXIT_USAGE)
        from abstractruntime.storage.json_files import JsonFileRunStore, JsonlLedgerStore

        # no JsonlCommandStore: it would create commands.jsonl, and reading runs does not need it
        return Stores(url, JsonFileRunStore(path), JsonlLedgerStore(path), command_store=None)
    if mode == "create" and path is not None and url.lower().startswith("sqlite:"):
        path.parent.mkdir(parents=True, exist_ok=True)
    return open_stores(url)


def open_cli_stores(url: str, mode: StoreMode) -> Stores:
    """Open ``url`` for a command of the given ``mode``.

    Raises:
        CliError: a refused or unopenable URL (exit 2), a missing store when ``mode`` is not ``create``
            (:class:`MissingStoreError`, exit 3), a damaged SQLite file (exit 6).
    """
    path = _local_path(url)
    if path is not None and mode != "create" and not path.exists():
        _check_reachable(url, path)
        raise MissingStoreError(url, path)
    try:
        return _open(url, path, mode)
    except sqlite3.Error as exc:
        if is_sqlite_corruption(exc):
            raise CliError(
                f"the SQLite store {url!r} is damaged: {one_line(str(exc))} (left unchanged)", EXIT_CORRUPT
            ) from exc
        raise CliError(f"cannot open store {url!r}: {one_line(str(exc))}", EXIT_USAGE) from exc
    except (ValueError, OSError) as exc:
        raise CliError(f"cannot open store {url!r}: {one_line(str(exc))}", EXIT_USAGE) from exc
