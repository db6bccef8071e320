"""``JsonlLedgerStore``: one ``ledger_<id>.jsonl`` file per run, one JSON record per line (SPEC §7.3).

Appends write whole lines under an exclusive ``flock`` and fsync before returning.  Lines holding
several concatenated objects (written by older tools) are split.  Two kinds of damage are told apart:

* a **torn tail** — bytes after the last ``\\n``, what a crash in the middle of an append leaves — is
  ignored by readers and cut off (``ftruncate`` under the lock) by the next append before it writes,
  so the new record starts on a fresh line and chains to the last complete record;
* an **unreadable complete line** — not UTF-8, not JSON, nesting too deep, a number too long, a value
  that is not an object — cannot come from a crash (each append is one write of whole lines, and the
  tail is repaired first), so it is reported: ``list`` skips it with a warning, and
  :meth:`JsonlLedgerStore.list_with_problems` returns it with its line number and record index for
  :func:`~abstractruntime.storage.ledger_chain.verify_ledger_store` and ``abstractruntime ledger
  verify``.  A new record chains to the last *readable* record, never to None.

The idempotency and in-doubt lookups read each file once and then only the bytes appended since (by any process),
so its cost does not grow with the ledger.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.models import StepRecord
from ..errors import InvalidRecordError
from ._files import durable_append
from .base import LedgerStore, Link
from .codec import encode_record

__all__ = ["JsonlLedgerStore", "parse_jsonl", "scan_jsonl"]

_log = logging.getLogger("abstractruntime.storage.json_files")
_DECODER = json.JSONDecoder()
_EXCERPT = 60


def _line_items(data: bytes) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """``(line_number, record, "")`` per object and ``(line_number, None, reason)`` per unreadable line,
    over the complete lines of ``data`` (a trailing line without ``\\n`` is torn and not looked at).
    A line yields its objects only when all of it parses."""
    end = data.rfind(b"\n")
    if end < 0:
        return
    for number, raw in enumerate(data[: end + 1].split(b"\n"), start=1):
        objects, reason = _parse_line(raw)
        if reason:
            yield number, None, reason
        for obj in objects:
            yield number, obj, ""


def _parse_line(raw: bytes) -> tuple[builtins.list[dict[str, Any]], str]:
    """The objects of one line (several when concatenated), or ``([], reason)`` when any of it is bad."""
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return [], "not valid UTF-8"
    objects: builtins.list[dict[str, Any]] = []
    pos = 0
    while pos < len(text):
        try:
            obj, pos = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, a too-long integer, nesting
            return [], f"{type(exc).__name__}: {str(exc)[:120]}; line starts {text[:_EXCERPT]!r}"
        if not isinstance(obj, dict):
            return [], f"a JSON {type(obj).__name__}, not an object"
        objects.append(obj)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return objects, ""


def parse_jsonl(data: bytes, *, location: str) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of complete lines in ``data`` (a trailing line without ``\\n`` is torn
    and ignored; blank lines are skipped; a line of concatenated objects yields each of them; an
    unreadable line is skipped with a warning — :func:`scan_jsonl` reports it instead)."""
    for number, record, reason in _line_items(data):
        if record is None:
            _log.warning("skipping unreadable ledger line %d of %s: %s", number, location, reason)
        else:
            yield record


def scan_jsonl(data: bytes) -> tuple[builtins.list[dict[str, Any]], builtins.list[dict[str, Any]]]:
    """The records of the complete lines of ``data`` and the problems found among them.

    Each problem is ``{"index", "type": "unreadable_line", "line", "error"}``: ``line`` is the 1-based
    line number in the file and ``index`` the position in the record list where the line sits (the
    number of records read before it, so the index of the record that follows it).  A torn tail is not
    a problem (see the module docstring).
    """
    records: builtins.list[dict[str, Any]] = []
    problems: builtins.list[dict[str, Any]] = []
    for number, record, reason in _line_items(data):
        if record is None:
            problems.append(
                {"index": len(records), "type": "unreadable_line", "line": number, "error": reason}
            )
        else:
            records.append(record)
    return records, problems


def _last_object(line: bytes | None, *, location: str) -> dict[str, Any] | None:
    if not line:
        return None
    objects = builtins.list(parse_jsonl(line + b"\n", location=location))
    return objects[-1] if objects else None


def _last_readable_record(path: Path) -> dict[str, Any] | None:
    """The last record that parses in ``path`` (called under the append lock, the tail already cut)."""
    records, problems = scan_jsonl(path.read_bytes())
    _log.warning(
        "ledger %s has %d unreadable line(s); chaining to the last readable record", path, len(problems)
    )
    return records[-1] if records else None


@dataclass
class _KeyIndex:
    """Completed records by idempotency key, and open intents (STARTED records no later record with
    their key ended), built from the first ``offset`` bytes of a file."""

    offset: int = 0
    completed: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: dict[str, dict[str, Any]] = field(default_factory=dict)


