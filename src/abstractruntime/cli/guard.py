"""The outermost layer of the ``abstractruntime`` command: no traceback ever reaches the terminal.

:func:`run_entry` runs the click group and turns what escapes it into one ``Error: ...`` line on stderr and
an exit code:

* a missing ``cli`` extra (click, rich, platformdirs): exit 1 and the ``pip install`` line;
* stored state that cannot be read (:class:`~abstractruntime.errors.CorruptRunError`, a damaged SQLite
  file): exit 6, the message names what is damaged; the store is left exactly as it was;
* anything else (a bug): exit 70 (``EX_SOFTWARE`` of sysexits.h) and the exception type and message.

``--debug`` or ``ABSTRACTRUNTIME_DEBUG=1`` also print the traceback (and those of logged warnings).  Library
warnings (a run skipped because its stored JSON is garbage, a torn ledger line) are printed as one
``warning: ...`` line each instead of Python's default "last resort" output with a traceback.

This module imports no third-party package: it must work when the ``cli`` extra is missing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import traceback
from collections.abc import Sequence

from abstractruntime.errors import CorruptArtifactError, CorruptRunError, MissingExtraError

EXIT_MISSING_EXTRA = 1
EXIT_CORRUPT = 6
EXIT_INTERNAL = 70
DEBUG_ENV = "ABSTRACTRUNTIME_DEBUG"
_MAX_MESSAGE = 400


class _State:
    """Process-wide switches of one command invocation (set by the entry point and ``--debug``)."""

    debug: bool = False


STATE = _State()


def one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    """``text`` with every run of whitespace collapsed to one space, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _reason(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the original error
        text = ""
    return one_line(text) or type(exc).__name__


def is_sqlite_corruption(exc: BaseException) -> bool:
    """True for SQLite's "database disk image is malformed" and "file is not a database" errors."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    name = getattr(exc, "sqlite_errorname", None)  # Python >= 3.11
    if name is not None:
        return str(name).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
    return type(exc) is sqlite3.DatabaseError


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and the exit code for an exception no command handled."""
    if isinstance(exc, MissingExtraError):
        return _reason(exc), EXIT_MISSING_EXTRA
    if isinstance(exc, (CorruptRunError, CorruptArtifactError)):
        return f"corrupt stored state: {_reason(exc)} (the store was left unchanged)", EXIT_CORRUPT
    if is_sqlite_corruption(exc):
        return (
            f"the SQLite store is damaged: {_reason(exc)} (the store was left unchanged; "
            "check it with `sqlite3 FILE 'PRAGMA integrity_check'` and restore a backup)",
            EXIT_CORRUPT,
        )
    if isinstance(exc, RecursionError):
        return "data nested too deeply to process (RecursionError)", EXIT_INTERNAL
    hint = "--debug" if STATE.debug else f"--debug or {DEBUG_ENV}=1"
    return (
        f"unexpected {type(exc).__name__}: {_reason(exc)} (a bug in abstractruntime; {hint} shows the traceback)",
        EXIT_INTERNAL,
    )


def report(exc: BaseException) -> int:
    """Print ``exc`` as one ``Error:`` line (after its traceback in debug mode); return its exit code."""
    message, code = describe(exc)
    if STATE.debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()
    return code


class _WarningLine(logging.Handler):
    """Library log records (WARNING and up) as ``warning: <message>`` lines on stderr, each once."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = one_line(record.getMessage())
        except Exception:  # noqa: BLE001 - a malformed log call must not stop the command
            message = one_line(str(record.msg))
        if message in self._seen:
            return
        self._seen.add(message)
        if STATE.debug and record.exc_info and record.exc_info[1] is not None:
            traceback.print_exception(*record.exc_info, file=sys.stderr)
        sys.stderr.write(f"warning: {message}\n")


def install_warning_lines() -> None:
    """Route the ``abstractruntime`` loggers to :class:`_WarningLine` (once per process)."""
    logger = logging.getLogger("abstractruntime")
    if not any(isinstance(h, _WarningLine) for h in logger.handlers):
        logger.addHandler(_WarningLine())


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def run_entry(argv: Sequence[str] | None = None) -> int:
    """Run the ``abstractruntime`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    STATE.debug = os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")
    try:
        from .group import cli
    except MissingExtraError as exc:
        return report(exc)
    install_warning_lines()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="abstractruntime", standalone_mode=True)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except Exception as exc:  # noqa: BLE001 - the one place every unexpected error becomes one line
        return report(exc)
    return 0
