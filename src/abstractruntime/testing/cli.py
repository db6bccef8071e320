"""Run the ``abstractruntime`` command in a subprocess, as a user would, for tests of flows and hosts.

::

    from abstractruntime.testing.cli import run_cli

    result = run_cli("--store", "sqlite:///runs.db", "run", "flow.json", "--detach", "--json", cwd=tmp_path)
    assert result.returncode == 5  # waiting
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["CLEARED_ENV", "run_cli"]

CLEARED_ENV = (
    "ABSTRACTRUNTIME_STORE",
    "ABSTRACTRUNTIME_DEBUG",
    "ABSTRACTRUNTIME_LLM_BASE_URL",
    "ABSTRACTRUNTIME_LLM_MODEL",
    "ABSTRACTRUNTIME_LLM_API_KEY",
)
"""Variables of the caller's environment that would change what the command does; they are not passed on."""


def run_cli(
    *args: str,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m abstractruntime ARGS`` with stdin closed and return the finished process.

    Args:
        args: the command line after ``abstractruntime``.
        cwd: the working directory (default: the current one).
        env: variables added to the environment (after :data:`CLEARED_ENV` is removed). Unless given,
            ``ABSTRACTRUNTIME_CONFIG`` points at a missing file in ``cwd`` so a user's config is never read.
        timeout_s: seconds before the command is killed (``subprocess.TimeoutExpired``).

    Returns:
        The ``CompletedProcess`` with ``returncode``, ``stdout`` and ``stderr`` as text.
    """
    where = Path(cwd) if cwd is not None else Path.cwd()
    environment = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    environment["ABSTRACTRUNTIME_CONFIG"] = str(where / "no-abstractruntime-config.toml")
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "abstractruntime", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout_s,
        check=False,
        env=environment,
        cwd=where,
    )
