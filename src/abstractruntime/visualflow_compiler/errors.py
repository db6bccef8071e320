"""Typed errors and diagnostics of the VisualFlow compiler.

``VisualFlowError`` is a ``ValueError`` (the spec documents ``ValueError`` for invalid flows) and an
:class:`~abstractruntime.errors.AbstractRuntimeError`; it carries every problem found as ``diagnostics``.
``VisualFlowTypeError`` is the ``TypeError`` raised for input that is not a flow document at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AbstractRuntimeError

__all__ = ["Diagnostic", "VisualFlowError", "VisualFlowTypeError"]


@dataclass(frozen=True)
class Diagnostic:
    """One problem of a flow document: a stable ``code``, a message and the node/edge it is about."""

    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    severity: str = "error"


class VisualFlowError(AbstractRuntimeError, ValueError):
    """An invalid VisualFlow (or Flow IR); ``diagnostics`` lists what is wrong."""

    def __init__(
        self, message: str, *, diagnostics: list[Diagnostic] | None = None, flow_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.diagnostics: list[Diagnostic] = list(diagnostics or [])
        self.flow_id = flow_id


class VisualFlowTypeError(AbstractRuntimeError, TypeError):
    """The input is not a VisualFlow document (not a mapping, nor a model with ``model_dump``)."""
