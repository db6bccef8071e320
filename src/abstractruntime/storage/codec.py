"""JSON encoding shared by the durable backends: one place that checks the JSON invariant.

Encoding tries ``json.dumps`` first (one fast pass in the common case) and, only when it fails,
walks the value to name the offending path in a :class:`~abstractruntime.errors.NotJsonSafeError`.
Decoding turns unreadable data into :class:`~abstractruntime.errors.CorruptRunError` naming the run
and where the data came from.  Backends encode *before* they write anything, so a value that cannot
be stored never leaves a half-written step behind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..core.jsonable import find_non_json_safe
from ..core.models import RunState, StepRecord, StepStatus
from ..errors import CorruptRunError, InvalidRecordError, NotJsonSafeError

__all__ = [
    "decode_json",
    "decode_record",
    "decode_run",
    "encode_json",
    "encode_ledger_rows",
    "encode_record",
    "encode_run",
    "one_run_id",
    "run_from_data",
]

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


def encode_ledger_rows(records: Sequence[StepRecord]) -> tuple[str, list[tuple[str, str, str | None]]]:
    """The run id of ``records`` (one run's, non-empty) and each record's ``(record_json, status,
    idempotency_key)``: the columns the SQL ledgers insert.

    Raises:
        InvalidRecordError (ValueError): an empty ``run_id``, or records of different runs.
        NotJsonSafeError (TypeError): a record cannot be encoded.
    """
    run_id = one_run_id(records)
    return run_id, [(encode_record(r), _status(r.status), r.idempotency_key) for r in records]


def one_run_id(records: Sequence[StepRecord]) -> str:
    """The run id shared by ``records`` (non-empty).

    Raises:
        InvalidRecordError (ValueError): an empty ``run_id``, or records of different runs.
    """
    run_id = records[0].run_id
    if not run_id:
        raise InvalidRecordError("ledger record has an empty run_id")
    if any(r.run_id != run_id for r in records):
        raise InvalidRecordError("append_many takes records of one run only", run_id=run_id)
    return run_id


def _status(status: Any) -> str:
    """A record status as its stored text (``StepStatus`` members without the enum lookup)."""
    return status._value_ if type(status) is StepStatus else StepStatus(status).value


def decode_record(text: str | bytes, *, run_id: str, location: str) -> dict[str, Any]:
    """One stored ledger record as a dict; a JSON value that is not an object comes back as
    ``{"run_id", "error": "non_object_ledger_record", "raw"}``.

    Raises:
        CorruptRunError (ValueError): the text is not JSON.
    """
    data = decode_json(text, run_id=run_id, location=location)
    if not isinstance(data, dict):
        data = {"run_id": run_id, "error": "non_object_ledger_record", "raw": json.dumps(data)}
    return data


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
