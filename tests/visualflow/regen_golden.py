"""Regenerate ``golden_outputs.json`` for ``test_vf_handlerless_flows.py``.  Run by hand, never from tests:

    .venv/bin/python tests/visualflow/regen_golden.py

It runs every handler-free example flow (see ``handlerless_support``) on a fresh SQLite store and writes
``{file name: {status, output, waits[, effects]}}``.  Before committing a regenerated file, read each changed
flow and check that its record is what the flow is meant to produce; a wrong value is a compiler bug to fix,
not a golden value to bless.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from handlerless_support import GOLDEN_PATH, SCENARIOS, handlerless_files, load_by_file, run_flow


def main() -> int:
    by_file = load_by_file()
    files = handlerless_files(by_file)
    missing = sorted(set(files) - set(SCENARIOS))
    if missing:
        print(f"add a scenario for: {missing}", file=sys.stderr)
        return 1
    golden = {}
    for name in files:
        with tempfile.TemporaryDirectory() as tmp:
            golden[name] = run_flow(name, by_file, Path(tmp))
    GOLDEN_PATH.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(golden)} records to {GOLDEN_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
