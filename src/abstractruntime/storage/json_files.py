"""The file backend (SPEC §7.3): ``JsonFileRunStore`` and ``JsonlLedgerStore``.

Both can share one directory::

    runtime = Runtime(run_store=JsonFileRunStore("./data"), ledger_store=JsonlLedgerStore("./data"))

Layout: ``run_<run_id>.json`` (the run, replaced atomically), ``ledger_<run_id>.jsonl`` (append-only),
and ``.runs.lock`` (the per-run lock file used by step commits across processes).
"""

from __future__ import annotations

from .json_runs import JsonFileRunStore
from .jsonl_ledger import JsonlLedgerStore

__all__ = ["JsonFileRunStore", "JsonlLedgerStore"]
