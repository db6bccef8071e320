"""Command inbox (SPEC §7.5): a durable, idempotent queue of commands addressed to runs.

Hosts such as gateways accept commands from clients (``pause``, ``resume``, ``cancel``, an event to
emit ...), append them here, and a consumer reads them in ``seq`` order, remembering how far it got
in a :class:`CommandCursorStore`.  The runtime itself never reads commands.

Guarantees shared by every :class:`CommandStore`:

* ``append`` is idempotent by ``command_id``: a second append of a known id changes nothing and
  reports the ``seq`` of the first one.  An empty ``command_id`` is replaced by ``uuid4().hex`` and
  an empty ``ts`` by the current UTC time.
* ``seq`` starts at 1 and grows by one per accepted command; ``list_after(after=n)`` returns the
  commands with ``seq > n`` in ``seq`` order plus the cursor to pass next time.

:class:`JsonlCommandStore` keeps one JSON object per line.  Appends hold an exclusive ``flock`` on
the file, first read the lines other processes appended since the last read (so ``command_id``
stays unique and ``seq`` gap-free across processes), then write one full line and ``fsync`` it.
Readers hold a shared lock and only ever consume complete lines; an incomplete last line can only
be left by a crash mid-append (writers are serialised), so the next append truncates it.  Such an
append never returned, so dropping it loses nothing that was acknowledged.  The file locking is
POSIX-only (``fcntl``).
"""

from __future__ import annotations

import bisect
import logging
import threading
import uuid
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from ..core.clock import utc_now_iso
from ..errors import InvalidRecordError, NotJsonSafeError
from .codec import encode_json

__all__ = [
    "CommandAppendResult",
    "CommandCursorStore",
    "CommandRecord",
    "CommandStore",
    "InMemoryCommandCursorStore",
    "InMemoryCommandStore",
    "InvalidCommandError",
    "JsonFileCommandCursorStore",
    "JsonlCommandStore",
]

logger = logging.getLogger(__name__)


class InvalidCommandError(InvalidRecordError):
    """A command the durable stores refuse (SPEC §7.5 validation); nothing was written.

    Raised for an empty ``run_id`` or ``type``, a field of the wrong type, or a payload that is not a
    JSON-safe dict.

    Attributes:
        command_id: the id of the refused command (possibly the generated one).
        run_id: the run it was addressed to (may be empty or None when that is the problem).
        field: the offending field: ``"command_id"``, ``"run_id"``, ``"type"``, ``"payload"``,
            ``"ts"`` or ``"client_id"``.
    """

    def __init__(
        self, message: str, *, command_id: str | None = None, run_id: str | None = None, field: str
    ) -> None:
        super().__init__(message, run_id=run_id)
        self.command_id = command_id
        self.field = field


