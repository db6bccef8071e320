"""``python -m abstractruntime``: the command line (needs the ``cli`` extra)."""

from __future__ import annotations

import sys

from abstractruntime.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
