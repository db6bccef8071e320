"""Built-in effect handlers, one module per family (SPEC §4.9 to §4.11).

:func:`register_builtin_handlers` fills an :class:`EffectRegistry` with the kernel's own handlers.
LLM_CALL, TOOL_CALLS, MODEL_RESIDENCY and the MEMORY_* effects have no built-in handler here: a run
requesting one without a host handler fails with ``No effect handler registered for <type>``.
"""

from __future__ import annotations

from ..models import EffectType
from .events import make_emit_event_handler
from .kernel import Kernel
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
