"""``benchmarks/run.py --only GROUP --quick`` runs and prints the group-commit figures (no timing is
asserted: only that every line is there and the WAL volume per step falls when steps are grouped)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def test_group_workload_prints_steps_and_wal_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--only", "GROUP", "--backends", "sqlite_full"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    steps = {(x["grouped"], x["in_flight"]): x for x in lines if x["bench"] == "GROUP-steps"}
    assert set(steps) == {(g, n) for g in (False, True) for n in (1, 8, 64)}
    assert all(x["steps_per_s"] > 0 and x["cpu_us_per_step"] > 0 for x in steps.values())
    assert steps[(True, 64)]["commits_per_step"] == round(1 / 64, 4)
    wal = {x["case"]: x["wal_frames_per_step"] for x in lines if x["bench"] == "GROUP-wal"}
    assert len(wal) == 3 and all(v > 0 for v in wal.values())
    assert wal["linear, groups of 64"] < wal["linear, one commit per step"]
