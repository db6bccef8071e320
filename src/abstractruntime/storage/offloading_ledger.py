"""``OffloadingLedgerStore``: keeps large effect payloads and results out of ledger lines (SPEC §7.8)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ..core.models import StepRecord
from .artifacts import ArtifactStore
from .base import LedgerStore, Link
from .ledger_decorator import LedgerDecorator
from .offloading import default_max_inline_bytes, offload_large_values

__all__ = ["OffloadingLedgerStore"]


class OffloadingLedgerStore(LedgerDecorator):
    """Wraps a ledger store and offloads large values inside each record's ``effect`` and ``result``.

    Paths are ``ledger.effect...`` / ``ledger.result...`` and tags ``source=ledger_effect_offload`` /
    ``source=ledger_result_offload``; the ``effect`` and ``result`` dicts themselves are never
    replaced.  Records that need nothing are passed on as they are; others as copies.

    Args:
        inner: the ledger store that keeps the records.
        artifact_store: where offloaded values go.
        max_inline_bytes: the limit in bytes (None: ``$ABSTRACTRUNTIME_MAX_INLINE_BYTES`` or 262144).
    """

    def __init__(
        self, inner: LedgerStore, *, artifact_store: ArtifactStore, max_inline_bytes: int | None = None
    ) -> None:
        super().__init__(inner)
        self._artifact_store = artifact_store
        self._max_inline_bytes = default_max_inline_bytes() if max_inline_bytes is None else max_inline_bytes
        self._append_lock = threading.Lock()

    @property
    def artifact_store(self) -> ArtifactStore:
        """Where offloaded values go."""
        return self._artifact_store

    @property
    def max_inline_bytes(self) -> int:
        """The inline limit in bytes (``<= 0``: offloading disabled)."""
        return self._max_inline_bytes

    def offload_record(self, record: StepRecord) -> StepRecord:
        """The form of ``record`` this store appends: ``record`` itself, or a copy with references.

        Raises:
            CyclicValueError (ValueError): the effect or result contains itself.
        """
        effect = self._offload(record.effect, record.run_id, "ledger.effect", "ledger_effect_offload")
        result = self._offload(record.result, record.run_id, "ledger.result", "ledger_result_offload")
        if effect is record.effect and result is record.result:
            return record
        stored = record.snapshot()
        stored.effect, stored.result = effect, result
        return stored

    def _offload(self, value: dict[str, Any] | None, run_id: str, path: str, source: str) -> Any:
        if value is None:
            return None
        return offload_large_values(
            value,
            artifact_store=self._artifact_store,
            run_id=run_id,
            max_inline_bytes=self._max_inline_bytes,
            base_tags={"source": source},
            root_path=path,
            allow_root_replace=False,
        )

    def append(self, record: StepRecord) -> None:
        """Append the offloaded form of ``record``."""
        self._inner.append(self.offload_record(record))

    def append_many(self, records: Sequence[StepRecord]) -> None:
        """Append the offloaded forms, in one write when the inner store has ``append_many``."""
        stored = [self.offload_record(r) for r in records]
        many = getattr(self._inner, "append_many", None)
        if callable(many):
            many(stored)
        else:
            for record in stored:
                self._inner.append(record)

    def append_linked(self, records: Sequence[StepRecord], link: Link) -> None:
        """Offload, then append linked (hash chaining covers the stored form).

        ``link`` runs under the inner store's write lock when it has ``append_linked``, else under
        this object's lock (in-process only).  Chain fields it sets are copied back to ``records``.
        """
        stored = [self.offload_record(r) for r in records]
        linked = getattr(self._inner, "append_linked", None)
        if callable(linked):
            linked(stored, link)
        elif stored:
            with self._append_lock:
                existing = self._inner.list(stored[0].run_id)
                last = existing[-1] if existing else None
                for record in stored:
                    link(last, record)
                    self._inner.append(record)
                    last = record.to_dict()
        for original, written in zip(records, stored, strict=True):
            if original is not written:
                original.prev_hash, original.record_hash = written.prev_hash, written.record_hash
