"""File-backed command inbox stores (SPEC §7.5): ``JsonlCommandStore`` and ``JsonFileCommandCursorStore``.

Both are safe to share between processes: appends hold an exclusive ``flock`` and re-read what other
processes appended before assigning a seq; the cursor file is replaced atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO

from ..core.clock import utc_now_iso
from ..errors import CorruptRunError
from ._files import fsync_dir as _fsync_dir
from .codec import decode_json, encode_json
from .commands import (
    CommandAppendResult,
    CommandRecord,
    _check_cursor,
    _page_bounds,
    _prepare_command,
    _record_from_json,
)

__all__ = ["JsonFileCommandCursorStore", "JsonlCommandStore"]

logger = logging.getLogger("abstractruntime.storage.commands")


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
