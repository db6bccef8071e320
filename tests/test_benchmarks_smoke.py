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
