"""Which LLM the command line talks to: flags, environment, a config file, and what a run remembers.

Precedence, first set wins, for each of ``base_url``, ``model`` and ``api_key``:

1. the options of ``run`` / ``resume`` (``--llm-base-url``, ``--llm-model``, ``--llm-api-key``);
2. the environment: ``ABSTRACTRUNTIME_LLM_BASE_URL``, ``ABSTRACTRUNTIME_LLM_MODEL``, ``ABSTRACTRUNTIME_LLM_API_KEY``;
3. the ``[llm]`` table of the config file (``ABSTRACTRUNTIME_CONFIG``, else ``config.toml`` in the per-user config
   directory, e.g. ``~/.config/abstractruntime/config.toml``);
4. for ``base_url`` and ``model`` only: what the run recorded when it started (``_runtime.cli_llm``), so a later
   ``resume`` or ``scheduler serve`` reaches the same server.

The API key is a credential: it is never stored in run state or printed; each process reads it again.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abstractruntime.core.models import Effect, EffectType, RunState
from abstractruntime.core.outcome import EffectOutcome

from .app import EXIT_USAGE, CliError

__all__ = [
    "CLI_NS_LLM",
    "LlmSettings",
    "llm_effect_handlers",
    "resolve_llm_settings",
]

CLI_NS_LLM = "cli_llm"
"""Key under ``vars._runtime`` holding ``{"base_url", "model"}`` of a CLI run (never the API key)."""

ENV_BASE_URL = "ABSTRACTRUNTIME_LLM_BASE_URL"
ENV_MODEL = "ABSTRACTRUNTIME_LLM_MODEL"
ENV_API_KEY = "ABSTRACTRUNTIME_LLM_API_KEY"
ENV_CONFIG = "ABSTRACTRUNTIME_CONFIG"

NO_LLM_MESSAGE = (
    "no LLM is configured: pass --llm-base-url URL --llm-model NAME (or set {base} and {model}, or an [llm] "
    "table in {config}), or --fake-llm for a scripted stand-in model"
)


@dataclass(frozen=True)
class LlmSettings:
    """An OpenAI-compatible endpoint: ``base_url`` (e.g. ``http://127.0.0.1:11434``), ``model``, ``api_key``."""

    base_url: str
    model: str
    api_key: str | None = None

    def stored(self) -> dict[str, str]:
        """What a run may remember (no credentials)."""
        return {"base_url": self.base_url, "model": self.model}


def config_path() -> Path:
    """The config file: ``$ABSTRACTRUNTIME_CONFIG`` or ``<user config dir>/abstractruntime/config.toml``."""
    explicit = os.environ.get(ENV_CONFIG)
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("abstractruntime", appauthor=False)) / "config.toml"


def _read_config() -> dict[str, Any]:
    path = config_path()
    if not path.is_file():
        return {}
    # tomllib is in the standard library from 3.11; the cli extra brings tomli on 3.10
    tomllib: Any = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read the config file {path}: {exc}", EXIT_USAGE) from exc
    table = data.get("llm")
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise CliError(f"{path}: [llm] must be a table", EXIT_USAGE)
    return table


def _pick(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def resolve_llm_settings(
    *,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    stored: Any = None,
) -> LlmSettings | None:
    """The LLM to use (see the module docstring), or None when no base URL is configured anywhere.

    Raises:
        CliError (exit 2): a base URL without a model, or an unreadable config file.
    """
    config = _read_config()
    remembered = stored if isinstance(stored, dict) else {}
    url = _pick(base_url, os.environ.get(ENV_BASE_URL), config.get("base_url"), remembered.get("base_url"))
    if url is None:
        return None
    name = _pick(model, os.environ.get(ENV_MODEL), config.get("model"), remembered.get("model"))
    if name is None:
        raise CliError(
            f"an LLM base URL is set ({url}) but no model: pass --llm-model or set {ENV_MODEL}", EXIT_USAGE
        )
    key = _pick(api_key, os.environ.get(ENV_API_KEY), config.get("api_key"))
    return LlmSettings(base_url=url.rstrip("/"), model=name, api_key=key)


def _no_llm(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    message = NO_LLM_MESSAGE.format(base=ENV_BASE_URL, model=ENV_MODEL, config=config_path())
    return EffectOutcome.failed(message)


def llm_effect_handlers(
    settings: LlmSettings | None, closers: list[Any] | None = None, tool_specs: Any = None
) -> dict[EffectType, Any]:
    """The LLM_CALL handler for ``settings``: a real HTTP client, or one that fails naming how to configure it.

    The client's ``close`` is appended to ``closers`` (the caller closes it when the command ends);
    ``tool_specs`` (``{name: spec}``) describe tools that LLM payloads list by name.

    Raises:
        MissingExtraError: the ``llm`` extra (httpx) is not installed.
    """
    if settings is None:
        return {EffectType.LLM_CALL: _no_llm}
    from abstractruntime.integrations.abstractcore.effect_handlers import make_llm_call_handler
    from abstractruntime.integrations.abstractcore.llm_client import RemoteAbstractCoreLLMClient

    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else None
    client = RemoteAbstractCoreLLMClient(
        server_base_url=settings.base_url, model=settings.model, headers=headers
    )
    return {EffectType.LLM_CALL: make_llm_call_handler(llm=client, tool_specs=tool_specs)}
