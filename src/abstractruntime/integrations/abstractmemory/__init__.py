"""AbstractMemory KG bridge (SPEC §11.7): MEMORY_KG_ASSERT/QUERY/RESOLVE handlers over a TripleStore.

``build_memory_kg_effect_handlers(store=..., run_store=..., now_iso=...)`` returns the three handlers; the
host registers them itself.  ``abstractruntime.integrations.abstractmemory.triple_store.SqliteTripleStore``
is a small durable, stdlib-only store (what the CLI uses); an AbstractMemory TripleStore with the same
``add``/``query`` methods can be passed instead.  Importing this package needs no extra.
"""

from __future__ import annotations

from .handlers import build_memory_kg_effect_handlers, resolve_scope_owner_id

__all__ = ["build_memory_kg_effect_handlers", "resolve_scope_owner_id"]
