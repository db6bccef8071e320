"""Keep large values out of run state and ledger records by storing them as artifacts (SPEC §7.8).

:func:`offload_large_values` walks dicts and lists and replaces what is too large with an artifact
reference ``{"$artifact": id}`` (see :mod:`abstractruntime.storage.artifacts`):

* a string whose UTF-8 encoding is over the limit becomes a ``text/plain`` artifact (tag ``kind=text``);
* ``bytes`` are always offloaded, whatever their size (``application/octet-stream``, ``kind=bytes``);
* a dict or list whose compact JSON is still over the limit once its children were processed is
  stored whole (``application/json``, ``kind=json``).

Every artifact gets the caller's ``base_tags`` plus ``path`` (where the value sat, such as
``vars._temp.x[0]``) and ``kind``.  Existing references are kept as they are.  Artifact ids are
content addressed per run, so offloading the same value twice stores it once.

The inline limit is ``max_inline_bytes``; the decorators default it to the environment variable
``ABSTRACTRUNTIME_MAX_INLINE_BYTES`` or :data:`DEFAULT_MAX_INLINE_BYTES` (256 KiB).  A limit ``<= 0``
disables offloading.

Decorators:

* :class:`OffloadingRunStore` offloads a run's copy once the run is terminal (values nested inside
  ``_``-prefixed vars namespaces, and ``output``).  It keeps the durable engine's guarantees: when the
  inner store has the revision capability (``load_checkpoint``/``current_revision``/``commit``, see
  :class:`~abstractruntime.storage.base.RevisionedRunStore`), the decorator has it too and forwards
  it — so the engine still gets one atomic commit per step and optimistic concurrency — and when the
  inner store lacks it, the decorator lacks it too: ``isinstance(store, RevisionedRunStore)`` tells the
  truth.  This is done by choosing the class at construction (``OffloadingRunStore(inner)`` returns
  an instance of a subclass adding the three methods when ``inner`` has them; it is still an
  ``OffloadingRunStore``).  The query methods are always present and raise ``NotImplementedError``
  when the inner store lacks one, as SPEC §7.8 documents.
* :class:`OffloadingLedgerStore` offloads inside each record's ``effect`` and ``result`` (never the
  roots) before handing it on, including through ``append_many`` and ``append_linked`` (so a hash
  chain covers the stored form).  The caller's record objects are never modified, except that chain
  fields set by ``append_linked`` are copied back.  Note: a result that was offloaded is reused in its
  reference form by the idempotency path (``find_completed``).

Artifacts are written before the inner store is called, so a write that then fails (a revision
conflict, a value that is not JSON-safe) leaves unreferenced artifacts; ``FileArtifactStore.gc``
reclaims their blobs.
"""

from __future__ import annotations

import builtins
import inspect
import json
import logging
import os
from collections.abc import Callable
from typing import Any, cast

from ..errors import CyclicValueError
from .artifacts import ArtifactStore, artifact_ref, is_artifact_ref

__all__ = [
    "DEFAULT_MAX_INLINE_BYTES",
    "MAX_INLINE_BYTES_ENV",
    "OffloadingLedgerStore",
    "OffloadingRunStore",
    "default_max_inline_bytes",
    "offload_large_values",
]

_log = logging.getLogger(__name__)

DEFAULT_MAX_INLINE_BYTES = 262144
"""Values larger than this (bytes of UTF-8 / compact JSON) are offloaded by default (256 KiB)."""

MAX_INLINE_BYTES_ENV = "ABSTRACTRUNTIME_MAX_INLINE_BYTES"
"""Environment variable overriding :data:`DEFAULT_MAX_INLINE_BYTES` for the decorators."""

_COMPACT = (",", ":")


