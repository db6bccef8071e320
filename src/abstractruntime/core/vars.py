"""Conventions for ``RunState.vars``: namespaces, limits, node traces and vars paths (SPEC §5.1-§5.3).

``vars`` is a JSON-safe dict owned by the workflow, with a few reserved namespaces:

* ``context``: user-facing data (task, inputs, ``messages``);
* ``scratchpad``: workflow/agent working memory;
* ``_runtime``: runtime/host-owned metadata (node traces live at ``_runtime.node_traces``);
* ``_temp``: step-to-step temporaries;
* ``_limits``: resource limits (seeded from ``RuntimeConfig.to_limits_dict`` only when missing).

Every other key is free for workflows to use.  The namespace getters repair what they read: a missing
namespace, or one that is not a dict, is replaced by a new ``{}`` in ``vars`` and that dict is returned.

Two path syntaxes are understood:

* the read syntax of :func:`parse_vars_path` (VARS_QUERY): a dot path with ``[i]`` list indices
  (``scratchpad.items[0].name``) or a JSON pointer (``/scratchpad/items/0/name``, ``~1`` → ``/``,
  ``~0`` → ``~``), resolved by :func:`resolve_vars_path`;
* the write syntax of :func:`set_vars_path` (``result_key``): a plain dotted path where every segment is
  a dict key and missing or non-dict intermediates are replaced by ``{}``.

Parsing is lenient about empty segments (``a..b``, ``/a/``, a bare ``/``): they are ignored, so ``""``
and ``"/"`` both name the root.  Keys that are the empty string therefore cannot be addressed.
"""

from __future__ import annotations

import re
from typing import Any, TypeAlias

from ..errors import VarsPathError

__all__ = [
    "CONTEXT",
    "SCRATCHPAD",
    "RUNTIME",
    "TEMP",
    "LIMITS",
    "NODE_TRACES",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MAX_ITERATIONS",
    "VarsPathToken",
    "clear_temp",
    "default_limits",
    "ensure_limits",
    "ensure_namespaces",
    "format_vars_path",
    "get_context",
    "get_limits",
    "get_namespace",
    "get_node_trace",
    "get_node_traces",
    "get_runtime",
    "get_scratchpad",
    "get_temp",
    "parse_vars_path",
    "resolve_vars_path",
    "set_vars_path",
]

CONTEXT = "context"
SCRATCHPAD = "scratchpad"
RUNTIME = "_runtime"
TEMP = "_temp"
LIMITS = "_limits"
NODE_TRACES = "node_traces"

DEFAULT_MAX_TOKENS = 32768
DEFAULT_MAX_ITERATIONS = 50

VarsPathToken: TypeAlias = str | int
"""One step of a parsed vars path: a dict key (str) or a list index (int)."""

_NAMESPACES = (CONTEXT, SCRATCHPAD, RUNTIME, TEMP)

# One dot-path segment: a (possibly empty) key followed by any number of ``[digits]`` indices.
_SEGMENT_RE = re.compile(r"^(?P<key>[^\[\]]*)(?P<indices>(?:\[\d+\])*)$")
_INDEX_RE = re.compile(r"\[(\d+)\]")


def ensure_namespaces(vars: dict[str, Any]) -> dict[str, Any]:
    """Make ``context``, ``scratchpad``, ``_runtime`` and ``_temp`` dicts in ``vars`` (SPEC §5.1).

    ``_limits`` is deliberately left alone (see :func:`ensure_limits`).

    Args:
        vars: the run's vars dict; mutated in place (missing or non-dict namespaces become ``{}``).

    Returns:
        The same ``vars`` object.
    """
    for key in _NAMESPACES:
        get_namespace(vars, key)
    return vars


def get_namespace(vars: dict[str, Any], key: str) -> dict[str, Any]:
    """Return the dict stored at ``vars[key]``, creating it when missing or not a dict (SPEC §5.1).

    Args:
        vars: the run's vars dict; mutated when the namespace has to be (re)created.
        key: the top-level key, such as :data:`CONTEXT`.

    Returns:
        The live namespace dict (mutations are visible in ``vars``).
    """
    value = vars.get(key)
    if not isinstance(value, dict):
        value = {}
        vars[key] = value
    return value


def get_context(vars: dict[str, Any]) -> dict[str, Any]:
    """Return ``vars["context"]`` (created when missing), SPEC §5.1."""
    return get_namespace(vars, CONTEXT)


def get_scratchpad(vars: dict[str, Any]) -> dict[str, Any]:
    """Return ``vars["scratchpad"]`` (created when missing), SPEC §5.1."""
    return get_namespace(vars, SCRATCHPAD)


