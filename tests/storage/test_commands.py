"""Command inbox stores (SPEC §7.4 commands tables, §7.5): one behaviour suite over every backend."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.errors import CorruptRunError
from abstractruntime.storage.commands import (
    CommandAppendResult,
    CommandCursorStore,
    CommandRecord,
    CommandStore,
    InMemoryCommandCursorStore,
    InMemoryCommandStore,
    InvalidCommandError,
    JsonFileCommandCursorStore,
    JsonlCommandStore,
)
from abstractruntime.storage.sqlite_commands import SqliteCommandCursorStore, SqliteCommandStore


class StandInDatabase:
    """The minimal SqliteDatabase interface: per-thread autocommit connections, nested transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=5000")
            self._local.conn = conn
            self._local.depth = 0
            with self._guard:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.depth = 0

    def close(self) -> None:
        with self._guard:
            for conn in self._all:
                conn.close()
            self._all.clear()


class Backend:
    """Opens command stores over one storage location; ``reopen`` builds a fresh store object."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.databases: list[StandInDatabase] = []
        self._memory = InMemoryCommandStore()

    def open(self) -> CommandStore:
        if self.kind == "memory":
            return self._memory
        if self.kind == "jsonl":
            return JsonlCommandStore(self.tmp_path / "inbox")
        db = StandInDatabase(self.tmp_path / "runtime.db")
        self.databases.append(db)
        return SqliteCommandStore(db)

    def close(self) -> None:
        for db in self.databases:
            db.close()


@pytest.fixture(params=["memory", "jsonl", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = Backend(request.param, tmp_path)
    yield b
    b.close()


@pytest.fixture
def store(backend: Backend) -> CommandStore:
    return backend.open()


def cmd(command_id: str, run_id: str = "run-1", type: str = "pause", **payload: Any) -> CommandRecord:
    return CommandRecord(command_id, run_id, type, dict(payload), "2026-01-01T00:00:00+00:00")


# -- behaviour shared by every store ----------------------------------------------------------------


def test_store_satisfies_protocol(store: CommandStore) -> None:
    assert isinstance(store, CommandStore)
    assert store.get_last_seq() == 0
    assert store.list_after(after=0) == ([], 0)


def test_append_assigns_seq_from_one_and_is_idempotent(store: CommandStore) -> None:
    assert store.append(cmd("a")) == CommandAppendResult(accepted=True, duplicate=False, seq=1)
    assert store.append(cmd("b")) == CommandAppendResult(accepted=True, duplicate=False, seq=2)
    again = store.append(cmd("a", type="cancel", reason="other payload"))
    assert again == CommandAppendResult(accepted=False, duplicate=True, seq=1)
    records, cursor = store.list_after(after=0)
    assert [(r.command_id, r.seq, r.type) for r in records] == [("a", 1, "pause"), ("b", 2, "pause")]
    assert cursor == 2
    assert store.get_last_seq() == 2


def test_records_round_trip(store: CommandStore) -> None:
    record = CommandRecord(
        "id-1",
        "run-9",
        "emit_event",
        {"name": "go", "n": [1, 2.5, None, "é"]},
        "2026-02-03T04:05:06+00:00",
        "cli",
    )
    store.append(CommandRecord(**{**record.to_json(), "seq": 42}))  # a caller's seq is ignored
    [got], _ = store.list_after(after=0)
    assert got == CommandRecord(**{**record.to_json(), "seq": 1})
    assert got.to_json() == {
        "command_id": "id-1",
        "run_id": "run-9",
        "type": "emit_event",
        "payload": {"name": "go", "n": [1, 2.5, None, "é"]},
        "ts": "2026-02-03T04:05:06+00:00",
        "client_id": "cli",
        "seq": 1,
    }


def test_list_after_pages_in_seq_order(store: CommandStore) -> None:
    for i in range(7):
        store.append(cmd(f"c{i}", i=i))
    seen: list[int] = []
    cursor = 0
    while True:
        page, next_cursor = store.list_after(after=cursor, limit=3)
        if not page:
            assert next_cursor == cursor
            break
        assert len(page) <= 3
        assert next_cursor == page[-1].seq
        seen += [r.seq for r in page]
        cursor = next_cursor
    assert seen == list(range(1, 8))
    assert [r.payload["i"] for r in store.list_after(after=4)[0]] == [4, 5, 6]
    assert store.list_after(after=7) == ([], 7)
    assert store.list_after(after=100) == ([], 100)
    assert store.list_after(after=2, limit=0) == ([], 2)


def test_empty_command_id_and_ts_are_filled(store: CommandStore) -> None:
    first = store.append(CommandRecord("", "run-1", "pause", {}, ""))
    second = store.append(CommandRecord("", "run-1", "pause", {}, ""))
    assert first.accepted and second.accepted and (first.seq, second.seq) == (1, 2)
    records, _ = store.list_after(after=0)
    ids = [r.command_id for r in records]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert ids[0] != ids[1]
    assert all(r.ts.endswith("+00:00") for r in records)


def test_concurrent_threads_do_not_duplicate(store: CommandStore) -> None:
    ids = [f"t{i}" for i in range(15)]

    def worker(order: list[str]) -> None:
        for command_id in order:
            store.append(cmd(command_id))

    threads = [threading.Thread(target=worker, args=(ids if n % 2 else ids[::-1],)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records, _ = store.list_after(after=0)
    assert sorted(r.command_id for r in records) == sorted(ids)
    assert [r.seq for r in records] == list(range(1, len(ids) + 1))


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (CommandRecord("x", "", "pause", {}, "t"), "run_id"),
        (CommandRecord("x", "   ", "pause", {}, "t"), "run_id"),
        (CommandRecord("x", "run-1", "", {}, "t"), "type"),
        (CommandRecord("x", "run-1", "pause", {"when": object()}, "t"), "payload"),
        (CommandRecord("x", "run-1", "pause", {"n": float("nan")}, "t"), "payload"),
        (CommandRecord("x", "run-1", "pause", ["not", "a", "dict"], "t"), "payload"),  # type: ignore[arg-type]
    ],
)
def test_durable_stores_validate(backend: Backend, record: CommandRecord, field: str) -> None:
    if backend.kind == "memory":
        pytest.skip("the in-memory store does not validate (SPEC §7.5)")
    store = backend.open()
    with pytest.raises(InvalidCommandError) as info:
        store.append(record)
    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    assert info.value.command_id == "x"
    assert info.value.run_id == record.run_id
    assert store.get_last_seq() == 0
    assert store.append(cmd("x")).seq == 1  # the refused id was not recorded


def test_in_memory_store_does_not_validate() -> None:
    store = InMemoryCommandStore()
    assert store.append(CommandRecord("x", "", "", {"o": object()}, "t")).accepted


def test_reopen_keeps_records_and_dedupe(backend: Backend) -> None:
    if backend.kind == "memory":
        pytest.skip("nothing survives the process")
    first = backend.open()
    for i in range(3):
        first.append(cmd(f"c{i}", i=i))
    second = backend.open()
    assert second.get_last_seq() == 3
    assert [r.command_id for r in second.list_after(after=0)[0]] == ["c0", "c1", "c2"]
    assert second.append(cmd("c1")) == CommandAppendResult(accepted=False, duplicate=True, seq=2)
    assert second.append(cmd("c3")).seq == 4
    # the first object sees what the second appended, and dedupes against it
    assert first.append(cmd("c3")) == CommandAppendResult(accepted=False, duplicate=True, seq=4)
    assert first.get_last_seq() == 4
    assert [r.seq for r in first.list_after(after=2)[0]] == [3, 4]


# -- JSONL specifics ---------------------------------------------------------------------------------


def read_lines(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.splitlines()]


def test_jsonl_file_format(tmp_path: Path) -> None:
    store = JsonlCommandStore(tmp_path, filename="inbox.jsonl")
    store.append(CommandRecord("a", "r", "pause", {"k": "v"}, "2026-01-01T00:00:00+00:00", "c"))
    assert store.path == tmp_path / "inbox.jsonl"
    assert read_lines(store.path) == [
        {
            "command_id": "a",
            "run_id": "r",
            "type": "pause",
            "payload": {"k": "v"},
            "ts": "2026-01-01T00:00:00+00:00",
            "client_id": "c",
            "seq": 1,
        }
    ]


@pytest.mark.parametrize("same_object", [False, True])
def test_jsonl_torn_last_line_is_ignored_and_replaced(tmp_path: Path, same_object: bool) -> None:
    store = JsonlCommandStore(tmp_path)
    store.append(cmd("a"))
    store.append(cmd("b"))
    with open(store.path, "ab") as f:
        f.write(b'{"command_id": "torn", "run_id": "run-1", "type": "pa')
    reader = store if same_object else JsonlCommandStore(tmp_path)
    assert reader.get_last_seq() == 2
    assert [r.command_id for r in reader.list_after(after=0)[0]] == ["a", "b"]
    assert reader.append(cmd("torn")) == CommandAppendResult(accepted=True, duplicate=False, seq=3)
    assert [line["command_id"] for line in read_lines(store.path)] == ["a", "b", "torn"]
    fresh = JsonlCommandStore(tmp_path)
    assert [(r.command_id, r.seq) for r in fresh.list_after(after=0)[0]] == [("a", 1), ("b", 2), ("torn", 3)]


def test_jsonl_skips_unreadable_and_repeated_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = JsonlCommandStore(tmp_path)
    store.append(cmd("a"))
    with open(store.path, "ab") as f:
        f.write(b"not json\n\n")
        f.write(json.dumps({**cmd("a").to_json(), "seq": 2}).encode() + b"\n")  # repeated id
        f.write(json.dumps({"seq": 3}).encode() + b"\n")  # missing fields
    reopened = JsonlCommandStore(tmp_path)
    assert "skipping" in caplog.text
    assert [r.command_id for r in reopened.list_after(after=0)[0]] == ["a"]
    assert reopened.append(cmd("b")).seq == 2


def test_jsonl_list_after_reports_a_line_edited_under_it(tmp_path: Path) -> None:
    store = JsonlCommandStore(tmp_path)
    store.append(cmd("a"))
    store.list_after(after=0)
    data = store.path.read_bytes()
    store.path.write_bytes(b"X" + data[1:])  # same size, same inode: the index still points at it
    with pytest.raises(CorruptRunError):
        store.list_after(after=0)


_WORKER = textwrap.dedent(
    """
    import sys
    from abstractruntime.storage.commands import CommandRecord, JsonlCommandStore

    store = JsonlCommandStore(sys.argv[1])
    ids = [f"cmd-{i}" for i in range(int(sys.argv[2]))]
    if sys.argv[3] == "reverse":
        ids.reverse()
    sys.stdin.readline()  # start together
    for command_id in ids:
        store.append(CommandRecord(command_id, "run-1", "pause", {"by": sys.argv[3]}, ""))
    """
)


def test_jsonl_two_processes_append_without_duplicates(tmp_path: Path) -> None:
    count = 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tmp_path), str(count), order],
            stdin=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        for order in ("forward", "reverse")
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.close()
    for proc in procs:
        assert proc.wait(timeout=30) == 0
    lines = read_lines(tmp_path / "commands.jsonl")
    assert [line["seq"] for line in lines] == list(range(1, count + 1))
    assert sorted(line["command_id"] for line in lines) == sorted(f"cmd-{i}" for i in range(count))
    assert JsonlCommandStore(tmp_path).get_last_seq() == count


# -- SQLite specifics --------------------------------------------------------------------------------


def test_sqlite_schema_and_nested_transaction(tmp_path: Path) -> None:
    db = StandInDatabase(tmp_path / "x.db")
    try:
        store = SqliteCommandStore(db)
        conn = db.connection()
        columns = [row["name"] for row in conn.execute("PRAGMA table_info(commands)")]
        assert columns == ["seq", "command_id", "run_id", "type", "payload_json", "ts", "client_id"]
        indexes = [row["name"] for row in conn.execute("PRAGMA index_list(commands)")]
        assert "idx_commands_run_id" in indexes
        with contextlib.suppress(RuntimeError), db.transaction():  # an outer transaction rolls it back
            assert store.append(cmd("a")).seq == 1
            raise RuntimeError("abort")
        assert store.get_last_seq() == 0
        assert store.append(cmd("a")).seq == 1
    finally:
        db.close()


# -- cursor stores -----------------------------------------------------------------------------------


CursorFactory = Callable[[Path, StandInDatabase], CommandCursorStore]

CURSOR_FACTORIES: dict[str, CursorFactory] = {
    "memory": lambda p, db: InMemoryCommandCursorStore(),
    "json": lambda p, db: JsonFileCommandCursorStore(p / "cursors" / "runner.json"),
    "sqlite": lambda p, db: SqliteCommandCursorStore(db),
}


@pytest.mark.parametrize("kind", sorted(CURSOR_FACTORIES))
def test_cursor_store_load_default_and_save(tmp_path: Path, kind: str) -> None:
    db = StandInDatabase(tmp_path / "c.db")
    try:
        cursors = CURSOR_FACTORIES[kind](tmp_path, db)
        assert isinstance(cursors, CommandCursorStore)
        assert cursors.load() == 0
        cursors.save(5)
        assert cursors.load() == 5
        cursors.save(3)  # moving back is allowed (a consumer may replay)
        assert cursors.load() == 3
        for bad in (-1, True, "4"):
            with pytest.raises(ValueError):
                cursors.save(bad)  # type: ignore[arg-type]
        assert cursors.load() == 3
        if kind != "memory":
            assert CURSOR_FACTORIES[kind](tmp_path, db).load() == 3
    finally:
        db.close()


def test_in_memory_cursor_initial() -> None:
    assert InMemoryCommandCursorStore(initial=7).load() == 7


def test_sqlite_cursors_are_per_consumer(tmp_path: Path) -> None:
    db = StandInDatabase(tmp_path / "c.db")
    try:
        runner = SqliteCommandCursorStore(db)
        other = SqliteCommandCursorStore(db, consumer_id="other")
        runner.save(9)
        assert (runner.load(), other.load()) == (9, 0)
        row = db.connection().execute("SELECT * FROM command_cursors").fetchone()
        assert (row["consumer_id"], row["cursor"]) == ("gateway_runner", 9)
        assert row["updated_at"].endswith("+00:00")
        with pytest.raises(ValueError):
            SqliteCommandCursorStore(db, consumer_id="")
    finally:
        db.close()


def test_json_cursor_file_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "cursor.json"
    cursors = JsonFileCommandCursorStore(path)
    cursors.save(12)
    data = json.loads(path.read_text())
    assert set(data) == {"cursor", "updated_at"}
    assert data["cursor"] == 12 and data["updated_at"].endswith("+00:00")
    inode = path.stat().st_ino
    cursors.save(13)
    assert path.stat().st_ino != inode  # a new file was renamed over the old one
    assert json.loads(path.read_text())["cursor"] == 13
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cursor.json"]  # no temp file left


def test_json_cursor_corrupt_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "cursor.json"
    path.write_text('{"cursor": "x"}')
    with pytest.raises(CorruptRunError):
        JsonFileCommandCursorStore(path).load()
    path.write_text("{not json")
    with pytest.raises(CorruptRunError):
        JsonFileCommandCursorStore(path).load()
