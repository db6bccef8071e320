"""Budgets of restricted code-node runs."""

from __future__ import annotations

DEFAULT_MAX_STEPS = 2_000_000
"""Traced line/call events a restricted run may use."""
DEFAULT_TIMEOUT_S = 10.0
"""Wall-clock seconds a restricted run may use."""
MAX_SEQUENCE_LEN = 10_000_000
"""Largest string/list/tuple that ``*``/``+`` may build, and the longest ``range``."""
