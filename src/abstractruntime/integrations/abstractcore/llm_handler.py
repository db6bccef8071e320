"""The LLM_CALL effect handler (SPEC §11.2): payload in, one or more ``llm.generate`` calls, result out.

Payload keys: ``prompt`` (or ``text`` when the prompt is blank), ``messages``, ``system_prompt``, ``tools``,
``media``, ``provider``/``model`` (routing overrides, copied into ``params``), ``params``,
``response_schema``/``response_schema_name``, ``structured_output_fallback``, ``use_context``/
``include_context``, ``max_output_tokens``/``max_out_tokens``, ``retry_on_truncation`` (default true),
``allow_truncation``, ``max_truncation_attempts`` (3), ``max_output_tokens_cap`` (default 32768 tokens).

Behaviour:

* No prompt, text or messages: the effect fails at once with
  ``"llm_call requires payload.prompt or payload.messages"``.
* The output budget (tokens) is the first of ``params.max_tokens``, ``params.max_output_tokens``,
  ``payload.max_output_tokens``/``max_out_tokens`` and ``vars._limits.max_output_tokens``.
* **Truncation**: when ``finish_reason`` is ``length``, the call is repeated with a budget of
  ``max(2 * budget, budget + 500)`` (2048 when none was set), capped at ``max_output_tokens_cap``, up to
  ``max_truncation_attempts`` more times.  Still truncated and ``allow_truncation`` not set: the effect
  fails (no retry).  ``metadata._truncation`` records ``{attempts, max_tokens, truncated}``.
* **Structured output**: ``response_schema`` is sent as a JSON-schema ``response_format``; ``data`` is the
  JSON parsed from ``content``.  When that gives nothing (or the server rejects the schema with a 4xx) and
  ``structured_output_fallback`` is set, the call is repeated without the schema, asking for JSON in the
  system prompt; ``metadata._structured_output_fallback`` says why.
* **Context**: with ``use_context``, ``context.messages`` is sent as the history when the payload has no
  ``messages``, and the user and assistant turns are appended to it with ``metadata.kind = "llm_turn"``.
* **Input budget**: with ``payload.max_input_tokens`` or ``vars._limits.max_input_tokens`` set, the oldest
  non-system messages are dropped until a rough estimate (4 characters per token) fits, unless
  ``vars._runtime.disable_input_trimming``; ``metadata._input_trimming`` says how many were dropped.
* **Prompt cache**: ``params.prompt_cache_key`` is set as described in :mod:`.prompt_cache`.
* ``params.trace_metadata`` gets ``{run_id, workflow_id, node_id, actor_id?, session_id?, parent_run_id?}``.
* **Media inputs** (``media``) are resolved when the call runs (artifacts from the artifact store, paths only
  through the run's workspace policy, a size limit) and sent as content parts: :mod:`.media`.
* **Media outputs** (``params.output``/``output``/``outputs`` with modality image, voice or music, or the
  ``speech_to_text`` task) go to the media endpoints and are stored as artifacts: :mod:`.media_output`.
  Such a call may have media and no prompt.
* **Grounding**: chat calls get a ``<runtime_metadata>{json}</runtime_metadata>`` prefix on the user turn
  (current UTC time, host country), recorded as ``metadata.runtime_grounding``: :mod:`.grounding`.
* **Failures**: an :class:`~abstractruntime.errors.LLMCallError` fails the attempt with
  ``"<ErrorClass>: <message>"``; retryable ones (429, 5xx, no response) are retried by the runtime's effect
  policy (e.g. ``RetryPolicy(llm_max_attempts=3)``), waiting at least the server's ``Retry-After``
  (``retry_after_s``, capped by the policy); the others (401/403, 404, malformed, bad media) fail at once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ...core.clock import SYSTEM_CLOCK, Clock
from ...core.models import Effect, RunState
from ...core.outcome import EffectHandler, EffectOutcome
from ...core.vars import DEFAULT_MAX_TOKENS
from ...errors import LLMCallError
from ._tool_workspace import run_policy
from .grounding import apply_grounding, grounding_enabled, runtime_grounding
from .input_trimming import positive_int, trim_messages
from .media import MediaInput, media_limit, resolve_media
from .media_output import generate_media_result, media_output_request
from .openai_format import parse_json_content
from .prompt_cache import prompt_cache_key
from .tool_specs import resolve_tool_specs

__all__ = ["LLMCallRequest", "make_llm_call_handler"]

MISSING_INPUT_ERROR = "llm_call requires payload.prompt or payload.messages"
DEFAULT_OUTPUT_BUDGET = 2048
"""Tokens assumed for the first truncation retry when no output budget was set."""
_LENGTH_REASONS = frozenset({"length", "max_tokens", "max_output_tokens"})
_SECRET_PARAMS = frozenset({"provider_api_key", "api_key"})


class _TruncatedError(Exception):
    pass


def _count(value: Any, *, default: int) -> int:
    """``value`` as a count >= 0 (0 is kept); ``default`` when it is missing or not an integer."""
    return max(0, value) if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass
class LLMCallRequest:
    """An LLM_CALL payload resolved against its run (see the module docstring)."""

    prompt: str
    messages: list[dict[str, Any]] | None
    system_prompt: str | None
    tools: list[dict[str, Any]] | None
    media: Any
    params: dict[str, Any] = field(default_factory=dict)
    use_context: bool = False
    schema: dict[str, Any] | None = None
    fallback: bool = False
    retry_on_truncation: bool = True
    allow_truncation: bool = False
    max_truncation_attempts: int = 3
    output_cap: int = DEFAULT_MAX_TOKENS
    trimming: dict[str, Any] | None = None
    grounding: dict[str, str] | None = None

    @classmethod
    def from_payload(
        cls, run: RunState, payload: Mapping[str, Any], *, media_only: bool = False
    ) -> LLMCallRequest:
        """Resolve ``payload`` for ``run``; raises ``ValueError`` when there is nothing to send.

        ``media_only`` (a media output with media input) accepts a payload without prompt or messages.
        """
        prompt = payload.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            text = payload.get("text")
            prompt = text if isinstance(text, str) else ""
        raw_messages = payload.get("messages")
        messages = (
            [dict(m) for m in raw_messages if isinstance(m, Mapping)]
            if isinstance(raw_messages, list)
            else None
        )
        if not prompt.strip() and not messages and not media_only:
            raise ValueError(MISSING_INPUT_ERROR)
        use_context = bool(payload.get("use_context") or payload.get("include_context"))
        if use_context and messages is None:
            messages = _context_history(run)
        schema = payload.get("response_schema")
        params = _params(run, payload, schema if isinstance(schema, Mapping) else None)
        system_prompt = payload.get("system_prompt")
        messages, trimming = trim_messages(
            run, payload, messages, prompt, system_prompt if isinstance(system_prompt, str) else ""
        )
        tools = payload.get("tools")
        return cls(
            prompt=prompt,
            messages=messages,
            system_prompt=system_prompt if isinstance(system_prompt, str) else None,
            tools=tools if isinstance(tools, list) and tools else None,
            media=payload.get("media"),
            params=params,
            use_context=use_context,
            schema=dict(schema) if isinstance(schema, Mapping) else None,
            fallback=bool(payload.get("structured_output_fallback")),
            retry_on_truncation=payload.get("retry_on_truncation") is not False,
            allow_truncation=bool(payload.get("allow_truncation")),
            max_truncation_attempts=_count(payload.get("max_truncation_attempts"), default=3),
            output_cap=positive_int(payload.get("max_output_tokens_cap")) or DEFAULT_MAX_TOKENS,
            trimming=trimming,
        )


def _context_history(run: RunState) -> list[dict[str, Any]]:
    context = run.vars.get("context")
    raw = context.get("messages") if isinstance(context, dict) else None
    return [
        {"role": m["role"], "content": m.get("content")}
        for m in raw or []
        if isinstance(m, dict) and isinstance(m.get("role"), str)
    ]


def _params(run: RunState, payload: Mapping[str, Any], schema: Mapping[str, Any] | None) -> dict[str, Any]:
    params = dict(payload["params"]) if isinstance(payload.get("params"), Mapping) else {}
    for key in ("provider", "model"):
        if isinstance(payload.get(key), str) and payload[key].strip():
            params.setdefault(key, payload[key].strip())
    limits = run.vars.get("_limits")
    budget = (
        positive_int(params.pop("max_output_tokens", None))
        or positive_int(params.get("max_tokens"))
        or positive_int(payload.get("max_output_tokens"))
        or positive_int(payload.get("max_out_tokens"))
        or (positive_int(limits.get("max_output_tokens")) if isinstance(limits, dict) else None)
    )
    if budget is not None:
        params["max_tokens"] = budget
    if schema is not None:
        params["response_schema"] = dict(schema)
        if payload.get("response_schema_name"):
            params["response_schema_name"] = str(payload["response_schema_name"])
    trace = dict(params["trace_metadata"]) if isinstance(params.get("trace_metadata"), Mapping) else {}
    trace.update({"run_id": run.run_id, "workflow_id": run.workflow_id, "node_id": run.current_node})
    for key in ("actor_id", "session_id", "parent_run_id"):
        if getattr(run, key, None):
            trace[key] = getattr(run, key)
    params["trace_metadata"] = trace
    return params


def _generate(
    llm: Any, request: LLMCallRequest, params: dict[str, Any], system: str | None
) -> dict[str, Any]:
    prompt, messages = request.prompt, request.messages
    if request.grounding is not None:
        prompt, messages = apply_grounding(prompt, messages, request.grounding)
    result = llm.generate(
        prompt=prompt,
        messages=messages,
        system_prompt=system,
        tools=request.tools,
        media=request.media,
        params=params,
    )
    return dict(result) if isinstance(result, Mapping) else {"content": str(result)}


def _generate_untruncated(
    llm: Any, request: LLMCallRequest, params: dict[str, Any], system: str | None
) -> dict[str, Any]:
    """One generation, repeated with a larger budget while it is truncated (see the module docstring)."""
    result = _generate(llm, request, params, system)
    attempts = 1
    while result.get("finish_reason") in _LENGTH_REASONS and request.retry_on_truncation:
        current = positive_int(params.get("max_tokens")) or DEFAULT_OUTPUT_BUDGET
        bigger = min(max(2 * current, current + 500), request.output_cap)
        if attempts > request.max_truncation_attempts or bigger <= current:
            break
        params["max_tokens"] = bigger
        attempts += 1
        result = _generate(llm, request, params, system)
    truncated = result.get("finish_reason") in _LENGTH_REASONS
    if attempts > 1 or truncated:
        info = {"attempts": attempts, "max_tokens": params.get("max_tokens"), "truncated": truncated}
        _metadata(result)["_truncation"] = info
        if truncated and not request.allow_truncation:
            raise _TruncatedError(
                f"LLM output truncated (finish_reason={result.get('finish_reason')}) after {attempts} "
                f"attempt(s) with max_tokens={params.get('max_tokens')}; raise max_output_tokens_cap "
                "or set allow_truncation"
            )
    return result


def _metadata(result: dict[str, Any]) -> dict[str, Any]:
    metadata = result.get("metadata")
    if not isinstance(metadata, dict):
        metadata = result["metadata"] = {}
    return metadata


def _structured(llm: Any, request: LLMCallRequest) -> dict[str, Any]:
    """Generate, then parse ``data`` from the content; fall back to a schema-less call when allowed."""
    params = dict(request.params)
    try:
        result = _generate_untruncated(llm, request, params, request.system_prompt)
    except LLMCallError as exc:
        if not (request.fallback and request.schema is not None and exc.status in (400, 415, 422)):
            raise
        reason = f"server rejected the schema: {exc}"
    else:
        if request.schema is None:
            return result
        if result.get("data") is None:
            result["data"] = parse_json_content(result.get("content"))
        if result["data"] is not None or not request.fallback:
            return result
        reason = "content was not JSON"
    params.pop("response_schema", None)
    params.pop("response_schema_name", None)
    ask = "Reply with only a JSON value matching this JSON schema:\n" + json.dumps(
        request.schema, sort_keys=True
    )
    system = f"{request.system_prompt}\n\n{ask}" if request.system_prompt else ask
    result = _generate_untruncated(llm, request, params, system)
    result["data"] = parse_json_content(result.get("content"))
    _metadata(result)["_structured_output_fallback"] = {"used": True, "reason": reason}
    return result


def _append_turn(run: RunState, request: LLMCallRequest, result: Mapping[str, Any]) -> None:
    context = run.vars.get("context")
    if not isinstance(context, dict):
        context = run.vars["context"] = {}
    messages = context.get("messages")
    if not isinstance(messages, list):
        messages = context["messages"] = []
    now = datetime.now(timezone.utc).isoformat()
    turns = [("user", request.prompt)] if request.prompt.strip() else []
    turns.append(("assistant", result.get("content") or ""))
    for role, content in turns:
        metadata = {"kind": "llm_turn", "message_id": f"msg_{uuid.uuid4().hex}"}
        messages.append({"role": role, "content": content, "timestamp": now, "metadata": metadata})


def _tool_name(tool: Any) -> Any:
    """A tool's name: tools may be given as names (the built-in agent sends ``["list_files", ...]``) or specs."""
    if not isinstance(tool, dict):
        return tool
    return tool.get("name") or (tool.get("function") or {}).get("name")


