"""Recall levels: effort presets for MEMORY_QUERY and MEMORY_REHYDRATE (SPEC §4.9 ``recall_level``).

A payload may say ``recall_level: "urgent" | "standard" | "deep"`` instead of tuning every limit.
The preset fills in each limit the payload does not set explicitly (explicit keys always win).  The
``standard`` preset equals the documented MEMORY_QUERY defaults, so ``recall_level="standard"`` and no
recall level behave the same for queries.

====================  ======  ========  =====  ===================================================
limit                 urgent  standard  deep   why
====================  ======  ========  =====  ===================================================
limit_spans           3       5         12     spans returned by metadata matching
deep                  False   False     True   also scan archived messages for the keywords
deep_limit_spans      10      50        200    archives opened by a deep scan
deep_limit_msgs/span  100     400       1000   messages scanned per opened archive
connected             False   False     True   add neighbour spans sharing a ``connect_by`` tag
neighbor_hops         0       1         2      how far the neighbour expansion walks
max_messages          30      80        200    archived messages rendered in the answer
rehydrate_max_msgs    20      80        200    MEMORY_REHYDRATE ``max_messages`` default
====================  ======  ========  =====  ===================================================

``urgent`` answers fast from metadata only, with a small context footprint; ``deep`` trades time and
context for thoroughness.  This module uses the standard library only and imports nothing from the
kernel, so the kernel can import it lazily.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["RECALL_LEVELS", "RecallLevel", "get_recall_level"]


@dataclass(frozen=True)
class RecallLevel:
    """One effort preset (see the module table for the values and their purpose)."""

    name: str
    limit_spans: int
    deep: bool
    deep_limit_spans: int
    deep_limit_messages_per_span: int
    connected: bool
    neighbor_hops: int
    max_messages: int
    rehydrate_max_messages: int

    def to_dict(self) -> dict[str, Any]:
        """The preset as a plain dict (reported as ``effort`` by the memory effects)."""
        return asdict(self)


RECALL_LEVELS: dict[str, RecallLevel] = {
    "urgent": RecallLevel("urgent", 3, False, 10, 100, False, 0, 30, 20),
    "standard": RecallLevel("standard", 5, False, 50, 400, False, 1, 80, 80),
    "deep": RecallLevel("deep", 12, True, 200, 1000, True, 2, 200, 200),
}


def get_recall_level(name: Any) -> RecallLevel | None:
    """The preset called ``name`` (case-insensitive, stripped), or None for None, blanks and unknown names."""
    if not isinstance(name, str):
        return None
    return RECALL_LEVELS.get(name.strip().lower())
