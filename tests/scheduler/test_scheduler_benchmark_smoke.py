"""benchmarks/scheduler.py --quick runs and prints parseable positive figures (no timing thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "scheduler.py"
FIGURES = (
    "runs",
    "batch_size",
    "park_per_s",
    "wakeups_per_s",
    "wake_s",
    "delay_ms_p50",
    "delay_ms_p95",
    "delay_ms_max",
    "poll_cycles",
    "due_queries",
)


def test_quick_scheduler_benchmark_prints_positive_figures() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], check=False, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert {line["backend"] for line in lines} == {"memory", "sqlite_full"}
    for line in lines:
        assert line["bench"] == "scheduler-wake"
        assert line["runs"] == 1000
        assert line["python"] and line["sqlite"]
        for key in FIGURES:
            value = line[key]
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, line)
            assert value > 0, (key, line)
        assert line["delay_ms_p50"] <= line["delay_ms_p95"] <= line["delay_ms_max"]