def get_runtime(vars: dict[str, Any]) -> dict[str, Any]:
    """Return ``vars["_runtime"]`` (created when missing), SPEC §5.1."""
    return get_namespace(vars, RUNTIME)


def get_temp(vars: dict[str, Any]) -> dict[str, Any]:
    """Return ``vars["_temp"]`` (created when missing), SPEC §5.1."""
    return get_namespace(vars, TEMP)


def clear_temp(vars: dict[str, Any]) -> None:
    """Empty the ``_temp`` namespace in place (it is created empty when missing), SPEC §5.1."""
    get_temp(vars).clear()


def default_limits() -> dict[str, Any]:
    """A fresh ``_limits`` dict with the default values (SPEC §5.4, ``RuntimeConfig().to_limits_dict()``).

    Returns:
        ``{"max_iterations": 50, "current_iteration": 0, "max_tokens": 32768, "max_output_tokens": None,
        "max_input_tokens": None, "estimated_tokens_used": 0, "max_history_messages": -1,
        "warn_iterations_pct": 80, "warn_tokens_pct": 80}``.
    """
    return {
        "max_iterations": DEFAULT_MAX_ITERATIONS,
        "current_iteration": 0,
        "max_tokens": DEFAULT_MAX_TOKENS,
        "max_output_tokens": None,
        "max_input_tokens": None,
        "estimated_tokens_used": 0,
        "max_history_messages": -1,
        "warn_iterations_pct": 80,
        "warn_tokens_pct": 80,
    }


def ensure_limits(vars: dict[str, Any]) -> dict[str, Any]:
    """Return ``vars["_limits"]``, seeding it with :func:`default_limits` when missing (SPEC §5.1, §5.5).

    An existing ``_limits`` dict is returned unchanged, even when it lacks keys (a caller-provided
    ``{}`` stays ``{}``).  A value that is not a dict is replaced by the defaults.

    Args:
        vars: the run's vars dict; mutated when ``_limits`` is created.

    Returns:
        The live ``_limits`` dict.
    """
    limits = vars.get(LIMITS)
    if not isinstance(limits, dict):
        limits = default_limits()
        vars[LIMITS] = limits
    return limits


def get_limits(vars: dict[str, Any]) -> dict[str, Any]:
    """Alias of :func:`ensure_limits`: the live ``_limits`` dict, created with defaults when missing."""
    return ensure_limits(vars)


def get_node_traces(vars: dict[str, Any]) -> dict[str, Any]:
    """Return the dict at ``vars._runtime.node_traces``, creating both levels when missing (SPEC §5.3).

    Args:
        vars: the run's vars dict; mutated when ``_runtime`` or ``node_traces`` has to be created.

    Returns:
        The live mapping ``node_id -> {"node_id", "steps": [...], "updated_at"}``.
    """
    return get_namespace(get_runtime(vars), NODE_TRACES)


def get_node_trace(vars: dict[str, Any], node_id: str) -> dict[str, Any]:
    """Return the trace of ``node_id``, or ``{"node_id": node_id, "steps": []}`` (SPEC §4.8, §5.3).

    This is a read: ``vars`` is never modified, and the default is a new dict not stored anywhere.

    Args:
        vars: the run's vars dict.
        node_id: the node whose trace is wanted.

    Returns:
        The stored trace dict (live, not copied) or the empty default.
    """
    runtime = vars.get(RUNTIME)
    traces = runtime.get(NODE_TRACES) if isinstance(runtime, dict) else None
    trace = traces.get(node_id) if isinstance(traces, dict) else None
    if isinstance(trace, dict):
        return trace
    return {"node_id": node_id, "steps": []}


def parse_vars_path(path: str) -> list[VarsPathToken]:
    """Parse a VARS_QUERY path into tokens (SPEC §4.9 VARS_QUERY, §5.1).

    Two syntaxes, chosen by the first character after stripping whitespace:

    * JSON pointer (starts with ``/``): ``/a/b~1c/0`` → ``["a", "b/c", 0]``.  ``~1`` becomes ``/`` and
      then ``~0`` becomes ``~``; a segment made only of ASCII digits becomes an int token.
    * dot path: ``a.b[0].c`` → ``["a", "b", 0, "c"]``.  Dot segments are always str keys (``a.0`` gives
      ``["a", "0"]``; :func:`resolve_vars_path` still indexes lists with such keys); ``[i]`` gives an int.

    Empty segments are ignored, so ``""``, ``"/"`` and ``"."`` all give ``[]`` (the root).

    Args:
        path: the path text.

    Returns:
        The list of tokens (str keys and int indices).

    Raises:
        VarsPathError (a ValueError): ``path`` is not a str, or a dot segment has unbalanced brackets or a
            bracket that does not hold a non-negative integer.
    """
    if not isinstance(path, str):
        raise VarsPathError(f"Vars path must be a string, got {type(path).__name__}", path=None)
    text = path.strip()
    if text.startswith("/"):
        return _parse_json_pointer(text)
    tokens: list[VarsPathToken] = []
    for segment in text.split("."):
        if not segment:
            continue
        match = _SEGMENT_RE.match(segment)
        if match is None:
            raise VarsPathError(f"Invalid vars path segment {segment!r} in {path!r}", path=path)
        key = match.group("key")
        if key:
            tokens.append(key)
        tokens.extend(int(index) for index in _INDEX_RE.findall(match.group("indices")))
    return tokens


