"""``OffloadingRunStore``: moves large values of terminal runs to artifacts (SPEC §7.8).

When the inner store has the revision capability, the decorator has it too (a subclass is chosen at
construction), so the engine keeps one atomic commit per step and optimistic concurrency through it.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, cast

from ..core.models import RunState, RunStatus, StepRecord, WaitReason
from .artifacts import ArtifactStore
from .base import Checkpoint, LedgerStore, RevisionedRunStore, RunStore
from .offloading import _forward, default_max_inline_bytes, offload_large_values

__all__ = ["OffloadingRunStore"]


class OffloadingRunStore(RunStore):
    """Wraps a run store and offloads large values of terminal runs before they are stored.

    Only once a run is COMPLETED, FAILED or CANCELLED, a copy of it is stored where:

    * values nested inside ``_``-prefixed vars namespaces (paths ``vars._x.<...>``; the namespace
      value itself is never replaced) are offloaded with tag ``source=run_store_offload``;
    * ``output`` is offloaded, its root included, with tag ``source=run_output_offload``.

    The caller's run is never modified; a run that needs no offloading is passed on as is.  ``load``
    returns references as stored (nothing is resolved).

    Args:
        inner: the run store that keeps the runs.
        artifact_store: where offloaded values go.
        max_inline_bytes: the limit in bytes (None: ``$ABSTRACTRUNTIME_MAX_INLINE_BYTES`` or 262144).

    When ``inner`` has the revision capability, the object returned also has ``load_checkpoint``,
    ``current_revision`` and ``commit`` (forwarded; ``commit`` offloads the run's copy first); when it
    does not, those methods are absent, so the runtime falls back to append + save.
    """

    def __new__(cls, inner: RunStore | None = None, *args: Any, **kwargs: Any) -> OffloadingRunStore:
        if inner is None:  # copy/pickle protocols call __new__ without arguments: keep the class
            return super().__new__(cls)
        plain: type[OffloadingRunStore] = cls.__dict__.get("_plain_class", cls)
        target = _revisioned_class(plain) if isinstance(inner, RevisionedRunStore) else plain
        return super().__new__(target)

    def __init__(
        self, inner: RunStore, *, artifact_store: ArtifactStore, max_inline_bytes: int | None = None
    ) -> None:
        self._inner = inner
        self._artifact_store = artifact_store
        self._max_inline_bytes = default_max_inline_bytes() if max_inline_bytes is None else max_inline_bytes

    @property
    def shares_live_objects(self) -> bool:  # type: ignore[override]
        """Forwarded from the inner store."""
        return bool(getattr(self._inner, "shares_live_objects", False))

    @property
    def inner(self) -> RunStore:
        """The wrapped store."""
        return self._inner

    @property
    def artifact_store(self) -> ArtifactStore:
        """Where offloaded values go."""
        return self._artifact_store

    @property
    def max_inline_bytes(self) -> int:
        """The inline limit in bytes (``<= 0``: offloading disabled)."""
        return self._max_inline_bytes

    def offload_run(self, run: RunState) -> RunState:
        """The form of ``run`` this store writes: ``run`` itself, or an offloaded copy when terminal."""
        if not run.is_terminal or self._max_inline_bytes <= 0:
            return run
        new_vars = run.vars
        for key, value in run.vars.items():
            if not (isinstance(key, str) and key.startswith("_") and isinstance(value, (dict, list))):
                continue
            new = self._offload(value, run, f"vars.{key}", "run_store_offload", root=False)
            if new is not value:
                if new_vars is run.vars:
                    new_vars = dict(run.vars)
                new_vars[key] = new
        new_output = run.output
        if run.output is not None:
            new_output = self._offload(run.output, run, "output", "run_output_offload", root=True)
        if new_vars is run.vars and new_output is run.output:
            return run
        return dataclasses.replace(run, vars=new_vars, output=new_output)

    def _offload(self, value: Any, run: RunState, path: str, source: str, *, root: bool) -> Any:
        return offload_large_values(
            value,
            artifact_store=self._artifact_store,
            run_id=run.run_id,
            max_inline_bytes=self._max_inline_bytes,
            base_tags={"source": source},
            root_path=path,
            allow_root_replace=root,
        )

    def save(self, run: RunState) -> None:
        """Store ``run`` (an offloaded copy when it is terminal) in the inner store.

        Raises:
            CyclicValueError (ValueError): a value to offload contains itself.
        """
        self._inner.save(self.offload_run(run))

    def load(self, run_id: str) -> RunState | None:
        """The inner store's run, references unresolved."""
        return self._inner.load(run_id)

    def close(self) -> None:
        """Close the inner store when it can be closed."""
        closer = getattr(self._inner, "close", None)
        if callable(closer):
            closer()

    # -- queries (always present; NotImplementedError when the inner store lacks one) -------------
    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        wait_reason: WaitReason | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[RunState]:
        """Forwarded ``list_runs``.

        Raises:
            NotImplementedError: the inner store has none.
        """
        method = _forward(self._inner, "list_runs", NotImplementedError)
        return builtins.list(
            method(status=status, wait_reason=wait_reason, workflow_id=workflow_id, limit=limit)
        )

    def list_due_wait_until(self, *, now_iso: str, limit: int = 100) -> builtins.list[RunState]:
        """Forwarded ``list_due_wait_until``.

        Raises:
            NotImplementedError: the inner store has none.
        """
        method = _forward(self._inner, "list_due_wait_until", NotImplementedError)
        return builtins.list(method(now_iso=now_iso, limit=limit))

    def list_children(
        self, *, parent_run_id: str, status: RunStatus | None = None
    ) -> builtins.list[RunState]:
        """Forwarded ``list_children``.

        Raises:
            NotImplementedError: the inner store has none.
        """
        method = _forward(self._inner, "list_children", NotImplementedError)
        return builtins.list(method(parent_run_id=parent_run_id, status=status))

    def list_run_index(
        self,
        *,
        status: RunStatus | None = None,
        workflow_id: str | None = None,
        session_id: str | None = None,
        root_only: bool = False,
        limit: int = 100,
    ) -> builtins.list[dict[str, Any]]:
        """Forwarded ``list_run_index``.

        Raises:
            NotImplementedError: the inner store has none.
        """
        method = _forward(self._inner, "list_run_index", NotImplementedError)
        rows = method(
            status=status, workflow_id=workflow_id, session_id=session_id, root_only=root_only, limit=limit
        )
        return builtins.list(rows)


class _RevisionedOffloadingRunStore(OffloadingRunStore):
    """An :class:`OffloadingRunStore` over a :class:`RevisionedRunStore`: forwards the capability."""

    _plain_class = OffloadingRunStore

    def _revisioned(self) -> RevisionedRunStore:
        return cast(RevisionedRunStore, self._inner)

    def load_checkpoint(self, run_id: str) -> Checkpoint | None:
        """Forwarded: the stored run (references unresolved) with its revision, or None."""
        return self._revisioned().load_checkpoint(run_id)

    def current_revision(self, run_id: str) -> int | None:
        """Forwarded: the stored revision of ``run_id``, or None."""
        return self._revisioned().current_revision(run_id)

    def commit(
        self,
        run: RunState,
        records: Sequence[StepRecord],
        *,
        ledger_store: LedgerStore,
        expected_revision: int | None,
    ) -> int:
        """Offload the run's copy (when terminal), then the inner one-unit commit.

        Raises:
            ConcurrencyError: the stored revision is not ``expected_revision``; nothing is written
                to the run or ledger store (offloaded artifacts may remain, unreferenced).
            CyclicValueError (ValueError): a value to offload contains itself.
        """
        return self._revisioned().commit(
            self.offload_run(run), records, ledger_store=ledger_store, expected_revision=expected_revision
        )


@functools.cache
def _revisioned_class(plain: type[OffloadingRunStore]) -> type[OffloadingRunStore]:
    """The revision-forwarding variant of ``plain`` (a user subclass gets a subclass of its own)."""
    if plain is OffloadingRunStore:
        return _RevisionedOffloadingRunStore
    namespace = {"__module__": plain.__module__, "__qualname__": plain.__qualname__, "__doc__": plain.__doc__}
    variant = type(
        plain.__name__, (plain, _RevisionedOffloadingRunStore), {**namespace, "_plain_class": plain}
    )
    return cast(type[OffloadingRunStore], variant)


# -- ledger store --------------------------------------------------------------------------------------
