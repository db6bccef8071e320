"""The OpenAI chat-completions wire format: request bodies out, standard LLM results in (SPEC §4.12).

* :func:`build_chat_body` turns ``generate()`` arguments into a ``POST /v1/chat/completions`` body.
* :func:`parse_chat_completion` turns a 2xx answer into the standard LLM result
  ``{content, reasoning?, data, tool_calls, usage, model, finish_reason, metadata, trace_id, gen_time}``.
* :func:`error_for_status` maps a non-2xx answer to the typed ``LLMCallError`` subclasses (a 429 or 5xx
  carries the ``Retry-After`` header as ``retry_after_s``, see :func:`retry_after_seconds`).
* :func:`normalize_tool_calls` gives every tool call the shape ``{"name", "arguments": dict, "call_id"}``.

Parameter mapping (``params`` keys): ``temperature``, ``top_p``, ``seed``, ``stop``, ``tool_choice``,
``presence_penalty``, ``frequency_penalty``, ``prompt_cache_key`` pass through; ``max_tokens`` or ``max_output_tokens`` → ``max_tokens``; ``response_schema`` (a JSON schema) →
``response_format: {"type": "json_schema", ...}``; ``response_format`` ``"json"`` → ``{"type":
"json_object"}`` (a dict passes through); ``model`` overrides the client's model and ``provider`` prefixes
it as ``<provider>/<model>`` (the AbstractCore server's routing convention).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from ...errors import (
    LLMAuthError,
    LLMCallError,
    LLMNotFoundError,
    LLMRateLimitError,
    LLMResponseError,
    LLMServerError,
)

__all__ = [
    "build_chat_body",
    "error_for_status",
    "normalize_tool_calls",
    "parse_chat_completion",
    "parse_json_content",
    "retry_after_seconds",
    "tools_to_openai",
]

_PASSTHROUGH = (
    "temperature",
    "top_p",
    "seed",
    "stop",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "prompt_cache_key",
)


def tools_to_openai(tools: Any) -> list[dict[str, Any]]:
    """Tool specs as OpenAI ``[{"type": "function", "function": {name, description, parameters}}]``.

    Accepts specs already in that format and plain ``{name, description?, parameters?}`` dicts
    (``input_schema`` is read as ``parameters``); anything without a name is skipped.
    """
    out: list[dict[str, Any]] = []
    for spec in tools if isinstance(tools, list) else []:
        if not isinstance(spec, Mapping):
            continue
        fn = spec.get("function") if isinstance(spec.get("function"), Mapping) else spec
        assert isinstance(fn, Mapping)
        name = fn.get("name")
        if not isinstance(name, str) or not name.strip():
            continue
        params = fn.get("parameters") or fn.get("input_schema") or {"type": "object", "properties": {}}
        entry: dict[str, Any] = {"name": name.strip(), "parameters": params}
        if fn.get("description"):
            entry["description"] = str(fn["description"])
        out.append({"type": "function", "function": entry})
    return out


def _response_format(params: Mapping[str, Any]) -> dict[str, Any] | None:
    schema = params.get("response_schema")
    if isinstance(schema, Mapping):
        name = str(params.get("response_schema_name") or "response")
        return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(schema)}}
    fmt = params.get("response_format")
    if isinstance(fmt, Mapping):
        return dict(fmt)
    if fmt in ("json", "json_object"):
        return {"type": "json_object"}
    return None


def build_chat_body(
    *,
    model: str,
    prompt: str | None,
    messages: list[dict[str, Any]] | None,
    system_prompt: str | None,
    tools: list[dict[str, Any]] | None,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/chat/completions`` (see the module docstring for the mapping)."""
    chat: list[dict[str, Any]] = []
    if system_prompt:
        chat.append({"role": "system", "content": system_prompt})
    for message in messages or []:
        if isinstance(message, Mapping) and message.get("role"):
            keep = ("role", "content", "name", "tool_calls", "tool_call_id")
            chat.append({k: message[k] for k in keep if k in message})
    if prompt:
        chat.append({"role": "user", "content": prompt})
    chosen = str(params.get("model") or model)
    provider = params.get("provider")
    if isinstance(provider, str) and provider.strip() and "/" not in chosen:
        chosen = f"{provider.strip()}/{chosen}"
    body: dict[str, Any] = {"model": chosen, "messages": chat, "stream": False}
    for key in _PASSTHROUGH:
        if params.get(key) is not None:
            body[key] = params[key]
    budget = params.get("max_tokens", params.get("max_output_tokens"))
    if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
        body["max_tokens"] = budget
    if tools:
        body["tools"] = tools_to_openai(tools)
    fmt = _response_format(params)
    if fmt is not None:
        body["response_format"] = fmt
    return body