def default_max_inline_bytes() -> int:
    """The inline limit in bytes: ``$ABSTRACTRUNTIME_MAX_INLINE_BYTES`` when set to an int, else 262144.

    An unparsable value is logged and ignored.
    """
    raw = os.environ.get(MAX_INLINE_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_INLINE_BYTES
    try:
        return int(raw)
    except ValueError:
        _log.warning("ignoring %s=%r: not an integer", MAX_INLINE_BYTES_ENV, raw)
        return DEFAULT_MAX_INLINE_BYTES


def _json_size(value: Any) -> int | None:
    """Bytes of the compact UTF-8 JSON of ``value``, or None when it has no JSON form."""
    try:
        return len(json.dumps(value, ensure_ascii=False, separators=_COMPACT).encode("utf-8"))
    except (TypeError, ValueError):
        return None


def _key_size(key: Any) -> int | None:
    """Bytes of a dict key as JSON writes it (non-str keys are converted as ``json`` does)."""
    if isinstance(key, str):
        return _json_size(key)
    size = _json_size({key: 0})  # '{' + key + ':0}'
    return None if size is None else size - 4


AllowOffload = Callable[[str, Any], bool] | Callable[[str], bool]
"""``allow_offload(key, value) -> bool`` (``key`` is the value's path); ``allow_offload(key)`` also works."""


def _as_key_value_callback(callback: AllowOffload) -> Callable[[str, Any], bool]:
    """``callback`` as a ``(key, value)`` callable; a callable taking one argument gets the key only."""
    try:
        inspect.signature(callback).bind("key", None)
    except TypeError:  # it cannot take two arguments: the one-argument form
        one = cast(Callable[[str], bool], callback)
        return lambda key, value: bool(one(key))
    except ValueError:  # no introspectable signature (some builtins): assume the documented form
        pass
    return cast(Callable[[str, Any], bool], callback)


class _Offloader:
    """One :func:`offload_large_values` call (holds the settings and the cycle guard)."""

    def __init__(
        self,
        *,
        store: ArtifactStore,
        run_id: str | None,
        limit: int,
        base_tags: dict[str, str],
        allow_offload: AllowOffload | None,
        allow_root_replace: bool,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.limit = limit
        self.base_tags = base_tags
        self.allow_offload = None if allow_offload is None else _as_key_value_callback(allow_offload)
        self.allow_root_replace = allow_root_replace
        self.active: set[int] = set()

    def may_replace(self, path: str, root: bool, value: Any) -> bool:
        if root and not self.allow_root_replace:
            return False
        return self.allow_offload is None or bool(self.allow_offload(path, value))

    def offloaded(self, content: bytes, content_type: str, path: str, kind: str) -> tuple[Any, int | None]:
        tags = {**self.base_tags, "path": path, "kind": kind}
        meta = self.store.store(content, content_type=content_type, run_id=self.run_id, tags=tags)
        ref = artifact_ref(meta.artifact_id)
        return ref, _json_size(ref)

    def walk(self, value: Any, path: str, root: bool) -> tuple[Any, int | None]:
        """``(value or its replacement, compact JSON size in bytes or None when not JSON)``."""
        if isinstance(value, str):
            # UTF-8 needs at most 4 bytes per character: shorter strings cannot be over the limit
            if len(value) * 4 > self.limit:
                data = value.encode("utf-8", "surrogatepass")
                if len(data) > self.limit and self.may_replace(path, root, value):
                    return self.offloaded(data, "text/plain", path, "text")
            return value, _json_size(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            if self.may_replace(path, root, value):
                return self.offloaded(bytes(value), "application/octet-stream", path, "bytes")
            return value, None
        if isinstance(value, (dict, list)):
            if is_artifact_ref(value):
                return value, _json_size(value)
            return self.container(value, path, root)
        return value, _json_size(value)

    def container(self, value: dict[Any, Any] | list[Any], path: str, root: bool) -> tuple[Any, int | None]:
        marker = id(value)
        if marker in self.active:
            raise CyclicValueError(path=path, run_id=self.run_id)
        self.active.add(marker)
        try:
            new, size = self._dict(value, path) if isinstance(value, dict) else self._list(value, path)
        finally:
            self.active.discard(marker)
        if size is not None and size > self.limit and self.may_replace(path, root, new):
            text = json.dumps(new, ensure_ascii=False, separators=_COMPACT)
            return self.offloaded(text.encode("utf-8"), "application/json", path, "json")
        return new, size

    def _dict(self, value: dict[Any, Any], path: str) -> tuple[Any, int | None]:
        items: builtins.list[tuple[Any, Any]] = []
        changed = False
        total: int | None = 2 + max(len(value) - 1, 0)
        for key, child in value.items():
            new, size = self.walk(child, f"{path}.{key}" if path else str(key), False)
            changed = changed or new is not child
            items.append((key, new))
            key_size = _key_size(key)
            total = None if total is None or size is None or key_size is None else total + key_size + 1 + size
        return (dict(items) if changed else value), total

    def _list(self, value: builtins.list[Any], path: str) -> tuple[Any, int | None]:
        items: builtins.list[Any] = []
        changed = False
        total: int | None = 2 + max(len(value) - 1, 0)
        for index, child in enumerate(value):
            new, size = self.walk(child, f"{path}[{index}]", False)
            changed = changed or new is not child
            items.append(new)
            total = None if total is None or size is None else total + size
        return (items if changed else value), total


def offload_large_values(
    value: Any,
    *,
    artifact_store: ArtifactStore,
    run_id: str | None,
    max_inline_bytes: int,
    base_tags: dict[str, str] | None = None,
    root_path: str = "",
    allow_offload: AllowOffload | None = None,
    allow_root_replace: bool = False,
) -> Any:
    """``value`` with its large parts replaced by artifact references (SPEC §7.8).

    Args:
        value: any value; dicts and lists are walked, other values are leaves.
        artifact_store: where offloaded values go.
        run_id: the run the artifacts belong to (also scopes their ids).
        max_inline_bytes: the limit in bytes; ``<= 0`` returns ``value`` unchanged.
        base_tags: tags added to every artifact (with ``path`` and ``kind``).
        root_path: the path of ``value`` itself, the prefix of every ``path`` tag (``vars._temp``
            gives ``vars._temp.x[0]``).
        allow_offload: ``allow_offload(key, value) -> bool``, called for each value about to be
            replaced with its path (``key``, such as ``vars._temp.x[0]``) and the value itself (a
            container after its children were processed); only values it accepts are replaced
            (everything is still walked).  A callable taking a single argument is called with the
            key only.
        allow_root_replace: whether ``value`` itself may be replaced.

    Returns:
        ``value`` itself when nothing was replaced, otherwise a new structure (containers on the
        way to a replaced value are copied; the input is never modified).

    Raises:
        CyclicValueError (ValueError): ``value`` contains itself.
    """
    if max_inline_bytes <= 0:
        return value
    try:  # fast path: the ASCII-escaped compact JSON bounds every leaf and subtree from above
        if len(json.dumps(value, separators=_COMPACT)) <= max_inline_bytes:
            return value
    except (TypeError, ValueError):  # bytes, other non-JSON leaves, or a cycle: walk to find out
        pass
    offloader = _Offloader(
        store=artifact_store,
        run_id=run_id,
        limit=max_inline_bytes,
        base_tags={str(k): str(v) for k, v in (base_tags or {}).items()},
        allow_offload=allow_offload,
        allow_root_replace=allow_root_replace,
    )
    return offloader.walk(value, root_path, True)[0]


def _forward(inner: object, name: str, error: Callable[[str], Exception]) -> Callable[..., Any]:
    method: Callable[..., Any] | None = getattr(inner, name, None)
    if not callable(method):
        raise error(f"{type(inner).__name__} does not implement {name}()")
    return method


# -- run store -----------------------------------------------------------------------------------------


from .offloading_ledger import OffloadingLedgerStore  # noqa: E402  (re-export; it imports this module)
from .offloading_runs import OffloadingRunStore  # noqa: E402  (re-export; it imports this module)