def _observability(request: LLMCallRequest) -> dict[str, Any]:
    kwargs = {
        "prompt": request.prompt,
        "message_count": len(request.messages or []),
        "system_prompt": request.system_prompt,
        "tools": [_tool_name(t) for t in request.tools or []],
        "params": {k: v for k, v in request.params.items() if k not in _SECRET_PARAMS},
    }
    if isinstance(request.media, list) and request.media:
        kwargs["media"] = [m.describe() for m in request.media if isinstance(m, MediaInput)]
    return {"llm_generate_kwargs": kwargs}


def _failure(run: RunState, exc: LLMCallError) -> EffectOutcome:
    exc.run_id = exc.run_id or run.run_id
    message = f"{type(exc).__name__}: {exc}"
    return EffectOutcome.failed(message, retryable=exc.retryable, retry_after_s=exc.retry_after_s)


def _last_user_text(request: LLMCallRequest) -> str:
    if request.prompt.strip():
        return request.prompt
    users = [
        m for m in request.messages or [] if m.get("role") == "user" and isinstance(m.get("content"), str)
    ]
    return str(users[-1]["content"]) if users else ""


def _cache_identity(llm: Any) -> tuple[str, str]:
    identity = getattr(llm, "default_prompt_cache_identity", None)
    value = identity() if callable(identity) else None
    if isinstance(value, tuple) and len(value) == 2:
        return str(value[0] or ""), str(value[1] or "")
    return "", ""


