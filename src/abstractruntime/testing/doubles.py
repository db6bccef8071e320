"""Scripted effect handlers for tests: :class:`ScriptedLLM`, :class:`ScriptedTools`, :func:`scripted_handlers`.

They stand in for a real LLM provider and a real tool executor so workflows (including compiled
VisualFlows) run deterministically, with every call recorded for assertions::

    from abstractruntime import Runtime
    from abstractruntime.testing import ScriptedLLM, ScriptedTools, scripted_handlers

    llm = ScriptedLLM(["first answer", {"content": "second", "data": {"ok": True}}])
    tools = ScriptedTools({"add": lambda a, b: a + b, "ping": "pong"})
    runtime = Runtime(run_store=..., ledger_store=..., effect_handlers=scripted_handlers(llm, tools))
    ...
    assert llm.calls[0]["prompt"] == "..."
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..core.models import EffectType
from ..core.runtime import EffectOutcome

__all__ = ["ScriptedLLM", "ScriptedTools", "scripted_handlers", "schema_example"]

LLMResponse = str | dict[str, Any]
Responder = Callable[[dict[str, Any]], LLMResponse | None]


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def schema_example(schema: Any) -> Any:
    """A small deterministic value that satisfies the common JSON-Schema keywords of ``schema``.

    Handles ``type`` (object/array/string/number/integer/boolean/null, or a list of types), ``properties``
    (every property is filled), ``items``, ``enum``, ``const``, ``default``, ``anyOf``/``oneOf``/``allOf``
    and ``minItems``/``minimum``.  Unknown shapes give ``{}``.

    >>> schema_example({"type": "object", "properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"}}})
    {'n': 0, 'ok': True}
    """
    if not isinstance(schema, Mapping):
        return {}
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return schema_example(options[0])
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged: dict[str, Any] = {}
        for part in all_of:
            value = schema_example(part)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or kind
        kind = kinds[0] if kinds else None
    if kind is None:
        kind = "object" if "properties" in schema else ("array" if "items" in schema else None)
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, Mapping):
            return {}
        return {str(name): schema_example(sub) for name, sub in props.items()}
    if kind == "array":
        count = schema.get("minItems")
        count = count if isinstance(count, int) and count > 0 else 1
        return [schema_example(schema.get("items", {"type": "string"})) for _ in range(count)]
    if kind == "string":
        return "example"
    if kind in ("number", "integer"):
        minimum = schema.get("minimum")
        value = minimum if isinstance(minimum, (int, float)) and not isinstance(minimum, bool) else 0
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return {}


def _wants_json(payload: Mapping[str, Any]) -> bool:
    params = payload.get("params")
    fmt = payload.get("response_format") or (
        params.get("response_format") if isinstance(params, dict) else None
    )
    return payload.get("response_schema") is not None or fmt in ("json", "json_object")


class ScriptedLLM:
    """An ``LLM_CALL`` effect handler that answers from a script.

    Args:
        responses: answers used in order, one per call: a string (the ``content``) or a dict merged over
            the standard result (``{"content": ..., "data": {...}, "tool_calls": [...]}``).
        responder: ``responder(payload) -> str | dict | None`` used once ``responses`` is exhausted; ``None``
            means "use the default answer".
        model: the ``model`` reported in results when the payload names none.

    Without a scripted answer the default is deterministic: when the payload carries a
    ``response_schema`` (or asks for JSON) the answer is :func:`schema_example` of that schema, as JSON
    text in ``content`` and parsed in ``data``; otherwise ``content`` is ``"echo: <prompt>"``.

    Every result has the SPEC §11.2 shape ``{content, data, tool_calls, usage, model, finish_reason,
    metadata}``.  Each call's payload is appended to :attr:`calls`.

    Example::

        llm = ScriptedLLM(["hello", {"content": "", "tool_calls": [{"name": "ls", "arguments": {}}]}])
        runtime = Runtime(..., effect_handlers={EffectType.LLM_CALL: llm})
        ...
        assert len(llm.calls) == 2 and llm.calls[0]["prompt"] == "hi"
    """

    def __init__(
        self,
        responses: Iterable[LLMResponse] | None = None,
        *,
        responder: Responder | None = None,
        model: str = "scripted-llm",
    ) -> None:
        self._queue: list[LLMResponse] = list(responses or [])
        self._responder = responder
        self.model = model
        self.calls: list[dict[str, Any]] = []

    @property
    def remaining(self) -> int:
        """How many scripted responses are still queued."""
        return len(self._queue)

    def respond(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The result dict for ``payload`` (records the call and consumes a scripted response)."""
        self.calls.append(dict(payload))
        raw: LLMResponse | None = None
        if self._queue:
            raw = self._queue.pop(0)
        elif self._responder is not None:
            raw = self._responder(dict(payload))
        if raw is None:
            raw = self._default(payload)
        return self._normalize(raw, payload)

    def __call__(self, run: Any, effect: Any, default_next_node: str | None = None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        return EffectOutcome.completed(self.respond(payload))

    def _default(self, payload: Mapping[str, Any]) -> LLMResponse:
        if _wants_json(payload):
            data = schema_example(payload.get("response_schema") or {"type": "object"})
            return {"content": json.dumps(data, sort_keys=True), "data": data}
        return f"echo: {payload.get('prompt') or ''}"

    def _normalize(self, raw: LLMResponse, payload: Mapping[str, Any]) -> dict[str, Any]:
        given: dict[str, Any] = {"content": raw} if isinstance(raw, str) else dict(raw)
        content = given.get("content")
        if content is None and given.get("data") is not None:
            content = json.dumps(given["data"], sort_keys=True)
        content = "" if content is None else str(content)
        data = given.get("data")
        if data is None and _wants_json(payload):
            try:
                data = json.loads(content)
            except ValueError:
                data = None
        tool_calls = given.get("tool_calls") or []
        prompt = str(payload.get("prompt") or "")
        result: dict[str, Any] = {
            "content": content,
            "data": data,
            "tool_calls": tool_calls,
            "usage": {
                "input_tokens": _estimate_tokens(prompt),
                "output_tokens": _estimate_tokens(content),
                "total_tokens": _estimate_tokens(prompt) + _estimate_tokens(content),
            },
            "model": payload.get("model") or self.model,
            "finish_reason": "tool_calls" if tool_calls else "stop",
            "metadata": {"scripted": True, "call_index": len(self.calls) - 1},
        }
        result.update({k: v for k, v in given.items() if k not in ("content", "data", "tool_calls")})
        return result


ToolSpec = Callable[..., Any] | Any


class ScriptedTools:
    """A ``TOOL_CALLS`` effect handler mapping tool names to functions or fixed outputs.

    Args:
        tools: ``{name: function_or_output}``.  A callable is called with the call's ``arguments`` as
            keyword arguments (a function raising gives ``success: False`` with the error message); any
            other value is returned as the output.
        default: output for tools not in ``tools``; when omitted (the default) an unknown tool gives
            ``success: False, error: "unknown tool"``.

    The result is ``{"mode": "executed", "results": [{call_id, name, success, output, error}, ...]}``
    (SPEC §11.3); each call dict is appended to :attr:`calls`.  ``allowed_tools`` in the payload is honoured:
    other tools fail with ``"tool not allowed"``.

    Example::

        tools = ScriptedTools({"add": lambda a, b: a + b, "ping": "pong"})
        runtime = Runtime(..., effect_handlers={EffectType.TOOL_CALLS: tools})
        ...
        assert [c["name"] for c in tools.calls] == ["add"]
    """

    _UNSET: Any = object()

    def __init__(self, tools: Mapping[str, ToolSpec] | None = None, *, default: Any = _UNSET) -> None:
        self.tools: dict[str, ToolSpec] = dict(tools or {})
        self._default = default
        self.calls: list[dict[str, Any]] = []

    def execute(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The tool result dict for ``payload`` (records each call)."""
        calls = payload.get("tool_calls")
        calls = calls if isinstance(calls, list) else []
        allowed = payload.get("allowed_tools")
        results = [self._run_one(call, i, allowed) for i, call in enumerate(calls)]
        return {"mode": "executed", "results": results}

    def __call__(self, run: Any, effect: Any, default_next_node: str | None = None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        return EffectOutcome.completed(self.execute(payload))

    def _run_one(self, call: Any, index: int, allowed: Any) -> dict[str, Any]:
        call = dict(call) if isinstance(call, Mapping) else {"name": None, "arguments": call}
        self.calls.append(call)
        name = call.get("name")
        call_id = call.get("call_id") or call.get("id") or f"call_{index}"
        args = call.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                args = {"input": args}
        args = args if isinstance(args, dict) else {}

        def fail(error: str) -> dict[str, Any]:
            return {"call_id": call_id, "name": name, "success": False, "output": None, "error": error}

        if isinstance(allowed, list) and name not in allowed:
            return fail("tool not allowed")
        if isinstance(name, str) and name in self.tools:
            spec = self.tools[name]
        elif self._default is not ScriptedTools._UNSET:
            spec = self._default
        else:
            return fail("unknown tool")
        if callable(spec):
            try:
                output = spec(**args)
            except Exception as exc:  # noqa: BLE001 - a failing scripted tool is a tool failure
                return fail(f"{type(exc).__name__}: {exc}")
        else:
            output = spec
        return {"call_id": call_id, "name": name, "success": True, "output": output, "error": None}


def scripted_handlers(
    llm: ScriptedLLM | None = None, tools: ScriptedTools | None = None
) -> dict[EffectType, Any]:
    """``{EffectType.LLM_CALL: llm, EffectType.TOOL_CALLS: tools}``, creating default doubles for ``None``.

    Example::

        runtime = Runtime(run_store=..., ledger_store=..., effect_handlers=scripted_handlers())
    """
    return {
        EffectType.LLM_CALL: llm if llm is not None else ScriptedLLM(),
        EffectType.TOOL_CALLS: tools if tools is not None else ScriptedTools(),
    }
