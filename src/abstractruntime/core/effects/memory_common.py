"""Shared plumbing of the MEMORY_* handlers (SPEC §4.9): tool-shaped results, artifact access, payload parsing.

The memory handlers answer in the standard tool shape of SPEC §4.12 (except MEMORY_REHYDRATE, whose
result has its own shape), so an agent can call them as tools.  They reach the artifact store through
the kernel (``kernel.artifact_store``): core never imports ``storage.artifacts``.  The store is used
through the two methods of SPEC §7.6 every ``ArtifactStore`` has: ``store_json(data, *, run_id, tags,
artifact_id) -> ArtifactMetadata`` and ``load_json(artifact_id) -> Any | None``.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from ..models import RunState
from ..outcome import EffectOutcome

__all__ = [
    "PREVIEW_CHARS",
    "ToolCall",
    "as_bool",
    "as_int",
    "as_str_list",
    "load_json_artifact",
    "missing_store_message",
    "new_id",
    "preview",
    "runtime_namespace",
    "store_json_artifact",
]

_log = logging.getLogger("abstractruntime.memory")

PREVIEW_CHARS = 160
"""Length of ``note_preview`` and of the previews in rehydration reports (longer text ends with ``…``)."""


@dataclass(frozen=True)
class ToolCall:
    """The identity of one memory tool call: ``call_id`` and tool ``name``.

    Build it with :meth:`from_payload`; answer with :meth:`ok` or :meth:`error`, which both return a
    *completed* outcome ``{"mode": "executed", "results": [{call_id, name, success, output, error, meta?}]}``.
    """

    call_id: str
    name: str

    @classmethod
    def from_payload(cls, payload: dict[str, Any], *, default_name: str) -> ToolCall:
        """``payload.call_id`` (default ``"memory"``) and ``payload.tool_name`` (default ``default_name``)."""
        return cls(
            call_id=str(payload.get("call_id") or "memory"),
            name=str(payload.get("tool_name") or default_name),
        )

    def ok(self, output: Any, *, meta: dict[str, Any] | None = None) -> EffectOutcome:
        """A successful tool result."""
        return self._result(success=True, output=output, error=None, meta=meta)

    def error(self, message: str, *, meta: dict[str, Any] | None = None) -> EffectOutcome:
        """A failed tool result (the effect itself still completes, like VARS_QUERY)."""
        return self._result(success=False, output=None, error=message, meta=meta)

    def _result(
        self, *, success: bool, output: Any, error: str | None, meta: dict[str, Any] | None
    ) -> EffectOutcome:
        entry: dict[str, Any] = {
            "call_id": self.call_id,
            "name": self.name,
            "success": success,
            "output": output,
            "error": error,
        }
        if meta is not None:
            entry["meta"] = meta
        return EffectOutcome.completed({"mode": "executed", "results": [entry]})


def missing_store_message(effect_name: str) -> str:
    """The error text used when ``effect_name`` runs without an artifact store."""
    return (
        f"{effect_name} requires an artifact store: configure Runtime(artifact_store=...) "
        "(for example InMemoryArtifactStore or FileArtifactStore)"
    )


def runtime_namespace(run: RunState) -> dict[str, Any]:
    """``run.vars["_runtime"]``, created (or replaced when it is not a dict) on demand."""
    ns = run.vars.get("_runtime")
    if not isinstance(ns, dict):
        ns = run.vars["_runtime"] = {}
    return ns


def store_json_artifact(
    store: Any, data: Any, *, run_id: str, tags: dict[str, str], artifact_id: str | None = None
) -> str:
    """Store ``data`` as a JSON artifact and return its id.

    Raises:
        whatever the store raises (``ValueError`` for a bad id, ``OSError`` for a file store, ...).
    """
    meta = store.store_json(data, run_id=run_id, tags=tags, artifact_id=artifact_id)
    return str(meta.artifact_id)


def load_json_artifact(store: Any, artifact_id: str) -> tuple[Any, str | None]:
    """Load a JSON artifact: ``(data, None)``, or ``(None, error message)`` when it is missing or unreadable."""
    try:
        data = store.load_json(artifact_id)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        _log.warning("artifact %s could not be read: %s", artifact_id, exc)
        return None, f"artifact {artifact_id} could not be read: {exc}"
    if data is None:
        return None, f"artifact {artifact_id} not found"
    return data, None


def new_id(prefix: str) -> str:
    """A fresh id ``<prefix>_<32 hex>`` (valid as an artifact id: ``[A-Za-z0-9_-]+``)."""
    return f"{prefix}_{uuid.uuid4().hex}"


def preview(text: Any, limit: int = PREVIEW_CHARS) -> str:
    """``text`` as a one-line string of at most ``limit`` characters (``…`` marks a cut)."""
    value = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)] + "…"


def as_int(value: Any, default: int, *, minimum: int | None = None) -> int:
    """``value`` as an int (bools and unparsable values give ``default``), clamped to ``minimum``."""
    if isinstance(value, bool) or value is None:
        result = default
    else:
        try:
            result = int(value)
        except (TypeError, ValueError):
            result = default
    return max(result, minimum) if minimum is not None else result


def as_bool(value: Any, default: bool) -> bool:
    """``value`` as a bool; None gives ``default`` and the strings ``false/0/no/off`` are False."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in {"", "false", "0", "no", "off"}
    return bool(value)


def as_str_list(value: Any) -> list[str]:
    """A list of non-blank stripped strings from a string, a list of strings, or None."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[str] = []
    for item in items:
        if item is None or isinstance(item, (dict, list)):
            continue
        text = str(item).strip()
        if text and text not in out:
            out.append(text)
    return out
