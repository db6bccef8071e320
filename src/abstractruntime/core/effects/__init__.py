"""Built-in effect handlers, one module per family (SPEC §4.9 to §4.11).

:func:`register_builtin_handlers` fills an :class:`EffectRegistry` with the kernel's own handlers.
The MEMORY_* effects (note, query, tag, compact, rehydrate) are built in; LLM_CALL, TOOL_CALLS,
MODEL_RESIDENCY and MEMORY_KG_* have no built-in handler: a run requesting one without a host handler
fails with ``No effect handler registered for <type>``.
"""

from __future__ import annotations

from ..models import EffectType
from .events import make_emit_event_handler
from .kernel import Kernel
from .memory_compact import make_memory_compact_handler
from .memory_note import make_memory_note_handler
from .memory_query import make_memory_query_handler
from .memory_rehydrate import make_memory_rehydrate_handler
from .memory_tag import make_memory_tag_handler
from .registry import EffectRegistry, RegisteredHandler
from .subworkflow import make_start_subworkflow_handler
from .user import answer_user, ask_user
from .vars_query import make_vars_query_handler
from .waits import make_wait_until_handler, wait_event

__all__ = ["EffectRegistry", "Kernel", "RegisteredHandler", "register_builtin_handlers"]


def register_builtin_handlers(registry: EffectRegistry, kernel: Kernel) -> None:
    """Register the kernel's handlers in ``registry``.

    Waits, answers and vars queries touch nothing outside the run, so they commit once with their
    outcome; EMIT_EVENT and START_SUBWORKFLOW change other runs and get a durable intent record.
    MEMORY_QUERY only reads; the other memory effects write artifacts (and possibly other runs), so
    they get a durable intent record too.
    """
    registry.register(EffectType.ASK_USER, ask_user, durable_intent=False)
    registry.register(EffectType.ANSWER_USER, answer_user, durable_intent=False)
    registry.register(EffectType.WAIT_EVENT, wait_event, durable_intent=False)
    registry.register(EffectType.WAIT_UNTIL, make_wait_until_handler(kernel.now), durable_intent=False)
    registry.register(EffectType.VARS_QUERY, make_vars_query_handler(kernel), durable_intent=False)
    registry.register(EffectType.EMIT_EVENT, make_emit_event_handler(kernel), durable_intent=True)
    registry.register(
        EffectType.START_SUBWORKFLOW, make_start_subworkflow_handler(kernel), durable_intent=True
    )
    registry.register(EffectType.MEMORY_QUERY, make_memory_query_handler(kernel), durable_intent=False)
    registry.register(EffectType.MEMORY_NOTE, make_memory_note_handler(kernel), durable_intent=True)
    registry.register(EffectType.MEMORY_TAG, make_memory_tag_handler(kernel), durable_intent=True)
    registry.register(EffectType.MEMORY_COMPACT, make_memory_compact_handler(kernel), durable_intent=True)
    registry.register(EffectType.MEMORY_REHYDRATE, make_memory_rehydrate_handler(kernel), durable_intent=True)
