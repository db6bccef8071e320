"""The MODEL_RESIDENCY effect handler (SPEC §11.5): list, load or unload models on the LLM client.

Payload: ``operation`` (``list_loaded`` | ``load`` | ``unload``; aliases ``list``/``loaded``,
``warm``/``preload``, ``release``/``evict``), ``required`` (default false), ``task``, ``provider``,
``model``, ``runtime_id``, ``base_url``, ``timeout_s`` (seconds), ``provider_api_key``/``api_key``,
``options``, ``pin`` (default true on load).

The handler calls ``list_model_residency``, ``load_model_residency`` or ``unload_model_residency`` on the
client with those keys as keyword arguments (``load`` requires ``task``).  When ``required`` is false a
failure is *soft*: the effect completes with ``{ok: False, operation, error, warnings, status_hint:
"warning", degraded: True}``; when it is true the effect fails.  A client without the method (such as the
plain OpenAI-compatible ``RemoteAbstractCoreLLMClient``) counts as a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...core.models import Effect, RunState
from ...core.outcome import EffectHandler, EffectOutcome

__all__ = ["make_model_residency_handler"]

_OPERATIONS = {
    "list_loaded": "list_loaded",
    "list": "list_loaded",
    "loaded": "list_loaded",
    "load": "load",
    "warm": "load",
    "preload": "load",
    "unload": "unload",
    "release": "unload",
    "evict": "unload",
}
_METHODS = {
    "list_loaded": "list_model_residency",
    "load": "load_model_residency",
    "unload": "unload_model_residency",
}
_FORWARDED = ("task", "provider", "model", "runtime_id", "base_url", "timeout_s", "options")


def _call_kwargs(payload: Mapping[str, Any], operation: str) -> dict[str, Any]:
    kwargs = {k: payload[k] for k in _FORWARDED if payload.get(k) is not None}
    key = payload.get("provider_api_key") or payload.get("api_key")
    if key:
        kwargs["provider_api_key"] = key
    if operation == "load":
        kwargs["pin"] = payload.get("pin") is not False
    return kwargs


def make_model_residency_handler(*, llm: Any) -> EffectHandler:
    """The MODEL_RESIDENCY handler over ``llm`` (see the module docstring)."""

    def handle_model_residency(
        run: RunState, effect: Effect, default_next_node: str | None = None
    ) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        required = bool(payload.get("required"))
        raw = str(payload.get("operation") or "list_loaded").strip().lower()
        operation = _OPERATIONS.get(raw)

        def fail(error: str) -> EffectOutcome:
            if required:
                return EffectOutcome.failed(f"model_residency {raw}: {error}", retryable=False)
            return EffectOutcome.completed(
                {
                    "ok": False,
                    "operation": operation or raw,
                    "error": error,
                    "warnings": [error],
                    "status_hint": "warning",
                    "degraded": True,
                }
            )

        if operation is None:
            return fail(f"unknown operation {raw!r} (expected list_loaded, load or unload)")
        if operation == "load" and not payload.get("task"):
            return fail("load requires payload.task")
        method = getattr(llm, _METHODS[operation], None)
        if not callable(method):
            return fail(f"the LLM client {type(llm).__name__} does not support model residency")
        try:
            answer = method(**_call_kwargs(payload, operation))
        except Exception as exc:  # noqa: BLE001 - any client failure is reported (soft unless required)
            return fail(f"{type(exc).__name__}: {exc}")
        result = dict(answer) if isinstance(answer, Mapping) else {"result": answer}
        result.setdefault("ok", True)
        result.setdefault("operation", operation)
        return EffectOutcome.completed(result)

    return handle_model_residency
