"""Typed errors of the WorkflowBundle package (re-exported from ``models`` and ``registry``)."""

from __future__ import annotations

from abstractruntime.errors import AbstractRuntimeError

__all__ = ["WorkflowBundleError", "WorkflowBundleRegistryError"]


class WorkflowBundleError(AbstractRuntimeError, ValueError):
    """A bundle or manifest is invalid or unsafe (bad field, unsafe path, symlink, oversize member)."""


class WorkflowBundleRegistryError(AbstractRuntimeError, ValueError):
    """A registry operation cannot be done (unknown or ambiguous ref, conflicting install, bad id)."""
