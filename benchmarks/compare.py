"""Run the portable workloads on this checkout and on another implementation, alternating; print ratios.

Usage::

    python benchmarks/compare.py --compare /tmp/upstream/bin/python [--only W1,W4] [--backends memory]
    python benchmarks/run.py --compare /tmp/upstream          # a venv directory works too

``--compare`` names the other interpreter (or a venv directory: its ``bin/python`` is used), with the
other ``abstractruntime`` installed in it.  Each (workload, backend) pair runs ``--rounds`` times
(default 3) per side, each run a fresh subprocess of ``benchmarks/workloads.py``; the two sides
alternate, and which side goes first alternates too, so drift of the machine hits both.  One JSON line
per pair: the median headline figure of each side, every round's value, and ``ratio`` = ours / theirs
(higher is better for ours; for ``flatness``, lower is better and the ratio is theirs / ours).

Our side runs ``sys.executable`` with ``PYTHONPATH=<checkout>/src``; theirs runs ``-I`` (isolated: no
``PYTHONPATH``, no script directory, no user site) from a temporary working directory, so neither can
import the other's package.  Each line reports the package directory each side imported.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS_PY = Path(__file__).resolve().parent / "workloads.py"
WORKLOADS = ("W1", "W2", "W4", "W4-external", "W5")
BACKENDS = ("memory", "files", "sqlite_full", "sqlite_normal")
# The figures compared per workload: (key, higher_is_better).
HEADLINES: dict[str, tuple[tuple[str, bool], ...]] = {
    "W1": (("steps_per_s", True),),
    "W2": (("starts_per_s", True), ("resumes_per_s", True)),
    "W4": (("wakes_per_s", True), ("completes_per_s", True)),
    "W4-external": (("wakes_per_s", True),),
    "W5": (("steps_per_s", True), ("flatness", False)),
}


def interpreter(path: str) -> str:
    """The Python executable for ``path``: itself, or ``<path>/bin/python`` for a venv directory.

    Raises:
        SystemExit: no such interpreter.
    """
    candidate = Path(path)
    if candidate.is_dir():
        candidate = candidate / "bin" / "python"
    if not candidate.exists():
        raise SystemExit(f"--compare: no Python interpreter at {candidate}")
    return str(candidate)


def run_side(python: str, ours: bool, workload: str, backend: str, quick: bool) -> dict[str, Any]:
    """One subprocess of ``workloads.py``; returns its JSON line.

    Raises:
        RuntimeError: the subprocess failed or printed no JSON line.
    """
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    command = [python]
    if ours:
        env["PYTHONPATH"] = str(ROOT / "src")
    else:
        command.append("-I")
    command += [str(WORKLOADS_PY), workload, backend] + (["--quick"] if quick else [])
    with tempfile.TemporaryDirectory(prefix="ar-compare-") as cwd:
        child = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        side = "ours" if ours else "theirs"
        raise RuntimeError(
            f"{workload}/{backend} ({side}) exited {child.returncode}:\n{child.stderr[-2000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def compare_pair(
    other: str, workload: str, backend: str, *, rounds: int, quick: bool
) -> list[dict[str, Any]]:
    """Alternate ``rounds`` runs per side; returns one summary dict per headline figure."""
    samples: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for index in range(rounds):
        order = (True, False) if index % 2 == 0 else (False, True)
        for ours in order:
            python = sys.executable if ours else other
            samples[ours].append(run_side(python, ours, workload, backend, quick))
    summaries = []
    for key, higher_is_better in HEADLINES[workload]:
        mine = [float(s[key]) for s in samples[True]]
        theirs = [float(s[key]) for s in samples[False]]
        ours_median, theirs_median = statistics.median(mine), statistics.median(theirs)
        ratio = ours_median / theirs_median if higher_is_better else theirs_median / ours_median
        summaries.append(
            {
                "bench": workload,
                "backend": backend,
                "figure": key,
                "ours": round(ours_median, 3),
                "theirs": round(theirs_median, 3),
                "ratio": round(ratio, 2),
                "ratio_means": "ours/theirs" if higher_is_better else "theirs/ours (lower is better)",
                "ours_rounds": mine,
                "theirs_rounds": theirs,
                "synchronous": samples[True][0].get("synchronous"),
                "theirs_synchronous": samples[False][0].get("synchronous"),
                "ours_package": samples[True][0]["impl"]["package"],
                "theirs_package": samples[False][0]["impl"]["package"],
                "theirs_version": samples[False][0]["impl"]["version"],
                "python": samples[True][0]["python"],
                "sqlite": samples[True][0]["sqlite"],
            }
        )
    return summaries


def parse_list(text: str | None, allowed: tuple[str, ...], what: str) -> list[str]:
    """``a,b`` → ``["a", "b"]`` (case-insensitive; all of ``allowed`` when empty); SystemExit on an unknown item."""
    if not text:
        return list(allowed)
    canonical = {item.lower(): item for item in allowed}
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item.lower() not in canonical]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return [canonical[item.lower()] for item in items]


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run every pair, print one JSON line per headline figure."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compare", required=True, help="the other interpreter, or its venv directory")
    parser.add_argument("--only", help=f"comma-separated workloads ({','.join(WORKLOADS)})")
    parser.add_argument("--backends", help=f"comma-separated backends ({','.join(BACKENDS)})")
    parser.add_argument("--rounds", type=int, default=3, help="runs per side (median reported)")
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    args = parser.parse_args(argv)
    other = interpreter(args.compare)
    workloads = parse_list(args.only, WORKLOADS, "workload")
    backends = parse_list(args.backends, BACKENDS, "backend")
    for workload in workloads:
        for backend in backends:
            for summary in compare_pair(
                other, workload, backend, rounds=max(args.rounds, 1), quick=args.quick
            ):
                print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
