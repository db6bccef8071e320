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
import contextlib
import fcntl
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from ..core.clock import utc_now_iso
from ..errors import AbstractRuntimeError, CorruptRunError, NotJsonSafeError
from .codec import decode_json, encode_json

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


class InvalidCommandError(AbstractRuntimeError, ValueError):
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


def _fsync_dir(directory: Path) -> None:
    """fsync ``directory`` so a created or renamed entry in it survives a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        raise ValueError(f"command cursor must be an int >= 0, got {cursor!r}")
    return cursor


# -- JSON files ---------------------------------------------------------------------------------------


class JsonlCommandStore:
    """A :class:`CommandStore` in one JSONL file, safe for several processes (SPEC §7.5).

    Each line is ``CommandRecord.to_json()`` (with ``seq``).  The store keeps in memory only the
    ``command_id -> seq`` index and the byte range of each line, rebuilt from the file at startup and
    topped up with the lines other processes appended; ``list_after`` reads the lines themselves.
    Complete lines that cannot be decoded, or that repeat a known ``command_id`` or a seq not above
    the previous one, are skipped with a warning.

    Args:
        base_dir: directory of the file (str or path-like); created when missing.
        filename: name of the file inside ``base_dir``.
    """

    def __init__(self, base_dir: str | os.PathLike[str], *, filename: str = "commands.jsonl") -> None:
        self._dir = Path(base_dir)
        self._dir.mkdir(parents=True, exist_ok=True)
        self.path = self._dir / filename
        self._lock = threading.Lock()
        self._reset(None)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            _fsync_dir(self._dir)
        with self._lock, self._locked(exclusive=False) as f:
            self._refresh(f, exclusive=False)

    def _reset(self, file_id: tuple[int, int] | None) -> None:
        self._file_id = file_id
        self._offset = 0  # bytes of complete lines consumed so far
        self._by_id: dict[str, int] = {}
        self._seqs: list[int] = []
        self._starts: list[int] = []
        self._ends: list[int] = []

    @contextlib.contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[IO[bytes]]:
        with open(self.path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield f  # closing the file releases the lock

    def _refresh(self, f: IO[bytes], *, exclusive: bool) -> None:
        """Index the complete lines appended since the last read; drop a torn tail when ``exclusive``."""
        st = os.fstat(f.fileno())
        if (st.st_dev, st.st_ino) != self._file_id or st.st_size < self._offset:
            self._reset((st.st_dev, st.st_ino))  # first read, or the file was replaced or truncated
        if st.st_size == self._offset:
            return
        f.seek(self._offset)
        data = f.read(st.st_size - self._offset)
        pos = 0
        while (nl := data.find(b"\n", pos)) >= 0:
            self._index_line(data[pos:nl], self._offset + pos, self._offset + nl + 1)
            pos = nl + 1
        self._offset += pos
        if pos < len(data) and exclusive:
            logger.warning("dropping an incomplete last line (%d bytes) of %s", len(data) - pos, self.path)
            f.truncate(self._offset)

    def _index_line(self, line: bytes, start: int, end: int) -> None:
        if not line.strip():
            return
        try:
            rec = _record_from_json(json.loads(line))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            rec = None
        if rec is None:
            logger.warning("skipping an unreadable command line at byte %d of %s", start, self.path)
            return
        if rec.command_id in self._by_id or (self._seqs and rec.seq <= self._seqs[-1]):
            logger.warning(
                "skipping a repeated command %s (seq %d) in %s", rec.command_id, rec.seq, self.path
            )
            return
        self._by_id[rec.command_id] = rec.seq
        self._seqs.append(rec.seq)
        self._starts.append(start)
        self._ends.append(end)

    def append(self, record: CommandRecord) -> CommandAppendResult:
        """Validate ``record`` and append it as one fsynced line with the next seq.

        Returns:
            ``accepted=True`` with the new seq, or ``duplicate=True`` with the seq already stored for
            the ``command_id`` (by this or another process).

        Raises:
            InvalidCommandError (ValueError): empty ``run_id``/``type`` or a non-JSON-safe payload.
            OSError: the file cannot be written; a partly written line is removed again.
        """
        rec, _ = _prepare_command(record)
        with self._lock, self._locked(exclusive=True) as f:
            self._refresh(f, exclusive=True)
            existing = self._by_id.get(rec.command_id)
            if existing is not None:
                return CommandAppendResult(accepted=False, duplicate=True, seq=existing)
            seq = (self._seqs[-1] if self._seqs else 0) + 1
            line = (encode_json(replace(rec, seq=seq).to_json(), path="command") + "\n").encode("utf-8")
            start = self._offset
            try:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            except BaseException:
                with contextlib.suppress(OSError):  # best effort; the next append truncates it anyway
                    f.truncate(start)
                raise
            self._offset = start + len(line)
            self._by_id[rec.command_id] = seq
            self._seqs.append(seq)
            self._starts.append(start)
            self._ends.append(self._offset)
            return CommandAppendResult(accepted=True, duplicate=False, seq=seq)

    def list_after(self, *, after: int, limit: int = 1000) -> tuple[list[CommandRecord], int]:
        """Up to ``limit`` (<= 0: none) records with ``seq > after`` in seq order, including those
        appended by other processes; the cursor is the last seq returned, or ``after``.

        Raises:
            CorruptRunError (ValueError): an indexed line no longer decodes (the file was edited).
        """
        with self._lock, self._locked(exclusive=False) as f:
            self._refresh(f, exclusive=False)
            lo, hi = _page_bounds(self._seqs, after, limit)
            if lo == hi:
                return [], after
            base = self._starts[lo]
            f.seek(base)
            blob = f.read(self._ends[hi - 1] - base)
            spans = [(self._starts[i] - base, self._ends[i] - base) for i in range(lo, hi)]
        location = str(self.path)
        records: list[CommandRecord] = []
        for begin, end in spans:
            rec = _record_from_json(decode_json(blob[begin:end], run_id=None, location=location))
            if rec is None:
                raise CorruptRunError(
                    f"command line changed under the store at {location}", location=location
                )
            records.append(rec)
        return records, records[-1].seq

    def get_last_seq(self) -> int:
        """The highest seq in the file (after reading other processes' appends), 0 when empty."""
        with self._lock, self._locked(exclusive=False) as f:
            self._refresh(f, exclusive=False)
            return self._seqs[-1] if self._seqs else 0


class JsonFileCommandCursorStore:
    """A :class:`CommandCursorStore` in one small JSON file (SPEC §7.5).

    The file holds ``{"cursor": int, "updated_at": "<ISO-8601 UTC>"}`` and is replaced atomically:
    a temporary file in the same directory is written and fsynced, renamed over the target with
    ``os.replace``, and the directory is fsynced.  A reader sees the old or the new cursor, never a mix.

    Args:
        path: the file (str or path-like); its parent directory is created when missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def load(self) -> int:
        """The saved cursor, 0 when the file does not exist.

        Raises:
            CorruptRunError (ValueError): the file exists but holds no ``{"cursor": int >= 0}`` object.
        """
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        location = str(self.path)
        data = decode_json(text, run_id=None, location=location)
        cursor = data.get("cursor") if isinstance(data, dict) else None
        if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
            raise CorruptRunError(f"no valid command cursor in {location}", location=location)
        return cursor

    def save(self, cursor: int) -> None:
        """Atomically replace the file with ``cursor`` and the current time.

        Raises:
            ValueError: ``cursor`` is not an int >= 0.
            OSError: the file cannot be written (the old file is then left unchanged).
        """
        value = _check_cursor(cursor)
        text = json.dumps({"cursor": value, "updated_at": utc_now_iso()}) + "\n"
        with self._lock:
            tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
            try:
                with open(tmp, "xb") as f:
                    f.write(text.encode("utf-8"))
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            _fsync_dir(self.path.parent)