def _parse_arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return {}
    return dict(raw) if isinstance(raw, Mapping) else {}


def normalize_tool_calls(raw: Any) -> list[dict[str, Any]] | None:
    """``[{"name", "arguments": dict, "call_id"}]`` from OpenAI or flat tool calls; None when there are none.

    Arguments given as a JSON string are parsed (``{}`` when they are not a JSON object); a call without an
    id gets ``call_<index>``; entries without a name are dropped.
    """
    calls: list[dict[str, Any]] = []
    for index, call in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(call, Mapping):
            continue
        fn = call.get("function") if isinstance(call.get("function"), Mapping) else call
        assert isinstance(fn, Mapping)
        name = fn.get("name")
        if not isinstance(name, str) or not name.strip():
            continue
        call_id = call.get("call_id") or call.get("id") or f"call_{index}"
        calls.append(
            {
                "name": name.strip(),
                "arguments": _parse_arguments(fn.get("arguments")),
                "call_id": str(call_id),
            }
        )
    return calls or None


def parse_json_content(content: Any) -> Any:
    """The JSON value in ``content`` (a ```json fence is stripped), or None when it holds no JSON."""
    if not isinstance(content, str) or not content.strip():
        return None
    text = content.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    try:
        return json.loads(text)
    except ValueError:
        return None


def _content_text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, Mapping))
    return str(content)


def _usage(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None
    usage = dict(raw)
    if "prompt_tokens" in usage:
        usage.setdefault("input_tokens", usage["prompt_tokens"])
    if "completion_tokens" in usage:
        usage.setdefault("output_tokens", usage["completion_tokens"])
    return usage


def parse_chat_completion(body: Any, *, requested_model: str, wants_json: bool, url: str) -> dict[str, Any]:
    """The standard LLM result from a 2xx chat-completion ``body``.

    Raises:
        LLMResponseError: ``body`` is not a JSON object with a ``choices[0].message`` object.
    """
    choices = body.get("choices") if isinstance(body, Mapping) else None
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, Mapping) else None
    if not isinstance(message, Mapping):
        snippet = body if isinstance(body, str) else json.dumps(body)[:200]
        raise LLMResponseError(
            f"LLM server at {url} returned no chat completion: {str(snippet)[:200]!r}", status=200, url=url
        )
    assert isinstance(choice, Mapping) and isinstance(body, Mapping)
    content = _content_text(message.get("content"))
    result: dict[str, Any] = {
        "content": content,
        "data": parse_json_content(content) if wants_json else None,
        "tool_calls": normalize_tool_calls(message.get("tool_calls")),
        "usage": _usage(body.get("usage")),
        "model": body.get("model") or requested_model,
        "finish_reason": choice.get("finish_reason"),
        "metadata": {"response_id": body.get("id")},
    }
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        result["reasoning"] = reasoning
    return result


def _error_message(body: Any) -> str:
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping) and err.get("message"):
            return str(err["message"])
        if err or body.get("detail") or body.get("message"):
            return str(err or body.get("detail") or body.get("message"))
    return str(body)[:300]


def retry_after_seconds(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """The ``Retry-After`` header (lower-case key) in seconds: delta-seconds or an HTTP-date.

    An HTTP-date is measured from ``now`` (default: the wall clock, UTC); a date in the past gives 0.0.
    Returns None when the header is missing or unreadable.
    """
    raw = str(headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def error_for_status(status: int, headers: Mapping[str, str], body: Any, *, url: str) -> LLMCallError:
    """The typed error for a non-2xx answer (401/403 auth, 404, 429, 5xx, other 4xx)."""
    detail = _error_message(body)
    if status in (401, 403):
        hint = "check the Authorization header (headers=...) or the provider API key"
        return LLMAuthError(
            f"LLM server refused the credentials (HTTP {status}): {detail}; {hint}", status=status, url=url
        )
    if status == 404:
        return LLMNotFoundError(
            f"LLM endpoint or model not found (HTTP 404) at {url}: {detail}", status=status, url=url
        )
    if status == 429:
        return LLMRateLimitError(
            f"LLM server is rate limiting (HTTP 429): {detail}",
            retry_after_s=retry_after_seconds(headers),
            url=url,
        )
    if status >= 500:
        return LLMServerError(
            f"LLM server error (HTTP {status}): {detail}",
            status=status,
            url=url,
            retry_after_s=retry_after_seconds(headers),
        )
    retryable = status in (408, 409, 425)
    return LLMCallError(
        f"LLM request rejected (HTTP {status}): {detail}", status=status, retryable=retryable, url=url
    )
