"""``count_many`` through a ledger decorator whose inner store lacks it (SPEC §7.4, §7.7).

The bundled backends are covered by the store contract suite (``tests/contract``); this is the
decorator's fallback over ``count`` / ``list``, which must give the same answer: unknown ids omitted.
"""

from __future__ import annotations

import builtins
from typing import Any

from abstractruntime.core.models import StepRecord
from abstractruntime.storage import ObservableLedgerStore
from abstractruntime.storage.base import LedgerStore
from abstractruntime.testing.contract.factory import make_run


class ListOnlyLedger(LedgerStore):
    """A SPEC §7.1 ledger with ``append`` and ``list`` only (no ``count`` / ``count_many``)."""

    def __init__(self) -> None:
        self.records: dict[str, builtins.list[dict[str, Any]]] = {}

    def append(self, record: StepRecord) -> None:
        self.records.setdefault(record.run_id, []).append(record.snapshot())

    def list(self, run_id: str) -> builtins.list[dict[str, Any]]:
        return builtins.list(self.records.get(run_id, []))


def test_decorator_fallback_omits_unknown_run_ids() -> None:
    ledger = ObservableLedgerStore(ListOnlyLedger())
    run = make_run()
    for _ in range(3):
        ledger.append(StepRecord.start(run=run, node_id="n", effect=None))
    assert ledger.count_many(["nobody", run.run_id]) == {run.run_id: 3}
    assert ledger.count_many(["nobody"]) == {}
