"""Typed error raised when a VisualFlow ``code`` node (or an expression) cannot be run."""

from __future__ import annotations

from typing import Literal

from abstractruntime.errors import AbstractRuntimeError

__all__ = ["CodeNodeError", "CodeNodeErrorKind"]

CodeNodeErrorKind = Literal["syntax", "forbidden", "budget", "missing_function", "runtime"]


class CodeNodeError(AbstractRuntimeError, ValueError):
    """A code node failed: bad syntax, a construct the sandbox refuses, an exhausted budget, or an error
    raised by the node's own code.

    Attributes:
        kind: ``syntax``, ``forbidden``, ``budget``, ``missing_function`` or ``runtime``.
        node_id: the VisualFlow node, when the caller passed it.
        run_id: the run, when the caller passed it.
    """

    kind: CodeNodeErrorKind
    node_id: str | None

    def __init__(
        self,
        message: str,
        *,
        kind: CodeNodeErrorKind = "runtime",
        node_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message, run_id=run_id)
        self.kind = kind
        self.node_id = node_id