@dataclass(frozen=True)
class CommandRecord:
    """One command addressed to a run (SPEC §7.5).

    Attributes:
        command_id: client-chosen idempotency id; empty means "generate one" on append.
        run_id: the run the command is for.
        type: the command kind, for example ``"pause"`` or ``"emit_event"`` (free-form for the store).
        payload: JSON-safe arguments of the command.
        ts: ISO-8601 UTC time the command was issued; empty means "now" on append.
        client_id: who sent it, or None.
        seq: position in the inbox, assigned by the store (0 before it is appended).
    """

    command_id: str
    run_id: str
    type: str
    payload: dict[str, Any]
    ts: str
    client_id: str | None = None
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict with the keys ``command_id, run_id, type, payload, ts,
        client_id, seq`` (the payload dict is the record's own, not a copy)."""
        return {
            "command_id": self.command_id,
            "run_id": self.run_id,
            "type": self.type,
            "payload": self.payload,
            "ts": self.ts,
            "client_id": self.client_id,
            "seq": self.seq,
        }


@dataclass
class CommandAppendResult:
    """What :meth:`CommandStore.append` did (SPEC §7.5).

    Attributes:
        accepted: True when the command was new and is now stored.
        duplicate: True when a command with the same ``command_id`` was already stored.
        seq: the seq of the stored command (the original one for a duplicate).
    """

    accepted: bool
    duplicate: bool
    seq: int


@runtime_checkable
class CommandStore(Protocol):
    """An append-only, idempotent command inbox (SPEC §7.5)."""

    def append(self, record: CommandRecord) -> CommandAppendResult:
        """Store ``record`` unless its ``command_id`` is known; its own ``seq`` is ignored."""
        ...

    def list_after(self, *, after: int, limit: int = 1000) -> tuple[list[CommandRecord], int]:
        """Up to ``limit`` records with ``seq > after`` in seq order, and the next cursor."""
        ...

    def get_last_seq(self) -> int:
        """The highest stored seq, 0 when the inbox is empty."""
        ...


@runtime_checkable
class CommandCursorStore(Protocol):
    """Where a consumer remembers the last command seq it has processed (SPEC §7.5)."""

    def load(self) -> int:
        """The saved cursor, 0 when none was saved."""
        ...

    def save(self, cursor: int) -> None:
        """Remember ``cursor`` (a seq >= 0)."""
        ...


# -- shared helpers (also used by storage/sqlite_commands.py) -------------------------------------------


def _normalize(record: CommandRecord) -> CommandRecord:
    """Fill an empty ``command_id`` (``uuid4().hex``) and ``ts`` (now), and reset ``seq`` to 0."""
    return replace(
        record,
        command_id=record.command_id or uuid.uuid4().hex,
        ts=record.ts or utc_now_iso(),
        seq=0,
    )


def _prepare_command(record: CommandRecord) -> tuple[CommandRecord, str]:
    """Normalise and validate ``record`` for a durable store.

    Returns:
        ``(normalised record with seq 0, compact JSON text of its payload)``.

    Raises:
        InvalidCommandError (ValueError): see the class docstring.
    """
    rec = _normalize(record)
    cid = rec.command_id if isinstance(rec.command_id, str) else None
    rid = rec.run_id if isinstance(rec.run_id, str) else None

    def fail(message: str, field_name: str) -> InvalidCommandError:
        return InvalidCommandError(message, command_id=cid, run_id=rid, field=field_name)

    if cid is None:
        raise fail(f"command_id must be a str, got {type(rec.command_id).__name__}", "command_id")
    for name in ("run_id", "type"):
        value = getattr(rec, name)
        if not isinstance(value, str) or not value.strip():
            raise fail(f"command {name} must be a non-empty str, got {value!r}", name)
    if not isinstance(rec.ts, str):
        raise fail(f"command ts must be an ISO-8601 str, got {type(rec.ts).__name__}", "ts")
    if rec.client_id is not None and not isinstance(rec.client_id, str):
        raise fail(
            f"command client_id must be a str or None, got {type(rec.client_id).__name__}", "client_id"
        )
    if not isinstance(rec.payload, dict):
        raise fail(f"command payload must be a dict, got {type(rec.payload).__name__}", "payload")
    try:
        payload_json = encode_json(rec.payload, path="payload", run_id=rid)
    except NotJsonSafeError as exc:
        raise fail(f"command payload is not JSON-safe: {exc}", "payload") from exc
    return rec, payload_json


def _record_from_json(data: Any) -> CommandRecord | None:
    """A record from one decoded JSONL object, or None when it lacks a field or has a wrong type."""
    if not isinstance(data, dict):
        return None
    seq = data.get("seq")
    cid = data.get("command_id")
    client_id = data.get("client_id")
    strings = (cid, data.get("run_id"), data.get("type"), data.get("ts"))
    if not all(isinstance(s, str) for s in strings) or not cid:
        return None
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return None
    if not isinstance(data.get("payload"), dict) or not (client_id is None or isinstance(client_id, str)):
        return None
    return CommandRecord(
        command_id=cid,
        run_id=data["run_id"],
        type=data["type"],
        payload=data["payload"],
        ts=data["ts"],
        client_id=client_id,
        seq=seq,
    )


def _page_bounds(seqs: list[int], after: int, limit: int) -> tuple[int, int]:
    """Index range ``[lo, hi)`` of the seqs greater than ``after``, at most ``limit`` of them."""
    lo = bisect.bisect_right(seqs, after)
    return lo, min(len(seqs), lo + max(0, limit))


# -- in-memory ----------------------------------------------------------------------------------------


class InMemoryCommandStore:
    """A :class:`CommandStore` in a list; thread-safe, nothing survives the process (SPEC §7.5).

    It does not validate (as the specification says); it only fills an empty ``command_id``/``ts``.
    Records are kept as given, so their payload dicts are shared with the caller.
    """

    def __init__(self) -> None:
        self._records: list[CommandRecord] = []
        self._seqs: list[int] = []
        self._by_id: dict[str, int] = {}
        self._lock = threading.Lock()

    def append(self, record: CommandRecord) -> CommandAppendResult:
        """Store ``record`` with the next seq, or report the seq of its earlier twin."""
        rec = _normalize(record)
        with self._lock:
            existing = self._by_id.get(rec.command_id)
            if existing is not None:
                return CommandAppendResult(accepted=False, duplicate=True, seq=existing)
            seq = len(self._records) + 1
            self._records.append(replace(rec, seq=seq))
            self._seqs.append(seq)
            self._by_id[rec.command_id] = seq
            return CommandAppendResult(accepted=True, duplicate=False, seq=seq)

    def list_after(self, *, after: int, limit: int = 1000) -> tuple[list[CommandRecord], int]:
        """Up to ``limit`` (<= 0: none) records with ``seq > after``; the cursor is the last seq
        returned, or ``after`` when nothing is returned."""
        with self._lock:
            lo, hi = _page_bounds(self._seqs, after, limit)
            page = self._records[lo:hi]
        return page, (page[-1].seq if page else after)

    def get_last_seq(self) -> int:
        """The highest seq, 0 when empty."""
        with self._lock:
            return len(self._records)


class InMemoryCommandCursorStore:
    """A :class:`CommandCursorStore` holding one int (SPEC §7.5); thread-safe.

    Args:
        initial: the cursor ``load`` returns before any ``save``.
    """

    def __init__(self, initial: int = 0) -> None:
        self._cursor = _check_cursor(initial)
        self._lock = threading.Lock()

    def load(self) -> int:
        """The current cursor."""
        with self._lock:
            return self._cursor

    def save(self, cursor: int) -> None:
        """Set the cursor.

        Raises:
            ValueError: ``cursor`` is not an int >= 0.
        """
        value = _check_cursor(cursor)
        with self._lock:
            self._cursor = value


def _check_cursor(cursor: Any) -> int:
    if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
        raise InvalidRecordError(f"command cursor must be an int >= 0, got {cursor!r}")
    return cursor


from .commands_files import JsonFileCommandCursorStore, JsonlCommandStore  # noqa: E402  (re-export)
