"""The console-script entry point (``abstractruntime``, ``python -m abstractruntime``).

This module imports nothing outside the standard library at import time, so the installed console script
can report a missing ``cli`` extra as one line.  The click group lives in :mod:`abstractruntime.cli.group`;
``from abstractruntime.cli.main import cli`` still works (it is loaded on first access).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .guard import run_entry


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and return its exit code.

    Never raises (but ``SystemExit`` from ``sys.exit(main())``): unexpected errors become one ``Error:``
    line on stderr and a documented exit code (see :mod:`abstractruntime.cli.guard`).
    """
    return run_entry(argv)


def __getattr__(name: str) -> Any:
    if name == "cli":
        from .group import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
