"""Loggers that import :mod:`logging` on first use, so ``import abstractruntime`` does not load it.

``LazyLogger("abstractruntime.engine")`` answers ``debug``/``info``/``warning``/``error``/``exception``
like ``logging.getLogger(name)`` (it forwards to that very logger, so handlers, levels and pytest's
``caplog`` see the usual names) and reports the caller's file and line, not its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging

__all__ = ["LazyLogger"]


class LazyLogger:
    """A named logger resolved on its first call (see the module docstring)."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: logging.Logger | None = None

    @property
    def logger(self) -> logging.Logger:
        """The real ``logging.Logger`` (imports :mod:`logging` the first time)."""
        if self._logger is None:
            import logging

            self._logger = logging.getLogger(self._name)
        return self._logger

    def _log(self, level: str, msg: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        kwargs["stacklevel"] = int(kwargs.get("stacklevel", 1)) + 2  # skip this frame and the method's
        getattr(self.logger, level)(msg, *args, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """``Logger.debug``."""
        self._log("debug", msg, args, kwargs)

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """``Logger.info``."""
        self._log("info", msg, args, kwargs)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """``Logger.warning``."""
        self._log("warning", msg, args, kwargs)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """``Logger.error``."""
        self._log("error", msg, args, kwargs)

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """``Logger.exception`` (``exc_info`` on by default)."""
        kwargs.setdefault("exc_info", True)
        self._log("error", msg, args, kwargs)
