"""Recall levels for MEMORY_QUERY and MEMORY_REHYDRATE (SPEC §4.9 ``recall_level``), at their documented path.

The presets are part of the kernel's memory effects (:mod:`abstractruntime.core.effects.recall_levels`);
this module re-exports the same objects.
"""

from __future__ import annotations

from ..core.effects.recall_levels import RECALL_LEVELS, RecallLevel, get_recall_level

__all__ = ["RECALL_LEVELS", "RecallLevel", "get_recall_level"]
