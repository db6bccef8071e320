"""QUICKSTART "Tamper evidence" snippet, run as written (SPEC §14 scenario 12)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec
from abstractruntime.storage import JsonFileRunStore


def _flow() -> WorkflowSpec:
    def confirm(run, ctx):  # type: ignore[no-untyped-def]
        effect = Effect(type=EffectType.ASK_USER, payload={"prompt": "Ship it?"}, result_key="reply")
        return StepPlan(node_id="confirm", effect=effect, next_node="finish")

    def finish(run, ctx):  # type: ignore[no-untyped-def]
        reply = run.vars.get("reply") or {}
        return StepPlan(node_id="finish", complete_output={"shipped": reply.get("text") == "yes"})

    return WorkflowSpec(
        workflow_id="ship", entry_node="confirm", nodes={"confirm": confirm, "finish": finish}
    )


def test_tamper_evidence_snippet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    flow = _flow()
    # --- the QUICKSTART snippet ---
    from abstractruntime import HashChainedLedgerStore, JsonlLedgerStore, verify_ledger_chain

    ledger = HashChainedLedgerStore(JsonlLedgerStore("./data"))
    runtime = Runtime(run_store=JsonFileRunStore("./data"), ledger_store=ledger)
    run_id = runtime.start(workflow=flow)
    state = runtime.tick(workflow=flow, run_id=run_id)
    runtime.resume(workflow=flow, run_id=run_id, wait_key=state.waiting.wait_key, payload={"text": "yes"})
    report = verify_ledger_chain(ledger.list(run_id))
    assert report["ok"] is True
    # --- editing a stored line on disk is detected at that record ---
    path = Path("data") / f"ledger_{run_id}.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[2])
    record["result"] = {"resumed": False}
    lines[2] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    tampered = verify_ledger_chain(JsonlLedgerStore("./data").list(run_id))
    assert tampered["ok"] is False
    assert tampered["first_bad_index"] == 2
    assert tampered["errors"][0]["type"] == "record_hash_mismatch"
    assert os.path.exists(f"data/run_{run_id}.json")
