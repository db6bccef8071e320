"""A throw-away PostgreSQL schema for tests (needs the ``postgres`` extra and a reachable server).

``ABSTRACTRUNTIME_TEST_PG`` overrides the server URL (default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["DEFAULT_TEST_PG_URL", "pg_unreachable_reason", "temporary_schema", "truncate_all"]

DEFAULT_TEST_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def test_pg_url() -> str:
    """The server tests use (``$ABSTRACTRUNTIME_TEST_PG`` or :data:`DEFAULT_TEST_PG_URL`)."""
    return os.environ.get("ABSTRACTRUNTIME_TEST_PG") or DEFAULT_TEST_PG_URL


def pg_unreachable_reason(url: str | None = None) -> str | None:
    """None when the server at ``url`` answers, else why not (for ``pytest.skip``)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'AbstractRuntime[postgres]')"
    try:
        with psycopg.connect(url or test_pg_url(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {url or test_pg_url()} is unreachable: {' '.join(str(exc).split())}"
    return None


@contextmanager
def temporary_schema(url: str | None = None, *, prefix: str = "ar_test_") -> Iterator[str]:
    """Create a fresh schema and yield a store URL pointing at it; drop it (CASCADE) afterwards."""
    import psycopg

    base = url or test_pg_url()
    name = f"{prefix}{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}schema={name}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def truncate_all(db: object) -> None:
    """Empty every table of a ``PostgresDatabase``'s schema except ``schema_version``."""
    with db.transaction() as conn:  # type: ignore[attr-defined]
        conn.execute("TRUNCATE runs, ledger, ledger_heads, commands, command_cursors, run_leases, artifacts")
