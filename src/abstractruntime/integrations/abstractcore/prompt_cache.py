"""Prompt-cache keys for LLM_CALL (SPEC §11.2): which requests may share a server-side prompt cache.

The key is chosen in this order:

1. ``params.prompt_cache_key``, or ``params.prompt_cache_binding.key``: used as given;
2. ``vars._runtime.prompt_cache.key`` (when ``_runtime.prompt_cache`` is a dict): used as given;
3. when ``vars._runtime.prompt_cache`` is true (or a dict with ``enabled`` true), or the environment variable
   ``ABSTRACTRUNTIME_PROMPT_CACHE`` is truthy (``1``, ``true``, ``yes``, ``on``): derived as
   ``"<namespace>:" + sha256("v1|<session>|<provider>|<model>|<workflow>|<node>").hexdigest()[:24]``, with
   ``namespace`` from ``_runtime.prompt_cache.namespace`` (default ``"abstractruntime"``).  A derived key
   needs a session id: runs without one get no key.

The remote client sends the key as the OpenAI ``prompt_cache_key`` body field.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from ...core.models import RunState

__all__ = ["ENV_PROMPT_CACHE", "prompt_cache_key"]

ENV_PROMPT_CACHE = "ABSTRACTRUNTIME_PROMPT_CACHE"
DEFAULT_NAMESPACE = "abstractruntime"
_TRUTHY = frozenset({"1", "true", "yes", "on"})


def _explicit(params: Mapping[str, Any]) -> str | None:
    key = params.get("prompt_cache_key")
    binding = params.get("prompt_cache_binding")
    if not key and isinstance(binding, Mapping):
        key = binding.get("key")
    return str(key) if isinstance(key, str) and key.strip() else None


def prompt_cache_key(run: RunState, params: Mapping[str, Any], *, identity: tuple[str, str]) -> str | None:
    """The cache key for an LLM_CALL of ``run`` at its current node, or None (see the module docstring).

    Args:
        run: the run making the call (session, workflow and node ids; ``vars._runtime.prompt_cache``).
        params: the call's params (explicit key; ``provider``/``model`` overrides).
        identity: the client's default ``(provider, model)``.
    """
    explicit = _explicit(params)
    if explicit is not None:
        return explicit
    runtime = run.vars.get("_runtime")
    setting = runtime.get("prompt_cache") if isinstance(runtime, dict) else None
    if isinstance(setting, Mapping):
        if isinstance(setting.get("key"), str) and setting["key"].strip():
            return str(setting["key"])
        enabled = bool(setting.get("enabled"))
        namespace = str(setting.get("namespace") or DEFAULT_NAMESPACE)
    else:
        enabled = setting is True
        namespace = DEFAULT_NAMESPACE
    if not enabled and os.environ.get(ENV_PROMPT_CACHE, "").strip().lower() not in _TRUTHY:
        return None
    if not run.session_id:
        return None
    provider = str(params.get("provider") or identity[0])
    model = str(params.get("model") or identity[1])
    text = f"v1|{run.session_id}|{provider}|{model}|{run.workflow_id}|{run.current_node}"
    return f"{namespace}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:24]}"
