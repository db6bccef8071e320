"""Typed errors raised when a VisualFlow ``code`` node (or an expression) cannot be run."""

from __future__ import annotations

from typing import Literal

from abstractruntime.errors import AbstractRuntimeError, CodeLimitExceededError

__all__ = ["CodeNodeError", "CodeNodeErrorKind", "CodeNodeLimitError"]

CodeNodeErrorKind = Literal["syntax", "forbidden", "budget", "missing_function", "runtime", "result"]


class CodeNodeError(AbstractRuntimeError, ValueError):
    """A code node failed: bad syntax, a construct the sandbox refuses, an exhausted budget or limit, a
    result that is not JSON, or an error raised by the node's own code.

    Attributes:
        kind: ``syntax``, ``forbidden``, ``budget`` (a budget or OS limit; see :class:`CodeNodeLimitError`),
            ``missing_function``, ``result`` (the result is not JSON-safe) or ``runtime``.
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


class CodeNodeLimitError(CodeNodeError, CodeLimitExceededError):
    """A code node hit a budget or a host-decided OS limit (``kind`` is ``budget``).

    Both a :class:`CodeNodeError` (what callers of ``run_code_node`` catch) and an
    :class:`abstractruntime.errors.CodeLimitExceededError`; ``limit`` names the limit (``cpu``, ``memory``,
    ``wall``, ``output``, ``steps``, ``time``) and ``limit_value`` its value in that limit's unit.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        limit_value: float | None = None,
        node_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        AbstractRuntimeError.__init__(self, message, run_id=run_id)
        self.kind = "budget"
        self.node_id = node_id
        self.limit = limit
        self.limit_value = limit_value
