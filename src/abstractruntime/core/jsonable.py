"""JSON safety: a best-effort converter and a fast checker (SPEC §2.3 "JSON invariant").

"JSON-safe" means a value made only of dicts with str keys, lists, str, int, float, bool and None,
where floats are finite (``NaN``/``Infinity`` are not JSON).  Subclasses of those types (str enums,
``OrderedDict``) count as safe, since ``json`` writes them as their base type.

* :func:`to_jsonable` never fails: it converts what it can (dataclasses, pydantic-style
  ``model_dump()``, ``to_dict()``, enums, tuples, sets) and stringifies the rest.  Completion outputs
  written to the ledger use it.
* :func:`find_non_json_safe` / :func:`ensure_json_safe` check without converting.  They run on every
  durable save, so the walk is iterative (no recursion limit), checks the common scalar types first, and
  builds a path string only for containers and for the offending value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from enum import Enum
from typing import Any

from ..errors import NotJsonSafeError
from .logs import LazyLogger

__all__ = [
    "CYCLE_MARKER",
    "MAX_DEPTH",
    "MAX_DEPTH_MARKER",
    "ensure_json_safe",
    "find_non_json_safe",
    "is_json_safe",
    "to_jsonable",
]

logger = LazyLogger(__name__)

MAX_DEPTH = 200
"""Nesting depth beyond which :func:`to_jsonable` stops and writes :data:`MAX_DEPTH_MARKER`."""
CYCLE_MARKER = "<cycle>"
MAX_DEPTH_MARKER = "<max_depth>"

_SCALARS = (str, int, bool, type(None))
_FAST_SAFE_TYPES = frozenset({str, int, bool, type(None)})


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # best effort: a broken __str__ must not break the conversion
        logger.debug("str() failed for %s", type(value).__name__, exc_info=True)
        return f"<unprintable {type(value).__name__}>"


def _dict_key(key: Any) -> str:
    if isinstance(key, Enum):
        key = key.value
    return key if isinstance(key, str) else _safe_str(key)


def _exporter(value: Any) -> Callable[[], Any] | None:
    """The zero-argument export method of ``value`` (``model_dump`` first, then ``to_dict``), if any."""
    for name in ("model_dump", "to_dict"):
        method = getattr(value, name, None)
        if callable(method):
            return method  # type: ignore[no-any-return]
    return None


class _Converter:
    """One :func:`to_jsonable` call: tracks the objects on the current path to detect cycles."""

    def __init__(self) -> None:
        self._active: set[int] = set()

    def convert(self, value: Any, depth: int) -> Any:
        if isinstance(value, Enum):
            return self.convert(value.value, depth)
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, float):
            return value
        if depth > MAX_DEPTH:
            return MAX_DEPTH_MARKER
        ident = id(value)
        if ident in self._active:
            return CYCLE_MARKER
        self._active.add(ident)
        try:
            return self._convert_compound(value, depth)
        finally:
            self._active.discard(ident)

    def _convert_compound(self, value: Any, depth: int) -> Any:
        child = depth + 1
        if isinstance(value, dict):
            return {_dict_key(k): self.convert(v, child) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.convert(item, child) for item in value]
        if isinstance(value, (set, frozenset)):
            return [self.convert(item, child) for item in _ordered(value)]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: self.convert(getattr(value, f.name), child) for f in dataclasses.fields(value)}
        exporter = _exporter(value)
        if exporter is not None:
            try:
                exported = exporter()
            except Exception:  # best effort: fall back to str() as for any other object
                logger.debug("export of %s failed", type(value).__name__, exc_info=True)
                return _safe_str(value)
            return self.convert(exported, child)
        return _safe_str(value)


def _ordered(items: set[Any] | frozenset[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def to_jsonable(value: Any) -> Any:
    """Best-effort conversion of ``value`` to a JSON-safe value (SPEC §2.3, last bullet).

    Rules, applied recursively: enums → their value; str/int/float/bool/None unchanged; dict → dict with
    str keys (enum keys by value, others via ``str``); list/tuple → list; set → sorted list; dataclass
    instance → dict of its fields (like ``asdict``); an object with ``model_dump()`` or else
    ``to_dict()`` → its converted export; anything else → ``str(x)``.  A container met again on its own
    path becomes ``"<cycle>"`` (shared, non-cyclic references are converted each time); nesting deeper
    than 200 becomes ``"<max_depth>"``.  Floats are not altered (``NaN`` stays ``NaN``).

    Args:
        value: anything.

    Returns:
        A new JSON-serialisable value; ``value`` is not modified.
    """
    return _Converter().convert(value, 0)


def _float_problem(value: float) -> str | None:
    if math.isfinite(value):
        return None
    return f"float ({value!r})"


def _scalar_problem(value: Any) -> str | None:
    """None when ``value`` is a safe scalar, else the type description of the problem."""
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, float):
        return _float_problem(value)
    return type(value).__name__


def find_non_json_safe(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first value inside ``value`` that is not JSON-safe, or None when all of it is (SPEC §2.3).

    The walk is iterative (arbitrarily deep values are fine) and depth-first in insertion order, except
    that the scalar children of a container are checked before its nested containers are entered.  A
    container that contains itself is reported with the type name ``"<type> (cycle)"``; a dict key that
    is not a str is reported at the key's path with ``"<type> (dict key)"``; ``NaN``/``inf`` floats are
    reported as ``"float (nan)"``/``"float (inf)"``.

    Args:
        value: the value to check.
        path: the path of ``value`` itself, used as a prefix (for example ``"vars"``).

    Returns:
        ``(path, type_name)`` such as ``("vars.a.b[2]", "set")``, or None.
    """
    if isinstance(value, _SCALARS):
        return None
    if not isinstance(value, (dict, list)):
        problem = _scalar_problem(value)
        return None if problem is None else (path, problem)
    # Stack items are (container, link, leaving).  ``leaving`` marks the end of a container's subtree,
    # so ``active`` holds exactly the containers on the current path (a re-entry there is a cycle).
    # Paths are kept as parent links and rendered only for a report, so deep values cost O(n), not O(n²).
    stack: list[_StackItem] = [(value, None, False)]
    active: set[int] = set()
    while stack:
        node, link, leaving = stack.pop()
        if leaving:
            active.discard(id(node))
            continue
        if id(node) in active:
            return _render(path, link), f"{type(node).__name__} (cycle)"
        active.add(id(node))
        stack.append((node, link, True))
        found = _scan_container(node, link, stack)
        if found is not None:
            problem_link, type_name = found
            return _render(path, problem_link), type_name
    return None


