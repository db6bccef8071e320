"""The open registry mapping each EffectType to its handler and traits (ARCHITECTURE principle 4).

Built-in handlers are registered first and the host's ``effect_handlers`` on top, so a host handler
overrides a built-in one.  Each entry remembers how the handler is called (2 or 3 arguments) and the
effect type's :class:`EffectTraits`: everything the engine needs to know about an effect type beyond
its handler (durable intent, in-doubt marking, budget accounting, ...).  The engine reads traits and
never tests effect type names (``docs/concepts.md``, "Effect traits").

Traits are declared per effect type, independently of handlers: the kernel declares the traits of
LLM_CALL and TOOL_CALLS (``core/effects/model_traits.py``) although their handlers come from the host,
and a host handler registered later for such a type keeps the declared traits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..models import Effect, EffectType, RunState
from ..outcome import EffectHandler, handler_arity

__all__ = [
    "BudgetCounter",
    "CompletedHook",
    "EffectRegistry",
    "EffectTraits",
    "PayloadPreparer",
    "RegisteredHandler",
]

BudgetCounter = Callable[[Any, Any], Mapping[str, int]]
"""``counter(payload, result) -> {"llm_calls"|"tool_calls"|"tokens"|...: increment}`` for one executed,
completed step (SPEC-free extension; see ``core/budget.py``)."""

PayloadPreparer = Callable[[RunState, str, Effect, str], Effect]
"""``prepare(run, node_id, effect, idempotency_key) -> effect``: normalizes a payload after its key was
computed (may add warnings to ``run.vars``); the returned effect is what runs and is recorded."""

CompletedHook = Callable[[RunState, Any], None]
"""``hook(run, result)``: called for every completed step of the type (reused or not), before commit."""


@dataclass(frozen=True, slots=True)
class EffectTraits:
    """What the engine must know about one effect type (all optional; the defaults fit host effects).

    Attributes:
        durable_intent: append the STARTED record on its own before the handler runs (effects with
            external side effects); False commits STARTED and end records once, with the state.
        in_doubt_aware: when an open STARTED intent with the step's key exists (a driver died
            mid-step), hand the handler the payload marked with ``_in_doubt``; a flow-supplied
            ``_in_doubt`` is dropped from the payload.
        counts_before_run: check the run's budget caps before the handler runs (park when reached).
        budget_counter: what one executed, completed step adds to ``_runtime.budget_used``.
        prepare: payload normalization after the idempotency key is computed.
        on_completed: called with the result of every completed step.
        evidence: hand freshly completed results to the evidence hook (tool-shaped results).
        complete_on_resume: a waiting step is remembered so resuming it writes a synthetic
            COMPLETED record with the resume payload (a later visit reuses it).
    """

    durable_intent: bool = True
    in_doubt_aware: bool = False
    counts_before_run: bool = False
    budget_counter: BudgetCounter | None = None
    prepare: PayloadPreparer | None = None
    on_completed: CompletedHook | None = None
    evidence: bool = False
    complete_on_resume: bool = False


_HOST_TRAITS = EffectTraits()


@dataclass(frozen=True, slots=True)
class RegisteredHandler:
    """A handler with its calling convention and its effect type's traits."""

    handler: EffectHandler
    arity: int
    traits: EffectTraits

    @property
    def durable_intent(self) -> bool:
        """Shortcut for ``traits.durable_intent``."""
        return self.traits.durable_intent


class EffectRegistry:
    """EffectType -> :class:`RegisteredHandler`, plus declared :class:`EffectTraits` per type."""

    def __init__(self) -> None:
        self._entries: dict[EffectType, RegisteredHandler] = {}
        self._traits: dict[EffectType, EffectTraits] = {}

    def declare(self, effect_type: EffectType | str, traits: EffectTraits) -> None:
        """Declare the traits of ``effect_type`` (also applied to an already registered handler).

        Raises:
            ValueError: ``effect_type`` is not an EffectType value.
            TypeError: ``traits`` is not an :class:`EffectTraits`.
        """
        if not isinstance(traits, EffectTraits):
            raise TypeError(f"traits for {effect_type!r} must be EffectTraits, got {type(traits).__name__}")
        kind = EffectType(effect_type)
        self._traits[kind] = traits
        entry = self._entries.get(kind)
        if entry is not None:
            self._entries[kind] = replace(entry, traits=traits)

    def register(
        self,
        effect_type: EffectType | str,
        handler: EffectHandler,
        *,
        durable_intent: bool | None = None,
        traits: EffectTraits | None = None,
    ) -> None:
        """Register ``handler`` for ``effect_type``, replacing any earlier one.

        Args:
            effect_type: an EffectType or its string value.
            handler: ``handler(run, effect, default_next_node)`` or ``handler(run, effect)``.
            durable_intent: overrides ``traits.durable_intent`` when given.
            traits: the type's traits; omitted keeps the traits declared for the type (see
                :meth:`declare`), else the host defaults (durable intent, nothing else).  Given traits
                are declared for the type too.

        Raises:
            ValueError: ``effect_type`` is not an EffectType value.
            TypeError: ``handler`` is not callable, or ``traits`` is not an :class:`EffectTraits`.
        """
        if not callable(handler):
            raise TypeError(f"effect handler for {effect_type!r} is not callable")
        kind = EffectType(effect_type)
        if traits is not None:
            self.declare(kind, traits)
        chosen = self._traits.get(kind, _HOST_TRAITS)
        if durable_intent is not None and durable_intent != chosen.durable_intent:
            chosen = replace(chosen, durable_intent=durable_intent)
        self._entries[kind] = RegisteredHandler(handler, handler_arity(handler), chosen)

    def update(self, handlers: Mapping[Any, EffectHandler] | None) -> None:
        """Register every ``{effect_type: handler}`` of ``handlers`` (declared traits, else host ones)."""
        for effect_type, handler in (handlers or {}).items():
            self.register(effect_type, handler)

    def lookup(self, effect_type: EffectType | str) -> tuple[RegisteredHandler | None, EffectTraits]:
        """``(entry or None, traits)`` for ``effect_type``: one dict lookup for a registered member.

        An unknown type string gives ``(None, default traits)``.
        """
        entry = self._entries.get(effect_type) if type(effect_type) is EffectType else None
        if entry is not None:
            return entry, entry.traits
        try:
            kind = EffectType(effect_type)
        except ValueError:
            return None, _HOST_TRAITS
        entry = self._entries.get(kind)
        return entry, entry.traits if entry is not None else self._traits.get(kind, _HOST_TRAITS)

    def get(self, effect_type: EffectType | str) -> RegisteredHandler | None:
        """The entry for ``effect_type``, or None."""
        return self.lookup(effect_type)[0]

    def traits(self, effect_type: EffectType | str) -> EffectTraits:
        """The traits of ``effect_type`` (declared, registered, or the host defaults)."""
        return self.lookup(effect_type)[1]

    def __contains__(self, effect_type: object) -> bool:
        return isinstance(effect_type, (str, EffectType)) and self.get(effect_type) is not None

    def __iter__(self) -> Iterator[EffectType]:
        return iter(self._entries)