def _parse_json_pointer(text: str) -> list[VarsPathToken]:
    tokens: list[VarsPathToken] = []
    for raw in text.split("/")[1:]:
        if not raw:
            continue
        segment = raw.replace("~1", "/").replace("~0", "~")
        if segment.isascii() and segment.isdigit():
            tokens.append(int(segment))
        else:
            tokens.append(segment)
    return tokens


def format_vars_path(tokens: list[VarsPathToken]) -> str:
    """Render tokens as a dot path with ``[i]`` indices (``["a", 0, "b"]`` → ``a[0].b``; ``[]`` → ``""``)."""
    out: list[str] = []
    for token in tokens:
        if isinstance(token, int):
            out.append(f"[{token}]")
        else:
            out.append(f".{token}" if out else token)
    return "".join(out)


def resolve_vars_path(root: Any, tokens: list[VarsPathToken]) -> Any:
    """Walk ``tokens`` from ``root`` and return the value found (SPEC §5.1).

    A dict is indexed by key (an int token is looked up as its decimal string, so ``/a/0`` reaches the
    key ``"0"``).  A list is indexed by position (a str token made of ASCII digits counts as an index).

    Args:
        root: the value to start from (usually ``run.vars``).
        tokens: the output of :func:`parse_vars_path`.

    Returns:
        The value at the path (``root`` itself for ``[]``); not copied.

    Raises:
        VarsPathError (a ValueError), with the path of the container reached so far (``<root>`` at the
            top), for example ``Missing key 'k' at a.b``, ``Index 3 out of range at x (len=2)``,
            ``Expected a list index at x, got 'k'`` or ``Cannot index into str at a.b with 'c'``.
    """
    current = root
    for position, token in enumerate(tokens):
        if isinstance(current, dict):
            key = token if isinstance(token, str) else str(token)
            if key not in current:
                raise _path_error(f"Missing key {key!r}", tokens, position)
            current = current[key]
        elif isinstance(current, list):
            index = _list_index(token)
            if index is None:
                raise _path_error("Expected a list index", tokens, position, f", got {token!r}")
            if not 0 <= index < len(current):
                raise _path_error(f"Index {index} out of range", tokens, position, f" (len={len(current)})")
            current = current[index]
        else:
            prefix = f"Cannot index into {type(current).__name__}"
            raise _path_error(prefix, tokens, position, f" with {token!r}")
    return current


def _list_index(token: VarsPathToken) -> int | None:
    if isinstance(token, int) and not isinstance(token, bool):
        return token
    if isinstance(token, str) and token.isascii() and token.isdigit():
        return int(token)
    return None


def _path_error(prefix: str, tokens: list[VarsPathToken], position: int, suffix: str = "") -> VarsPathError:
    where = format_vars_path(tokens[:position]) or "<root>"
    return VarsPathError(f"{prefix} at {where}{suffix}", path=format_vars_path(tokens))


def set_vars_path(vars: dict[str, Any], dotted_path: str, value: Any) -> None:
    """Assign ``value`` at a dotted path, the write used for ``result_key`` (SPEC §4.3, §4.6).

    The path is split on ``.``; every segment is a dict key (no index syntax).  Intermediate keys that
    are missing or hold a non-dict are replaced by ``{}``; the last key is assigned.

    Args:
        vars: the dict to write into (mutated).
        dotted_path: for example ``"scratchpad.answer"``.
        value: the value to store (not copied).

    Raises:
        VarsPathError (a ValueError): ``dotted_path`` is not a non-empty str.
    """
    if not isinstance(dotted_path, str) or not dotted_path:
        raise VarsPathError(f"Invalid result path {dotted_path!r}: expected a non-empty dotted path")
    *parents, last = dotted_path.split(".")
    target = vars
    for key in parents:
        target = get_namespace(target, key)
    target[last] = value