class JsonlLedgerStore(LedgerStore):
    """Ledger store writing ``<base_dir>/ledger_<run_id>.jsonl``.

    Args:
        base_dir: the directory (created when missing); it may be shared with a ``JsonFileRunStore``.
        index_size: how many runs' idempotency indexes are kept in memory (least recently used go).
    """

    def __init__(self, base_dir: str | os.PathLike[str], *, index_size: int = 1024) -> None:
        self._dir = Path(base_dir).expanduser().resolve()
        self._dir.mkdir(parents=True, exist_ok=True)
        self._indexes: OrderedDict[str, _KeyIndex] = OrderedDict()
        self._index_size = max(int(index_size), 1)
        self._lock = threading.Lock()

    @property
    def base_dir(self) -> Path:
        """The directory holding the ledger files."""
        return self._dir

    def _path(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or "\\" in run_id or run_id in (".", ".."):
            raise InvalidRecordError(
                f"invalid run id for a ledger file name: {run_id!r}", run_id=run_id or None
            )
        return self._dir / f"ledger_{run_id}.jsonl"

    def _run_path(self, records: Sequence[StepRecord], operation: str) -> Path:
        """The ledger file of the one run ``records`` belong to.

        Raises:
            InvalidRecordError: records of different runs, or no usable ``run_id``.
        """
        run_id = records[0].run_id
        if any(r.run_id != run_id for r in records):
            raise InvalidRecordError(f"{operation} takes records of one run only", run_id=run_id)
        return self._path(run_id)

    def append(self, record: StepRecord) -> None:
        """Append one record (one line, fsynced before returning).

        Raises:
            InvalidRecordError (ValueError): the record has no usable ``run_id``.
            NotJsonSafeError (TypeError): the record cannot be encoded; nothing is written.
        """
        self.append_many([record])

    def append_many(self, records: Sequence[StepRecord]) -> None:
        """Append several records of one run with a single write and fsync.

        Raises:
            InvalidRecordError: records of different runs, or no usable ``run_id``.
            NotJsonSafeError: a record cannot be encoded; nothing is written.
        """
        if not records:
            return
        path = self._run_path(records, "append_many")
        data = "".join(encode_record(r) + "\n" for r in records).encode("utf-8")
        durable_append(path, data)

    def append_linked(self, records: Sequence[StepRecord], link: Link) -> None:
        """Append records of one run, calling ``link(previous_record_dict, record)`` before each while the
        file is locked, so the previous record cannot change meanwhile (hash chaining).

        Raises:
            InvalidRecordError: records of different runs, or no usable ``run_id``.
            NotJsonSafeError: a record cannot be encoded; nothing is written.
        """
        if not records:
            return
        path = self._run_path(records, "append_linked")

        def build(last_line: bytes | None) -> bytes:
            last = _last_object(last_line, location=str(path))
            if last is None and last_line and last_line.strip():
                last = _last_readable_record(path)  # the last complete line is unreadable
            lines = []
            for record in records:
                link(last, record)
                lines.append(encode_record(record) + "\n")
                last = record.to_dict()
            return "".join(lines).encode("utf-8")

        durable_append(path, build)

    def list(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """Every complete record of ``run_id`` in append order (``[]`` for an unknown run)."""
        path = self._path(run_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        return builtins.list(parse_jsonl(data, location=str(path)))

    def list_with_problems(
        self, run_id: str
    ) -> tuple[builtins.list[dict[str, Any]], builtins.list[dict[str, Any]]]:
        """Like :meth:`list`, plus the unreadable complete lines (see :func:`scan_jsonl`)."""
        path = self._path(run_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return [], []
        return scan_jsonl(data)

    def find_completed(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The first COMPLETED record with ``idempotency_key``, from an index refreshed incrementally."""
        with self._lock:
            return self._index(run_id).completed.get(idempotency_key)

    def find_started(self, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The STARTED record with ``idempotency_key`` that no later record ended (same index)."""
        with self._lock:
            return self._index(run_id).started.get(idempotency_key)

    def _index(self, run_id: str) -> _KeyIndex:
        """The refreshed key index of ``run_id`` (called under ``self._lock``)."""
        path = self._path(run_id)
        index = self._indexes.setdefault(run_id, _KeyIndex())
        self._indexes.move_to_end(run_id)
        while len(self._indexes) > self._index_size:
            self._indexes.popitem(last=False)
        self._refresh(path, index)
        return index

    def _refresh(self, path: Path, index: _KeyIndex) -> None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            index.offset, index.completed, index.started = 0, {}, {}
            return
        if size < index.offset:
            index.offset, index.completed, index.started = 0, {}, {}
        if size == index.offset:
            return
        with path.open("rb") as handle:
            handle.seek(index.offset)
            chunk = handle.read(size - index.offset)
        complete = chunk.rfind(b"\n") + 1
        for record in parse_jsonl(chunk[:complete], location=str(path)):
            key = record.get("idempotency_key")
            if not key:
                continue
            status = record.get("status")
            if status == "completed":
                index.completed.setdefault(str(key), record)
            if status == "started":
                index.started[str(key)] = record
            else:
                index.started.pop(str(key), None)
        index.offset += complete

    def count(self, run_id: str) -> int:
        """How many non-blank complete lines the run's ledger has."""
        path = self._path(run_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return 0
        end = data.rfind(b"\n") + 1
        return sum(1 for line in data[:end].split(b"\n") if line.strip())

    def count_many(self, run_ids: Sequence[str]) -> dict[str, int]:
        """``{run_id: count}`` for each id that has records; unknown ids (no records) are omitted."""
        counts = {run_id: self.count(run_id) for run_id in run_ids}
        return {run_id: n for run_id, n in counts.items() if n > 0}
