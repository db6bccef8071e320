"""Runtime grounding for LLM_CALL (SPEC §11.2): tell the model what time it is and where the host is.

Each LLM_CALL computes, once, a small dict such as::

    {"current_time_utc": "2026-12-06T02:30:00Z", "country": "FR"}

and sends it in front of the user turn as ``<runtime_metadata>{json}</runtime_metadata>`` followed by a blank
line.  The same dict is recorded in the result under ``metadata.runtime_grounding``.  Because the effect's
result is recorded in the ledger and reused on replay (its idempotency key hashes the payload, which the
grounding never changes), a replayed run sees the time of the original call, not a new one.

* ``current_time_utc``: the handler clock's ``now()`` (UTC, ISO-8601, whole seconds, ``Z`` suffix).
* ``country``: env ``ABSTRACTRUNTIME_COUNTRY`` (an ISO 3166 alpha-2 code, upper-cased), else the territory of
  the POSIX locale in ``LC_ALL``/``LC_MESSAGES``/``LANG`` (``fr_FR.UTF-8`` → ``FR``); omitted when neither
  says (``C``/``POSIX`` locales name no country).

Turning it off (the first that is set wins): payload ``runtime_grounding`` (bool), host var
``_runtime.grounding`` (bool), env ``ABSTRACTRUNTIME_GROUNDING`` (``0``/``false``/``no``/``off``).  Generated-
media calls (images, speech, transcription) are never grounded: the prefix would end up in the image prompt
or the spoken text.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ...core.models import RunState

__all__ = [
    "COUNTRY_ENV",
    "GROUNDING_ENV",
    "GROUNDING_TAG",
    "apply_grounding",
    "grounding_enabled",
    "grounding_prefix",
    "host_country",
    "runtime_grounding",
]

GROUNDING_TAG = "runtime_metadata"
COUNTRY_ENV = "ABSTRACTRUNTIME_COUNTRY"
GROUNDING_ENV = "ABSTRACTRUNTIME_GROUNDING"
_LOCALE_ENV = ("LC_ALL", "LC_MESSAGES", "LANG")
_LOCALE = re.compile(r"^[a-zA-Z]{2,3}_([a-zA-Z]{2})(?:[.@].*)?$")
_FALSE = frozenset({"0", "false", "no", "off"})


def grounding_enabled(
    run: RunState, payload: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> bool:
    """Whether this LLM_CALL is grounded (see the module docstring for the switches and their order)."""
    flag = payload.get("runtime_grounding")
    if isinstance(flag, bool):
        return flag
    runtime = run.vars.get("_runtime")
    if isinstance(runtime, Mapping) and isinstance(runtime.get("grounding"), bool):
        return bool(runtime["grounding"])
    value = (os.environ if env is None else env).get(GROUNDING_ENV, "")
    return value.strip().lower() not in _FALSE


def host_country(env: Mapping[str, str] | None = None) -> str | None:
    """The host's country code (``ABSTRACTRUNTIME_COUNTRY``, else the locale's territory), or None."""
    env = os.environ if env is None else env
    explicit = env.get(COUNTRY_ENV, "").strip()
    if explicit:
        return explicit.upper()
    for name in _LOCALE_ENV:
        value = env.get(name, "").strip()
        if value:
            match = _LOCALE.match(value)
            return match.group(1).upper() if match else None
    return None


def runtime_grounding(now: datetime, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The grounding dict for a call made at ``now`` (a tz-aware datetime; naive is taken as UTC)."""
    moment = now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
    stamp = moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    grounding = {"current_time_utc": stamp}
    country = host_country(env)
    if country:
        grounding["country"] = country
    return grounding


def grounding_prefix(grounding: Mapping[str, Any]) -> str:
    """``<runtime_metadata>{compact sorted JSON}</runtime_metadata>`` followed by a blank line."""
    body = json.dumps(dict(grounding), sort_keys=True, separators=(",", ":"))
    return f"<{GROUNDING_TAG}>{body}</{GROUNDING_TAG}>\n\n"


def apply_grounding(
    prompt: str, messages: list[dict[str, Any]] | None, grounding: Mapping[str, Any]
) -> tuple[str, list[dict[str, Any]] | None]:
    """``(prompt, messages)`` with the grounding prefix on the user turn.

    The user turn is ``prompt`` when it is not blank, else the last ``user`` message (a string content gets
    the prefix; a list of content parts gets a leading text part).  The inputs are not modified.
    """
    prefix = grounding_prefix(grounding)
    if prompt.strip():
        return prefix + prompt, messages
    for index in range(len(messages or []) - 1, -1, -1):
        assert messages is not None
        message = messages[index]
        if message.get("role") != "user":
            continue
        content = message.get("content")
        grounded = dict(message)
        if isinstance(content, list):
            grounded["content"] = [{"type": "text", "text": prefix.rstrip("\n")}, *content]
        else:
            grounded["content"] = prefix + ("" if content is None else str(content))
        return prompt, [*messages[:index], grounded, *messages[index + 1 :]]
    return prompt, messages