# A path link is (parent link or None, dict key or list index); None is the root.
_Link = tuple[Any, str | int]
_StackItem = tuple[Any, "_Link | None", bool]


def _render(root: str, link: _Link | None) -> str:
    parts: list[str | int] = []
    while link is not None:
        link, step = link
        parts.append(step)
    out = [root]
    for step in reversed(parts):
        if isinstance(step, int):
            out.append(f"[{step}]")
        else:
            out.append(f".{step}" if root or len(out) > 1 else step)
    return "".join(out)


def _scan_container(node: Any, link: _Link | None, stack: list[_StackItem]) -> tuple[_Link, str] | None:
    """Check the scalar children of ``node`` and push its container children (in reverse, for order)."""
    pending: list[_StackItem] = []
    if isinstance(node, dict):
        for key, child in node.items():
            if type(key) is not str and not isinstance(key, str):
                return (link, _safe_str(key)), f"{type(key).__name__} (dict key)"
            if type(child) in _FAST_SAFE_TYPES:
                continue
            if isinstance(child, (dict, list)):
                pending.append((child, (link, key), False))
                continue
            problem = _scalar_problem(child)
            if problem is not None:
                return (link, key), problem
    else:
        for index, child in enumerate(node):
            if type(child) in _FAST_SAFE_TYPES:
                continue
            if isinstance(child, (dict, list)):
                pending.append((child, (link, index), False))
                continue
            problem = _scalar_problem(child)
            if problem is not None:
                return (link, index), problem
    stack.extend(reversed(pending))
    return None


def is_json_safe(value: Any) -> bool:
    """True when :func:`find_non_json_safe` finds nothing in ``value``."""
    return find_non_json_safe(value) is None


def ensure_json_safe(value: Any, *, path: str, run_id: str | None = None) -> None:
    """Raise unless ``value`` is JSON-safe (SPEC §2.3 JSON invariant).

    Args:
        value: the value headed for durable storage.
        path: the path of ``value`` (for example ``"vars"`` or ``"effect.payload"``), prefix of the report.
        run_id: the run the value belongs to, for the error.

    Raises:
        NotJsonSafeError (a TypeError): with ``path`` and ``type_name`` of the first offending value.
    """
    found = find_non_json_safe(value, path)
    if found is not None:
        raise NotJsonSafeError(path=found[0], type_name=found[1], run_id=run_id)
