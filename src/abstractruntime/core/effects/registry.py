"""The open registry mapping each EffectType to its handler (ARCHITECTURE principle 4).

Built-in handlers are registered first and the host's ``effect_handlers`` on top, so a host handler
overrides a built-in one.  Each entry remembers how the handler is called (2 or 3 arguments) and
whether its effect needs a durable intent record before it runs (see ``core/engine/effect_step.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..models import EffectType
from ..outcome import EffectHandler, handler_arity

__all__ = ["EffectRegistry", "RegisteredHandler"]


@dataclass(frozen=True)
class RegisteredHandler:
    """A handler with its calling convention and durability class."""

    handler: EffectHandler
    arity: int
    durable_intent: bool


class EffectRegistry:
    """EffectType -> :class:`RegisteredHandler`."""

    def __init__(self) -> None:
        self._entries: dict[EffectType, RegisteredHandler] = {}

    def register(
        self, effect_type: EffectType | str, handler: EffectHandler, *, durable_intent: bool = True
    ) -> None:
        """Register ``handler`` for ``effect_type``, replacing any earlier one.

        Args:
            effect_type: an EffectType or its string value.
            handler: ``handler(run, effect, default_next_node)`` or ``handler(run, effect)``.
            durable_intent: True (the default, for anything with external side effects) appends the
                STARTED record before the handler runs.

        Raises:
            ValueError: ``effect_type`` is not an EffectType value.
            TypeError: ``handler`` is not callable.
        """
        if not callable(handler):
            raise TypeError(f"effect handler for {effect_type!r} is not callable")
        kind = EffectType(effect_type)
        self._entries[kind] = RegisteredHandler(handler, handler_arity(handler), durable_intent)

    def update(self, handlers: Mapping[Any, EffectHandler] | None) -> None:
        """Register every ``{effect_type: handler}`` of ``handlers`` (host handlers: durable intent)."""
        for effect_type, handler in (handlers or {}).items():
            self.register(effect_type, handler)

    def get(self, effect_type: EffectType | str) -> RegisteredHandler | None:
        """The entry for ``effect_type``, or None."""
        try:
            return self._entries.get(EffectType(effect_type))
        except ValueError:
            return None

    def __contains__(self, effect_type: object) -> bool:
        return isinstance(effect_type, (str, EffectType)) and self.get(effect_type) is not None

    def __iter__(self) -> Iterator[EffectType]:
        return iter(self._entries)
