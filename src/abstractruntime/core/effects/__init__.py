"""Built-in effect handlers, one module per family (SPEC §4.9 to §4.11).

:func:`register_builtin_handlers` fills an :class:`EffectRegistry` with the kernel's own handlers.
The MEMORY_* effects (note, query, tag, compact, rehydrate) are built in; LLM_CALL, TOOL_CALLS,
MODEL_RESIDENCY and MEMORY_KG_* have no built-in handler: a run requesting one without a host handler
fails with ``No effect handler registered for <type>``.

The memory family is registered as :class:`DeferredHandler` entries: its modules load at the first
MEMORY_* effect a runtime executes, so neither ``import abstractruntime`` nor ``Runtime(...)`` pays for
them (``docs/performance.md``, "Import cost").
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

from ..models import Effect, EffectType, RunState
from ..outcome import EffectOutcome
from .events import make_emit_event_handler
from .kernel import Kernel
from .model_traits import declare_model_traits
from .registry import EffectRegistry, EffectTraits, RegisteredHandler
from .subworkflow import make_start_subworkflow_handler
from .user import answer_user, ask_user
from .vars_query import make_vars_query_handler
from .waits import make_wait_until_handler, wait_event

__all__ = [
    "DeferredHandler",
    "EffectRegistry",
    "EffectTraits",
    "Kernel",
    "RegisteredHandler",
    "register_builtin_handlers",
]

_Handler = Callable[[RunState, Effect, "str | None"], EffectOutcome]

# effect type -> (module under core/effects, factory taking the Kernel, durable intent)
_MEMORY_HANDLERS: dict[EffectType, tuple[str, str, bool]] = {
    EffectType.MEMORY_QUERY: (".memory_query", "make_memory_query_handler", False),
    EffectType.MEMORY_NOTE: (".memory_note", "make_memory_note_handler", True),
    EffectType.MEMORY_TAG: (".memory_tag", "make_memory_tag_handler", True),
    EffectType.MEMORY_COMPACT: (".memory_compact", "make_memory_compact_handler", True),
    EffectType.MEMORY_REHYDRATE: (".memory_rehydrate", "make_memory_rehydrate_handler", True),
}


class DeferredHandler:
    """A built-in handler whose module is imported, and whose handler is built, at its first call.

    Args:
        module: the module, relative to this package (``".memory_note"``).
        factory: the name of ``make_*_handler(kernel) -> handler`` in that module; the handler takes
            ``(run, effect, default_next_node)``.
        kernel: the runtime handed to the factory.
    """

    def __init__(self, module: str, factory: str, kernel: Kernel) -> None:
        self._module = module
        self._factory = factory
        self._kernel = kernel
        self._handler: _Handler | None = None
        self._lock = threading.Lock()

    def resolve(self) -> _Handler:
        """The real handler, built once (imports its module on the first call)."""
        with self._lock:
            if self._handler is None:
                make: Callable[[Kernel], _Handler] = getattr(
                    importlib.import_module(self._module, __name__), self._factory
                )
                self._handler = make(self._kernel)
            return self._handler

    def __call__(self, run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        handler = self._handler if self._handler is not None else self.resolve()
        return handler(run, effect, default_next_node)

    def __repr__(self) -> str:
        return f"DeferredHandler({self._module!r}, {self._factory!r})"


def register_builtin_handlers(registry: EffectRegistry, kernel: Kernel) -> None:
    """Register the kernel's handlers in ``registry``.

    Waits, answers and vars queries touch nothing outside the run, so they commit once with their
    outcome; EMIT_EVENT and START_SUBWORKFLOW change other runs and get a durable intent record.
    MEMORY_QUERY only reads; the other memory effects write artifacts (and possibly other runs), so
    they get a durable intent record too.  The memory handlers are :class:`DeferredHandler` entries.
    The traits of LLM_CALL and TOOL_CALLS (no built-in handler) are declared here too
    (``model_traits``), so the host handlers registered for them later get those traits.
    """
    declare_model_traits(registry)
    registry.register(EffectType.ASK_USER, ask_user, durable_intent=False)
    registry.register(EffectType.ANSWER_USER, answer_user, durable_intent=False)
    registry.register(EffectType.WAIT_EVENT, wait_event, durable_intent=False)
    registry.register(EffectType.WAIT_UNTIL, make_wait_until_handler(kernel.now), durable_intent=False)
    registry.register(EffectType.VARS_QUERY, make_vars_query_handler(kernel), durable_intent=False)
    registry.register(EffectType.EMIT_EVENT, make_emit_event_handler(kernel), durable_intent=True)
    registry.register(
        EffectType.START_SUBWORKFLOW, make_start_subworkflow_handler(kernel), durable_intent=True
    )
    for effect_type, (module, factory, durable) in _MEMORY_HANDLERS.items():
        registry.register(effect_type, DeferredHandler(module, factory, kernel), durable_intent=durable)