def make_llm_call_handler(
    *,
    llm: Any,
    artifact_store: Any = None,
    tool_specs: Mapping[str, Mapping[str, Any]] | None = None,
    clock: Clock | None = None,
) -> EffectHandler:
    """The LLM_CALL handler calling ``llm.generate`` (see the module docstring for the payload contract).

    Args:
        llm: a client with ``generate(*, prompt, messages, system_prompt, tools, media, params) -> dict``,
            such as :class:`~abstractruntime.integrations.abstractcore.llm_client.RemoteAbstractCoreLLMClient`.
        artifact_store: where media inputs given as artifacts are read and generated media are stored.
        tool_specs: ``{name: spec}`` used to describe tools a payload lists by name only (see
            :mod:`.tool_specs`; ``build_effect_handlers`` passes the specs of its tool executor).
        clock: the time source of the grounding (default: the system clock).

    Returns:
        ``handler(run, effect, default_next_node) -> EffectOutcome``.
    """

    def handle_llm_call(run: RunState, effect: Effect, default_next_node: str | None = None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        try:
            output = media_output_request(payload)
            request = LLMCallRequest.from_payload(
                run, payload, media_only=output is not None and bool(payload.get("media"))
            )
            limit = media_limit(run.vars.get("_runtime"), payload)
            policy = run_policy(run.vars) if payload.get("media") else None
            request.media = resolve_media(
                payload.get("media"), artifact_store=artifact_store, policy=policy, limit_bytes=limit
            )
        except ValueError as exc:  # also an invalid workspace policy (WorkspaceError)
            return EffectOutcome.failed(str(exc), retryable=False)
        except LLMCallError as exc:  # media that cannot be resolved, an unknown output selector
            return _failure(run, exc)
        request.tools = resolve_tool_specs(request.tools, tool_specs)
        cache_key = prompt_cache_key(run, request.params, identity=_cache_identity(llm))
        if cache_key is not None:
            request.params["prompt_cache_key"] = cache_key
        if output is None and grounding_enabled(run, payload):
            request.grounding = runtime_grounding((clock or SYSTEM_CLOCK).now())
        try:
            if output is not None:
                media_args = {
                    "prompt": _last_user_text(request),
                    "media": request.media,
                    "params": request.params,
                }
                result = generate_media_result(llm, run, output, artifact_store=artifact_store, **media_args)
            else:
                result = _structured(llm, request)
        except LLMCallError as exc:
            return _failure(run, exc)
        except _TruncatedError as exc:
            return EffectOutcome.failed(str(exc), retryable=False)
        if request.grounding is not None:
            _metadata(result)["runtime_grounding"] = dict(request.grounding)
        _metadata(result)["_runtime_observability"] = _observability(request)
        if request.trimming is not None:
            _metadata(result)["_input_trimming"] = request.trimming
        if request.use_context:
            _append_turn(run, request, result)
        return EffectOutcome.completed(result)

    return handle_llm_call
