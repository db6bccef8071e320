"""Import-cost benchmark: prints figures, one JSON object per line; asserts no timings.

Usage::

    python benchmarks/import_cost.py [--runs 5] [--only root,models,...]

Each target is one import statement, run ``--runs`` times (default 5), each time in a fresh interpreter
(``python -c``) with this checkout's ``src`` first on ``PYTHONPATH``.  Per target:

* ``import_ms_best`` / ``import_ms_median`` — wall time of the import statement alone, measured inside
  the child with ``time.perf_counter`` (best and median of the runs).
* ``process_ms_best`` — wall time of the whole child process (interpreter start-up, the import, exit),
  measured by the parent.
* ``modules_new`` — modules the import added to ``sys.modules`` (standard library included);
  ``modules_abstractruntime`` — how many of those are this package's; ``modules_total`` — the size of
  ``sys.modules`` afterwards.  Module counts do not depend on the machine's load; times do.

Standard library only; runs from a checkout without installing.  See docs/performance.md, "Import cost".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

TARGETS: dict[str, str] = {
    "root": "import abstractruntime",
    "models": "import abstractruntime.core.models",
    "in_memory_store": "from abstractruntime.storage import InMemoryRunStore",
    "scheduler": "from abstractruntime.scheduler import Scheduler",
    "sqlite_store": "from abstractruntime.storage.sqlite import SqliteRunStore",
    "all_root_names": "import abstractruntime; [getattr(abstractruntime, n) for n in abstractruntime.__all__]",
}

CHILD = """\
import sys, time
before = set(sys.modules)
t0 = time.perf_counter()
exec(compile({statement!r}, "<import>", "exec"))
elapsed = time.perf_counter() - t0
new = set(sys.modules) - before
import json
print(json.dumps({{
    "import_s": elapsed,
    "new": len(new),
    "ours": sum(1 for m in new if m == "abstractruntime" or m.startswith("abstractruntime.")),
    "total": len(sys.modules),
}}))
"""


def child_env() -> dict[str, str]:
    """The environment of a child: this checkout's ``src`` ahead of any installed copy."""
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def measure(statement: str, runs: int) -> dict[str, Any]:
    """Run ``statement`` in ``runs`` fresh interpreters; return the figures described in the module doc.

    Raises:
        RuntimeError: a child failed (its stderr is in the message).
    """
    import_s: list[float] = []
    process_s: list[float] = []
    counts: dict[str, int] = {}
    env = child_env()
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CHILD.format(statement=statement)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        process_s.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise RuntimeError(f"{statement!r} failed: {done.stderr.strip()}")
        figures = json.loads(done.stdout)
        import_s.append(figures["import_s"])
        counts = {"new": figures["new"], "ours": figures["ours"], "total": figures["total"]}
    return {
        "import_ms_best": round(min(import_s) * 1000, 1),
        "import_ms_median": round(statistics.median(import_s) * 1000, 1),
        "process_ms_best": round(min(process_s) * 1000, 1),
        "modules_new": counts["new"],
        "modules_abstractruntime": counts["ours"],
        "modules_total": counts["total"],
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and print one JSON line per target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per target (default 5)")
    parser.add_argument("--only", default=",".join(TARGETS), help=f"any of {','.join(TARGETS)} (default all)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    for name in names:
        if name not in TARGETS:
            parser.error(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
    for name in names:
        line = {
            "bench": "import",
            "target": name,
            "statement": TARGETS[name],
            **measure(TARGETS[name], args.runs),
        }
        line["python"] = sys.version.split()[0]
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
