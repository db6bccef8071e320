"""Budgets and host-decided OS limits of code-node runs.

Two layers bound the code of a flow:

* the in-process **budget** of restricted code (a trace hook counting steps and checking the clock, size
  checks on ``+``/``*``/``**``/``<<``/``range``): cheap and gives precise errors, but not a security boundary;
* the **OS limits** of the child process the code runs in (``code_sandbox``): CPU seconds (``RLIMIT_CPU``),
  address space (``RLIMIT_AS``), a wall clock enforced by the parent (``SIGKILL``) and a cap on the size of
  the JSON result.  These hold whatever the code does.

The limits are decided by the host, never by a flow: :class:`CodeLimits` is built from the defaults below,
then the environment variables named in :data:`ENV_VARS`, unless the host installs its own object with
:func:`configure_code_limits` (or passes ``limits=`` to ``run_code_node``).  Nothing in a flow file, its
vars or its payloads is read.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from ..errors import CodeLimitConfigError

__all__ = [
    "DEFAULT_CPU_SECONDS",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_MEMORY_MB",
    "DEFAULT_OUTPUT_MB",
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_WALL_SECONDS",
    "ENV_VARS",
    "MAX_SEQUENCE_LEN",
    "CodeLimits",
    "configure_code_limits",
    "host_code_limits",
]

DEFAULT_MAX_STEPS = 2_000_000
"""Traced line/call events a restricted run may use."""
DEFAULT_TIMEOUT_S = 10.0
"""Wall-clock seconds of the in-process budget of a restricted run (capped at 90% of the wall limit)."""
MAX_SEQUENCE_LEN = 10_000_000
"""Largest string/list/tuple that ``*``/``+`` may build, and the longest ``range``."""

DEFAULT_CPU_SECONDS = 5.0
"""CPU seconds (user + system) one code-node call may use in the child process."""
DEFAULT_MEMORY_MB = 512
"""Address space of the child process, in MiB (``RLIMIT_AS``; the interpreter itself uses ~20 MiB)."""
DEFAULT_WALL_SECONDS = 10.0
"""Wall-clock seconds one call may take, measured by the parent from sending the request."""
DEFAULT_OUTPUT_MB = 16.0
"""Largest JSON-encoded result (and error message) a call may return, in MiB."""

MIN_MEMORY_MB = 64
"""Smallest accepted ``memory_mb``: below it the interpreter cannot start."""

ENV_VARS: dict[str, str] = {
    "cpu_seconds": "ABSTRACTRUNTIME_CODE_CPU_SECONDS",
    "memory_mb": "ABSTRACTRUNTIME_CODE_MEMORY_MB",
    "wall_seconds": "ABSTRACTRUNTIME_CODE_WALL_SECONDS",
    "output_mb": "ABSTRACTRUNTIME_CODE_OUTPUT_MB",
    "max_steps": "ABSTRACTRUNTIME_CODE_MAX_STEPS",
}
"""Field of :class:`CodeLimits` -> the environment variable that overrides its default."""

_INT_FIELDS = frozenset({"memory_mb", "max_steps"})


def _invalid(setting: str, value: object, why: str) -> CodeLimitConfigError:
    return CodeLimitConfigError(
        f"invalid code-node limit {setting}={value!r}: {why}", setting=setting, value=value
    )


@dataclass(frozen=True)
class CodeLimits:
    """Host-decided limits of one code-node call.

    Attributes:
        cpu_seconds: CPU seconds (user + system) of the child per call (a CPU-time timer, backed by
            ``RLIMIT_CPU``).
        memory_mb: address space of the child in MiB (``RLIMIT_AS``), at least 64.
        wall_seconds: wall-clock seconds, enforced by the parent killing the child.
        output_mb: largest JSON result in MiB.
        max_steps: step budget of restricted code (traced lines and calls).

    Raises:
        CodeLimitConfigError (a ValueError): a value that is not a finite positive number (or is too small).
    """

    cpu_seconds: float = DEFAULT_CPU_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB
    wall_seconds: float = DEFAULT_WALL_SECONDS
    output_mb: float = DEFAULT_OUTPUT_MB
    max_steps: int = DEFAULT_MAX_STEPS

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _invalid(item.name, value, "not a number")
            if item.name in _INT_FIELDS and not isinstance(value, int):
                raise _invalid(item.name, value, "not an integer")
            if not math.isfinite(value) or value <= 0:
                raise _invalid(item.name, value, "must be a finite number above 0")
        if self.memory_mb < MIN_MEMORY_MB:
            raise _invalid("memory_mb", self.memory_mb, f"must be at least {MIN_MEMORY_MB} MiB")

    @property
    def memory_bytes(self) -> int:
        """``memory_mb`` in bytes."""
        return self.memory_mb * 1024 * 1024

    @property
    def output_bytes(self) -> int:
        """``output_mb`` in bytes."""
        return int(self.output_mb * 1024 * 1024)

    @property
    def trace_timeout_s(self) -> float:
        """Seconds of the in-process time budget: 90% of the wall limit, so it reports before the kill."""
        return self.wall_seconds * 0.9

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CodeLimits:
        """The defaults overridden by the variables of :data:`ENV_VARS` found in ``environ`` (the process
        environment by default); empty variables are ignored.

        Raises:
            CodeLimitConfigError: a variable that does not parse or is out of range (named in the error).
        """
        env = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        for name, var in ENV_VARS.items():
            raw = env.get(var, "").strip()
            if not raw:
                continue
            try:
                values[name] = int(raw) if name in _INT_FIELDS else float(raw)
            except ValueError:
                raise _invalid(
                    var, raw, "not an integer" if name in _INT_FIELDS else "not a number"
                ) from None
            if not math.isfinite(values[name]) or values[name] <= 0:
                raise _invalid(var, raw, "must be a finite number above 0")
        try:
            return cls(**values)  # type: ignore[arg-type]
        except CodeLimitConfigError as exc:
            var = ENV_VARS.get(exc.setting, exc.setting)
            raise _invalid(var, env.get(var, exc.value), str(exc).rsplit(": ", 1)[-1]) from None


_HOST_LIMITS: CodeLimits | None = None


def configure_code_limits(limits: CodeLimits | None) -> None:
    """Install the limits of every later code-node call of this process (``None``: back to the environment).

    This is a host decision; call it at start-up, before running flows.
    """
    global _HOST_LIMITS  # noqa: PLW0603 - one process-wide host setting, like the environment it replaces
    if limits is not None and not isinstance(limits, CodeLimits):
        raise CodeLimitConfigError(
            "configure_code_limits expects a CodeLimits", setting="limits", value=limits
        )
    _HOST_LIMITS = limits


def host_code_limits() -> CodeLimits:
    """The limits in force: the object given to :func:`configure_code_limits`, else :meth:`CodeLimits.from_env`."""
    return _HOST_LIMITS if _HOST_LIMITS is not None else CodeLimits.from_env()
