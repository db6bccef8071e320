"""Two processes resuming the same waiting run: exactly one succeeds (optimistic concurrency)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from abstractruntime import Effect, EffectType, Runtime, StepPlan, WorkflowSpec
from abstractruntime.storage.urls import open_stores

FLOW_SOURCE = textwrap.dedent(
    """
    from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec

    def ask(run, ctx):
        effect = Effect(EffectType.ASK_USER, {"prompt": "who wins?"}, result_key="answer")
        return StepPlan(node_id="ask", effect=effect, next_node="done")

    def done(run, ctx):
        return StepPlan(node_id="done", complete_output={"winner": run.vars["answer"]["who"]})

    FLOW = WorkflowSpec(workflow_id="race", entry_node="ask", nodes={"ask": ask, "done": done})
    """
)

RESUMER = textwrap.dedent(
    """
    import json, sys, time
    from abstractruntime import Runtime
    from abstractruntime.errors import ConcurrencyError, RunNotWaitingError
    from abstractruntime.storage.urls import open_stores
    exec(sys.argv[4])
    url, run_id, who, go_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[5])
    stores = open_stores(url)
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
    waiting = runtime.get_state(run_id).waiting
    if waiting is None:  # this process started so late that the other one already resumed the run
        print(json.dumps({"who": who, "result": "RunNotWaitingError"}))
        raise SystemExit(0)
    key = waiting.wait_key
    while time.time() < go_at:
        pass
    try:
        state = runtime.resume(workflow=FLOW, run_id=run_id, wait_key=key, payload={"who": who})
        print(json.dumps({"who": who, "result": "won", "status": state.status.value}))
    except (ConcurrencyError, RunNotWaitingError) as exc:
        print(json.dumps({"who": who, "result": type(exc).__name__}))
    """
)


def _flow() -> WorkflowSpec:
    namespace: dict[str, object] = {"Effect": Effect, "EffectType": EffectType, "StepPlan": StepPlan}
    exec(FLOW_SOURCE, namespace)
    flow = namespace["FLOW"]
    assert isinstance(flow, WorkflowSpec)
    return flow


@pytest.mark.parametrize("scheme", ["file", "sqlite"])
def test_exactly_one_of_two_processes_resumes_a_wait(scheme: str, tmp_path: Path) -> None:
    import time

    url = f"file://{tmp_path}" if scheme == "file" else f"sqlite:///{tmp_path / 'runs.db'}"
    flow = _flow()
    for _round in range(4):
        stores = open_stores(url)
        runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
        run_id = runtime.start(workflow=flow)
        runtime.tick(workflow=flow, run_id=run_id)
        stores.close()
        go_at = str(time.time() + 1.5)  # both processes start and read the wait before this instant
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RESUMER, url, run_id, who, FLOW_SOURCE, go_at],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for who in ("a", "b")
        ]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            results.append(json.loads(out))
        winners = [r for r in results if r["result"] == "won"]
        assert len(winners) == 1, results
        loser = next(r for r in results if r["result"] != "won")
        assert loser["result"] in {"ConcurrencyError", "RunNotWaitingError"}
        final = open_stores(url)
        state = Runtime(run_store=final.run_store, ledger_store=final.ledger_store).get_state(run_id)
        assert state.output == {"winner": winners[0]["who"]}
        resumes = [r for r in final.ledger_store.list(run_id) if (r["effect"] or {}).get("type") == "resume"]
        assert len(resumes) == 1
        final.close()
