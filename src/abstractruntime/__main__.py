"""``python -m abstractruntime``: the command line (needs the ``cli`` extra)."""

from __future__ import annotations

import sys

from abstractruntime.errors import MissingExtraError


def _run() -> int:
    try:
        from abstractruntime.cli.main import main
    except MissingExtraError as exc:
        print(f"abstractruntime: {exc}", file=sys.stderr)
        return 1
    main()
    return 0


if __name__ == "__main__":
    sys.exit(_run())
