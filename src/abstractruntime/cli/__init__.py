"""The ``abstractruntime`` command line (optional extra ``cli``: click, rich, platformdirs).

Nothing here is imported by the kernel: ``import abstractruntime`` stays standard-library only.  The
entry point is :func:`abstractruntime.cli.main.main` (console script ``abstractruntime`` and
``python -m abstractruntime``).
"""

from __future__ import annotations

__all__: list[str] = []
