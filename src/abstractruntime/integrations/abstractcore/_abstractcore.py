"""Lazy access to the optional ``abstractcore`` package (the ``abstractcore`` extra), shared by the local mode.

Nothing here imports ``abstractcore`` at import time: :func:`import_abstractcore_module` does it on demand and
turns a missing package into :class:`~abstractruntime.errors.MissingExtraError` naming the extra, and
:func:`abstractcore_timeouts` reads AbstractCore's configured timeouts when the package is there, and
:func:`llm_error_from_abstractcore` maps AbstractCore's exceptions to the ``LLMCallError`` family.
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType

from ...errors import (
    LLMAuthError,
    LLMCallError,
    LLMConnectionError,
    LLMNotFoundError,
    LLMRateLimitError,
    LLMResponseError,
    MissingExtraError,
)
from .openai_format import error_for_status

__all__ = [
    "ABSTRACTCORE_EXTRA",
    "DEFAULT_TIMEOUT_S",
    "abstractcore_timeouts",
    "import_abstractcore_module",
    "llm_error_from_abstractcore",
]

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
        if root == "abstractcore" and root not in sys.modules:
            return _import_keeping_host_logging(name)
        return importlib.import_module(name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing and missing.split(".", 1)[0] != root:
            raise  # the package is there but one of its own dependencies is broken: show that error
        raise MissingExtraError(feature=feature, extra=ABSTRACTCORE_EXTRA, module=root) from exc


def _import_keeping_host_logging(name: str) -> ModuleType:
    """Import ``name`` and undo what AbstractCore's import does to the *host's* logging.

    Importing ``abstractcore`` (2.18) sets the root logger to ERROR and adds a stdout handler to it, which
    would silence and redirect the warnings of the host application; the root logger's level and handlers
    are put back as they were.
    """
    root_logger = logging.getLogger()
    level, handlers = root_logger.level, list(root_logger.handlers)
    try:
        return importlib.import_module(name)
    finally:
        root_logger.setLevel(level)
        for handler in list(root_logger.handlers):
            if handler not in handlers:
                root_logger.removeHandler(handler)


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


_CONNECTION_ERRORS = (
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "TimeoutException",
    "RemoteProtocolError",
)


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def llm_error_from_abstractcore(exc: BaseException, *, where: str) -> LLMCallError | None:
    """The typed error for an exception raised by AbstractCore, or None when it is not an AbstractCore or
    connection error (a bug, which the caller re-raises as is).

    Args:
        exc: what ``create_llm`` or ``generate`` raised.
        where: the provider and model (or URL) named in the error, e.g. ``"ollama:qwen3:4b"``.

    Mapping: an HTTP ``status_code`` on the error goes through the remote client's status mapping
    (401/403 auth, 404, 429, 5xx, other 4xx); otherwise AuthenticationError → ``LLMAuthError``,
    ModelNotFoundError → ``LLMNotFoundError``, RateLimitError → ``LLMRateLimitError``, an empty completion →
    retryable ``LLMResponseError``, a connection failure anywhere in the cause chain → ``LLMConnectionError``,
    any other AbstractCore error → a non-retryable ``LLMCallError``.
    """
    if isinstance(exc, LLMCallError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    chain = _exception_chain(exc)
    message = f"{where}: {exc}"
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
        retry_after = getattr(exc, "retry_after_s", None)
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        return error_for_status(status, headers, str(exc), url=where)
    if "AuthenticationError" in names:
        return LLMAuthError(message, url=where)
    if "ModelNotFoundError" in names:
        return LLMNotFoundError(message, url=where)
    if "RateLimitError" in names:
        return LLMRateLimitError(message, retry_after_s=getattr(exc, "retry_after_s", None), url=where)
    if "EmptyCompletionError" in names:
        return LLMResponseError(message, retryable=True, url=where)
    timed_out = any("Timeout" in type(e).__name__ or isinstance(e, TimeoutError) for e in chain)
    if timed_out or any(
        type(e).__name__ in _CONNECTION_ERRORS or isinstance(e, ConnectionError) for e in chain
    ):
        return LLMConnectionError(message, timed_out=timed_out, url=where)
    if "AbstractCoreError" in names:
        return LLMCallError(message, retryable=False, url=where)
    return None
