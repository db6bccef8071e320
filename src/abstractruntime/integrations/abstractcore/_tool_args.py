"""Tool-call argument handling shared by the executors: canonical keyword names and failure-shaped outputs.

Models name arguments loosely (``filePath``, ``file-path``, ``filename`` for a parameter called
``file_path``).  :func:`canonical_kwargs` maps what a call gives onto what the Python function accepts:

1. a JSON string is parsed; a lone nested ``{"arguments": {...}}`` is unwrapped;
2. a key matches a parameter when both are equal after lower-casing and removing ``_``, ``-`` and spaces;
3. otherwise a key and a parameter in the same synonym group match (``path``/``file_path``/``filename``,
   ``dir``/``directory``/``folder``, ``query``/``pattern``/``search``, ``start``/``start_line``/``offset``,
   ``end``/``end_line``, ...);
4. keys the function does not accept are dropped (unless it takes ``**kwargs``).

Also here, for every executor: :func:`tool_result` (the standard result shape) and :func:`call_with_timeout`.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "DIRECTORY_SYNONYMS",
    "PATH_SYNONYMS",
    "call_with_timeout",
    "canonical_kwargs",
    "failure_of",
    "flatten_arguments",
    "normalize_key",
    "parse_arguments",
    "tool_result",
]

PATH_SYNONYMS: frozenset[str] = frozenset(
    {"path", "filepath", "filename", "file", "fname", "target", "targetpath"}
)
"""Normalized argument names that mean a file path."""

DIRECTORY_SYNONYMS: frozenset[str] = frozenset(
    {"dir", "directory", "directorypath", "folder", "folderpath", "rootdir", "root", "basedir"}
)
"""Normalized argument names that mean a directory."""

_SYNONYM_GROUPS: tuple[frozenset[str], ...] = (
    PATH_SYNONYMS,
    DIRECTORY_SYNONYMS,
    frozenset({"query", "pattern", "search", "searchterm", "q", "regex", "term"}),
    frozenset({"start", "startline", "offset", "fromline", "linestart"}),
    frozenset({"end", "endline", "toline", "lineend"}),
    frozenset({"content", "contents", "text", "data", "body"}),
    frozenset({"command", "cmd", "shellcommand"}),
    frozenset({"url", "uri", "link"}),
)

_FAILURE_PREFIXES = ("Error:", "❌", "🚫", "⏰")


def normalize_key(key: str) -> str:
    """``key`` lower-cased without ``_``, ``-`` and spaces (``"File-Path"`` → ``"filepath"``)."""
    return "".join(ch for ch in key.lower() if ch not in "_- ")


def parse_arguments(raw: Any) -> dict[str, Any]:
    """The argument dict of a call: a dict as is, a JSON object string parsed, anything else ``{}``.

    A dict whose only key is ``arguments`` holding a dict (a doubly wrapped call) is unwrapped.
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return {}
    if not isinstance(raw, dict):
        return {}
    while set(raw) == {"arguments"} and isinstance(raw["arguments"], (dict, str)):
        inner = raw["arguments"]
        raw = parse_arguments(inner) if isinstance(inner, str) else inner
    return dict(raw)


def flatten_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` with a nested ``arguments`` dict (or JSON object string) merged in; the outer keys win."""
    inner = arguments.get("arguments")
    if isinstance(inner, str):
        inner = parse_arguments(inner) if inner.strip().startswith("{") else None
    if not isinstance(inner, dict):
        return dict(arguments)
    merged = flatten_arguments(inner)
    merged.update({k: v for k, v in arguments.items() if k != "arguments"})
    return merged


def _group_of(key: str) -> frozenset[str] | None:
    return next((group for group in _SYNONYM_GROUPS if key in group), None)


def canonical_kwargs(func: Callable[..., Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments to call ``func`` with, from a call's loosely named ``arguments``."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return dict(arguments)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = {
        normalize_key(name): name
        for name, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    if "arguments" not in named:
        arguments = flatten_arguments(arguments)
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        target = _target(str(key), named)
        if target is None:
            if accepts_any:
                out[str(key)] = value
            continue
        if target in out and normalize_key(str(key)) != normalize_key(target):
            continue  # a synonym never overrides the parameter given by its own name
        out[target] = value
    return out


def _target(key: str, named: dict[str, str]) -> str | None:
    norm = normalize_key(key)
    if norm in named:
        return named[norm]
    group = _group_of(norm)
    if group is None:
        return None
    return next((name for n, name in named.items() if n in group), None)


def failure_of(output: Any) -> str | None:
    """The error message when ``output`` reports a failure, else None.

    Failure-shaped outputs: a dict with ``success`` or ``ok`` set to False (its ``error``/``message``
    becomes the message), or a string starting with ``Error:``, ``❌``, ``🚫`` or ``⏰``.
    """
    if isinstance(output, dict) and (output.get("success") is False or output.get("ok") is False):
        message = output.get("error") or output.get("message") or "Tool reported failure"
        return str(message)
    if isinstance(output, str) and output.lstrip().startswith(_FAILURE_PREFIXES):
        return output.strip()
    return None


def tool_result(
    call: Mapping[str, Any], *, success: bool, output: Any = None, error: str | None = None
) -> dict[str, Any]:
    """One result in the standard shape for ``call`` (ids and name copied from the call)."""
    return {
        "call_id": call.get("call_id") or call.get("id"),
        "runtime_call_id": call.get("runtime_call_id"),
        "name": call.get("name"),
        "success": success,
        "output": output,
        "error": error,
    }


def call_with_timeout(
    func: Callable[..., Any], kwargs: Mapping[str, Any], *, timeout_s: float | None, name: str
) -> Any:
    """``func(**kwargs)``, limited to ``timeout_s`` seconds when it is positive (None, 0 or less: no limit).

    With a limit the call runs in a daemon thread that is abandoned, not killed, when time runs out.

    Raises:
        TimeoutError: ``Tool '<name>' timed out after <timeout_s>s``.
        Exception: whatever ``func`` raised, re-raised in the calling thread.
    """
    if timeout_s is None or timeout_s <= 0:
        return func(**kwargs)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="tool-call", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TimeoutError(f"Tool '{name}' timed out after {timeout_s}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")
