"""Lazy access to the optional ``abstractcore`` package (the ``abstractcore`` extra), shared by the local mode.

Nothing here imports ``abstractcore`` at import time: :func:`import_abstractcore_module` does it on demand and
turns a missing package into :class:`~abstractruntime.errors.MissingExtraError` naming the extra, and
:func:`abstractcore_timeouts` reads AbstractCore's configured timeouts when the package is there.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ...errors import MissingExtraError

__all__ = ["ABSTRACTCORE_EXTRA", "DEFAULT_TIMEOUT_S", "abstractcore_timeouts", "import_abstractcore_module"]

ABSTRACTCORE_EXTRA = "abstractcore"
"""The pip extra that installs AbstractCore: ``pip install 'AbstractRuntime[abstractcore]'``."""
DEFAULT_TIMEOUT_S = 7200.0
"""Seconds an LLM request or a tool call may take when AbstractCore's config manager gives nothing."""


def import_abstractcore_module(name: str = "abstractcore", *, feature: str) -> ModuleType:
    """``importlib.import_module(name)`` for a module of the ``abstractcore`` package.

    Args:
        name: ``abstractcore``, one of its submodules (``abstractcore.tools.registry``) or a package the
            extra installs with it (``pydantic``).
        feature: the class or function that needs it (named in the error).

    Raises:
        MissingExtraError: the package is not installed (``extra == "abstractcore"``).
    """
    root = name.split(".", 1)[0]
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing and missing.split(".", 1)[0] != root:
            raise  # the package is there but one of its own dependencies is broken: show that error
        raise MissingExtraError(feature=feature, extra=ABSTRACTCORE_EXTRA, module=root) from exc


def abstractcore_timeouts() -> tuple[float, float]:
    """``(llm_timeout_s, tool_timeout_s)`` from AbstractCore's config manager (``timeouts.default_timeout`` and
    ``timeouts.tool_timeout``); :data:`DEFAULT_TIMEOUT_S` for each value it cannot give (package missing,
    unreadable config, not a number)."""
    try:
        manager = importlib.import_module("abstractcore.config.manager").get_config_manager()
    except Exception:  # noqa: BLE001 - no package or a broken config file: the documented defaults apply
        return DEFAULT_TIMEOUT_S, DEFAULT_TIMEOUT_S
    return _number(manager, "get_default_timeout"), _number(manager, "get_tool_timeout")


def _number(manager: object, getter: str) -> float:
    try:
        value = getattr(manager, getter)()
    except Exception:  # noqa: BLE001 - an older or broken config manager
        return DEFAULT_TIMEOUT_S
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DEFAULT_TIMEOUT_S
    return float(value)
