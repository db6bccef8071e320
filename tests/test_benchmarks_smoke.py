"""The benchmark harness runs and prints parseable figures (no timing thresholds are asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def _numbers(value: object) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return []


def test_quick_benchmark_prints_positive_figures() -> None:
    result = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--only", "W1,CEILING", "--backends", "memory,sqlite_full"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert lines, "the harness printed nothing"
    seen = set()
    for line in lines:
        assert isinstance(line, dict)
        assert line["python"] and line["sqlite"]
        seen.add((line["bench"], line["backend"]))
        figures = {k: v for k, v in line.items() if k not in ("bench", "backend", "python", "sqlite")}
        numbers = [n for v in figures.values() for n in _numbers(v)]
        assert numbers, f"no figures in {line}"
        assert all(n > 0 for n in numbers), line
    assert seen == {
        ("W1-kernel-effect", "memory"),
        ("W1-kernel-effect", "sqlite_full"),
        ("W1-host-effect", "memory"),
        ("W1-host-effect", "sqlite_full"),
        ("CEILING", "sqlite_full"),
        ("ratio", "sqlite_full"),
    }


def _json_lines(args: list[str]) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, str(RUN), *args], check=False, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_quick_fanout_and_long_run_workloads_print_figures() -> None:
    lines = _json_lines(["--quick", "--only", "W4,W5", "--backends", "memory,sqlite_full"])
    figures = {(line["bench"], line["backend"]): line for line in lines}
    assert set(figures) == {
        (bench, backend) for bench in ("W4", "W4-external", "W5") for backend in ("memory", "sqlite_full")
    }
    for line in figures.values():
        numbers = [
            n for key in ("wakes_per_s", "completes_per_s", "steps_per_s") for n in _numbers(line.get(key))
        ]
        assert numbers and all(n > 0 for n in numbers), line
    assert figures[("W5", "sqlite_full")]["synchronous"] == "FULL"
    assert figures[("W4", "memory")]["listeners"] == 200  # every listener was checked resumed exactly once


def test_compare_mode_prints_both_sides_and_a_ratio() -> None:
    # This interpreter stands in for "another implementation": -I still finds the installed package.
    lines = _json_lines(
        ["--compare", sys.executable, "--quick", "--only", "W4-external", "--backends", "memory"]
    )
    assert [line["figure"] for line in lines] == ["wakes_per_s"]
    (line,) = lines
    assert isinstance(line["ours"], float) and isinstance(line["theirs"], float)
    assert line["ours"] > 0 and line["theirs"] > 0 and line["ratio"] > 0
    assert len(line["ours_rounds"]) == len(line["theirs_rounds"]) == 3
