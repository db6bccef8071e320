"""JSON encoding shared by the durable backends: one place that checks the JSON invariant.

Encoding tries ``json.dumps`` first (one fast pass in the common case) and, only when it fails,
walks the value to name the offending path in a :class:`~abstractruntime.errors.NotJsonSafeError`.
Decoding turns unreadable data into :class:`~abstractruntime.errors.CorruptRunError` naming the run
and where the data came from.  Backends encode *before* they write anything, so a value that cannot
be stored never leaves a half-written step behind.
"""

from __future__ import annotations

import json
from typing import Any

from ..core.jsonable import find_non_json_safe
from ..core.models import RunState, StepRecord
from ..errors import CorruptRunError, NotJsonSafeError

__all__ = ["decode_json", "decode_run", "encode_json", "encode_record", "encode_run", "run_from_data"]

# One encoder for every compact encode (``json.dumps`` with options builds a new one per call).
_COMPACT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def encode_json(value: Any, *, path: str, run_id: str | None = None, indent: int | None = None) -> str:
    """Compact (or indented) JSON text of ``value`` with non-ASCII kept as is.

    Raises:
        NotJsonSafeError (TypeError): ``value`` holds something JSON cannot represent; ``path``
            prefixes the reported location (for example ``run`` or ``ledger``).
    """
    try:
        if indent is None:
            return _COMPACT(value)
        return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=indent)
    except (TypeError, ValueError) as exc:
        found = find_non_json_safe(value, path)
        where, type_name = found if found is not None else (path, type(exc).__name__)
        raise NotJsonSafeError(path=where, type_name=type_name, run_id=run_id) from exc


def encode_run(run: RunState, *, indent: int | None = None) -> str:
    """The persisted JSON text of ``run`` (the 13-key object of SPEC §2.3).

    Raises:
        NotJsonSafeError: ``vars``, ``output`` or the wait details are not JSON-safe.
    """
    return encode_json(run.to_dict(), path="run", run_id=run.run_id, indent=indent)


def encode_record(record: StepRecord) -> str:
    """One ledger line: compact JSON of ``asdict(record)``.

    Raises:
        NotJsonSafeError: the effect payload or result is not JSON-safe.
    """
    return encode_json(record.to_dict(), path="ledger", run_id=record.run_id)


def decode_json(text: str | bytes, *, run_id: str | None, location: str) -> Any:
    """Parse JSON text read from ``location``.

    Raises:
        CorruptRunError (ValueError): the text is not valid JSON, or not JSON Python can read (an integer
            over the interpreter's digit limit, nesting deeper than the recursion limit).
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CorruptRunError(
            f"unreadable JSON at {location}: {exc}", run_id=run_id, location=location
        ) from exc


def decode_run(text: str | bytes, *, run_id: str | None, location: str) -> RunState:
    """Rebuild a RunState from JSON text read from ``location``.

    Raises:
        CorruptRunError (ValueError): the text is not JSON or not a valid run object.
    """
    return run_from_data(
        decode_json(text, run_id=run_id, location=location), run_id=run_id, location=location
    )


def run_from_data(data: Any, *, run_id: str | None, location: str) -> RunState:
    """Rebuild a RunState from an already decoded run object read from ``location``.

    Raises:
        CorruptRunError (ValueError): ``data`` is not a valid run object.
    """
    try:
        return RunState.from_dict(data)
    except CorruptRunError as exc:
        raise CorruptRunError(f"{exc} (at {location})", run_id=run_id, location=location) from exc
