"""Active-context helpers over the memory span index (SPEC §10.4).

``ActiveContextPolicy`` lists, filters and rehydrates the spans written by the MEMORY_* effects and
selects the messages an LLM call should see; ``TimeRange`` is the closed time interval its filters
use.  Recall-level presets live in :mod:`abstractruntime.memory.recall_levels`.
"""

from .active_context import ActiveContextPolicy, TimeRange

__all__ = ["ActiveContextPolicy", "TimeRange"]
