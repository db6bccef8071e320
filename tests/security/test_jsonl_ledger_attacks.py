"""Damaged JSONL ledgers, replayed.

* A garbage line in the *middle* of ``ledger_<id>.jsonl`` (binary, broken JSON, nesting too deep, a
  5,000-digit number, a non-object) is reported by ``verify_ledger_store`` and ``abstractruntime ledger
  verify`` at its line and record index — never verified around, never a crash.
* A torn *tail* (a partial last line from a crash) is tolerated on read; the next append cuts it and
  chains to the last good record, and the ledger verifies afterwards.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from abstractruntime.cli.main import cli
from abstractruntime.core.models import StepRecord, StepStatus
from abstractruntime.storage.json_files import JsonlLedgerStore
from abstractruntime.storage.ledger_chain import (
    HashChainedLedgerStore,
    verify_ledger_chain,
    verify_ledger_store,
)

RUN = "run-1"
ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "examples" / "flows" / "ask_and_answer.json"
RESUME_RE = re.compile(r"resume ([0-9a-f-]{36})")

GARBAGE: dict[str, bytes] = {
    "binary": b"\x00\xff\xfe\x80garbage\x9c{{",
    "broken_json": b'{"run_id": "run-1", "step_id": "x", "sta',
    "deep_nesting": b"[" * 200_000 + b"]" * 200_000,
    "huge_integer": b'{"n": ' + b"7" * 5000 + b"}",
    "json_array": b"[1, 2, 3]",
    "object_then_junk": b'{"a": 1} trailing junk',
}


def _chained_ledger(tmp_path: Path, n: int = 5) -> tuple[JsonlLedgerStore, Path]:
    inner = JsonlLedgerStore(tmp_path)
    chained = HashChainedLedgerStore(inner)
    for i in range(n):
        chained.append(StepRecord(run_id=RUN, step_id=f"s{i}", node_id=f"n{i}", status=StepStatus.COMPLETED))
    return inner, tmp_path / f"ledger_{RUN}.jsonl"


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _write_lines(path: Path, lines: list[bytes], tail: bytes = b"") -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines) + tail)


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_line_in_the_middle_is_reported_at_its_line(tmp_path: Path, kind: str) -> None:
    store, path = _chained_ledger(tmp_path)
    lines = _lines(path)
    _write_lines(path, [*lines[:2], GARBAGE[kind], *lines[2:]])  # an extra line between records 1 and 2

    records = store.list(RUN)  # reading never crashes and skips the line ...
    assert [r["step_id"] for r in records] == ["s0", "s1", "s2", "s3", "s4"]
    assert verify_ledger_chain(records)["ok"] is True  # ... so the chain alone cannot see it
    report = verify_ledger_store(HashChainedLedgerStore(store), RUN)  # found through the decorator
    assert report["ok"] is False and report["first_bad_index"] == 2
    assert report["errors"] == [
        {"index": 2, "type": "unreadable_line", "line": 3, "error": report["errors"][0]["error"]}
    ]


def test_record_overwritten_with_garbage_is_reported_with_the_broken_link(tmp_path: Path) -> None:
    store, path = _chained_ledger(tmp_path)
    lines = _lines(path)
    lines[2] = b"#" * len(lines[2])
    _write_lines(path, lines)
    report = verify_ledger_store(store, RUN)
    assert report["first_bad_index"] == 2 and report["count"] == 4
    assert [(e["index"], e["type"]) for e in report["errors"]] == [
        (2, "unreadable_line"),
        (2, "prev_hash_mismatch"),
    ]
    assert report["errors"][0]["line"] == 3


@pytest.mark.parametrize("tail", [b'{"run_id": "run-1", "step_id": "torn", "sta', b"\x00\x00\x00", b"{}"])
def test_torn_tail_is_tolerated_then_cut_and_the_chain_continues(tmp_path: Path, tail: bytes) -> None:
    store, path = _chained_ledger(tmp_path, n=3)
    good = store.list(RUN)
    _write_lines(path, _lines(path), tail=tail)  # a crash mid-append: bytes without a final newline

    assert store.list(RUN) == good
    assert verify_ledger_store(store, RUN)["ok"] is True  # a torn tail is not a problem
    record = StepRecord(run_id=RUN, step_id="after", node_id="n", status=StepStatus.COMPLETED)
    HashChainedLedgerStore(JsonlLedgerStore(tmp_path)).append(record)

    assert record.prev_hash == good[-1]["record_hash"]  # linked to the last good record
    after = store.list(RUN)
    assert after[:3] == good and after[3]["step_id"] == "after"
    report = verify_ledger_store(store, RUN)
    assert report["ok"] is True and report["count"] == 4
    data = path.read_bytes()
    assert data.endswith(b"\n") and [json.loads(line) for line in data.splitlines()] == after


def test_append_after_a_garbage_last_line_chains_to_the_last_readable_record(tmp_path: Path) -> None:
    store, path = _chained_ledger(tmp_path, n=3)
    good = store.list(RUN)
    _write_lines(path, [*_lines(path), b"not json at all"])  # complete line: not a torn tail
    record = StepRecord(run_id=RUN, step_id="after", node_id="n", status=StepStatus.COMPLETED)
    HashChainedLedgerStore(JsonlLedgerStore(tmp_path)).append(record)

    assert record.prev_hash == good[-1]["record_hash"]  # never None: the chain does not fork
    report = verify_ledger_store(store, RUN)
    assert [(e["index"], e["type"], e["line"]) for e in report["errors"]] == [(3, "unreadable_line", 4)]


def test_idempotency_lookup_survives_hostile_lines(tmp_path: Path) -> None:
    store, path = _chained_ledger(tmp_path, n=2)
    _write_lines(path, [*_lines(path), GARBAGE["deep_nesting"], GARBAGE["huge_integer"]])
    done = StepRecord(run_id=RUN, step_id="k", node_id="n", status=StepStatus.COMPLETED)
    done.idempotency_key = "key-1"
    store.append(done)
    found = JsonlLedgerStore(tmp_path).find_completed(RUN, "key-1")
    assert found is not None and found["step_id"] == "k"


def test_cli_ledger_verify_reports_a_garbage_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABSTRACTRUNTIME_STORE", raising=False)
    store = (tmp_path / "store").as_uri()

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--store", store, *args], catch_exceptions=False)

    started = invoke("run", str(FLOW), "--input", "request=hi", "--detach")
    match = RESUME_RE.search(started.output)
    assert match, started.output
    run_id = match.group(1)
    assert invoke("ledger", "verify", run_id).exit_code == 0

    path = tmp_path / "store" / f"ledger_{run_id}.jsonl"
    lines = _lines(path)
    assert len(lines) >= 2
    _write_lines(path, [lines[0], b"\xff garbage \xfe", *lines[1:]])
    result = invoke("ledger", "verify", run_id, "--json")
    assert result.exit_code == 4
    report = json.loads(result.output)
    assert report["ok"] is False and report["first_bad_index"] == 1
    assert report["errors"][0] == {
        "index": 1,
        "type": "unreadable_line",
        "line": 2,
        "error": "not valid UTF-8",
    }
    text = invoke("ledger", "verify", run_id)
    assert text.exit_code == 4 and "unreadable_line" in text.output
