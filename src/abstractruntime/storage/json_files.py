"""The file backend (SPEC §7.3): ``JsonFileRunStore`` and ``JsonlLedgerStore``.

Both can share one directory::

    runtime = Runtime(run_store=JsonFileRunStore("./data"), ledger_store=JsonlLedgerStore("./data"))

Layout: ``run_<run_id>.json`` (the run, replaced atomically), ``ledger_<run_id>.jsonl`` (append-only),
``.runs.lock`` (the per-run lock file used by step commits across processes), and, with
``JsonFileLeaseStore``, ``lease_<run_id>.json`` plus ``.leases.lock`` (run leases, see ``leases.py``).
"""

from __future__ import annotations

from .json_leases import JsonFileLeaseStore
from .json_runs import JsonFileRunStore
from .jsonl_ledger import JsonlLedgerStore

__all__ = ["JsonFileLeaseStore", "JsonFileRunStore", "JsonlLedgerStore"]
