"""``TraceCache``: bounded by runs and by trace entries held, with LRU eviction."""

from __future__ import annotations

from abstractruntime.storage.sqlite_traces import TraceCache, _NodeRows


def _nodes(entries: int) -> dict[str, _NodeRows]:
    return {"n": _NodeRows([{"i": i} for i in range(entries)], 1)}


def test_many_runs_with_short_traces_all_fit() -> None:
    cache = TraceCache(runs=4096, entries=20_000)
    for i in range(1000):
        cache.remember(f"r{i}", 1, 0, _nodes(1))
    assert all(cache.get(f"r{i}", 1, 0) is not None for i in range(1000))


def test_long_traces_are_evicted_by_entries_held_oldest_first() -> None:
    cache = TraceCache(runs=4096, entries=250)
    for i in range(4):
        cache.remember(f"r{i}", 1, 0, _nodes(100))
    assert cache.get("r0", 1, 0) is None and cache.get("r1", 1, 0) is None
    assert cache.get("r2", 1, 0) is not None and cache.get("r3", 1, 0) is not None
    cache.remember("r2", 2, 0, _nodes(10))  # replacing an entry gives its weight back
    cache.remember("r4", 1, 0, _nodes(100))
    assert cache.get("r2", 2, 0) is not None and cache.get("r3", 1, 0) is not None
    cache.forget("r3")
    assert cache.get("r3", 1, 0) is None


def test_an_entry_is_valid_for_its_revision_and_epoch_only() -> None:
    cache = TraceCache(runs=2)
    cache.remember("a", 3, 7, _nodes(1))
    assert cache.get("a", 3, 7) is not None
    assert cache.get("a", 4, 7) is None and cache.get("a", 3, 8) is None and cache.get("a", None, 7) is None
    cache.remember("b", 1, 7, None)
    cache.remember("c", 1, 7, None)
    assert cache.get("a", 3, 7) is None  # the run limit evicts the oldest
