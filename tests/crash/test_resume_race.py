"""Two processes resume the same waiting runs while a third keeps ticking every RUNNING run.

Exactly one resume per run is applied (one ``resume`` ledger record), and the process whose payload
was committed never hears ``ConcurrencyError``: a conflict met by the steps *after* a committed resume
(the third process advanced the run meanwhile) is not a lost resume (``docs/compatibility.md``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from abstractruntime import Runtime
from abstractruntime.storage.urls import open_stores

RUNS = 60

FLOW_SOURCE = textwrap.dedent(
    """
    from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec

    def ask(run, ctx):
        effect = Effect(EffectType.ASK_USER, {"prompt": "who wins?"}, result_key="answer")
        return StepPlan(node_id="ask", effect=effect, next_node="s1")

    def step(name, nxt):
        def node(run, ctx):
            effect = Effect(EffectType.ANSWER_USER, {"message": name})
            return StepPlan(node_id=name, effect=effect, next_node=nxt)
        return node

    def done(run, ctx):
        return StepPlan(node_id="done", complete_output={"winner": run.vars["answer"]["who"]})

    FLOW = WorkflowSpec(workflow_id="race", entry_node="ask", nodes={
        "ask": ask, "s1": step("s1", "s2"), "s2": step("s2", "s3"), "s3": step("s3", "done"), "done": done,
    })
    """
)

RESUMER = textwrap.dedent(
    """
    import json, sys, time
    from abstractruntime import Runtime
    from abstractruntime.errors import ConcurrencyError, RunNotWaitingError
    from abstractruntime.storage.urls import open_stores
    exec(sys.argv[4])
    url, ids, who, go_at = sys.argv[1], sys.argv[2].split(","), sys.argv[3], float(sys.argv[5])
    stores = open_stores(url)
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
    while time.time() < go_at:
        pass
    out = {}
    for run_id in ids:
        try:
            state = runtime.resume(workflow=FLOW, run_id=run_id, wait_key=None, payload={"who": who})
            out[run_id] = "won" if state.status.value == "completed" else "won-elsewhere"
        except (ConcurrencyError, RunNotWaitingError) as exc:
            out[run_id] = type(exc).__name__
    stores.close()
    print(json.dumps(out))
    """
)

TICKER = textwrap.dedent(
    """
    import sys, time
    from abstractruntime import Runtime, RunStatus
    from abstractruntime.errors import ConcurrencyError
    from abstractruntime.storage.urls import open_stores
    exec(sys.argv[2])
    url, go_at, n = sys.argv[1], float(sys.argv[3]), int(sys.argv[4])
    stores = open_stores(url)
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
    while time.time() < go_at:
        pass
    deadline = time.time() + 30
    while time.time() < deadline:
        runs = stores.run_store.list_runs(limit=n + 10)
        if all(r.status == RunStatus.COMPLETED for r in runs):
            break
        for run in runs:
            if run.status == RunStatus.RUNNING:
                try:
                    runtime.tick(workflow=FLOW, run_id=run.run_id, max_steps=1)
                except ConcurrencyError:
                    pass
    stores.close()
    """
)


@pytest.mark.parametrize("scheme", ["sqlite", "file"])
def test_no_resume_is_reported_lost_after_its_payload_committed(scheme: str, tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri() if scheme == "file" else f"sqlite:///{tmp_path / 'runs.db'}"
    namespace: dict[str, object] = {}
    exec(FLOW_SOURCE, namespace)
    flow = namespace["FLOW"]
    stores = open_stores(url)
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store)
    ids = []
    for _ in range(RUNS):
        run_id = runtime.start(workflow=flow)  # type: ignore[arg-type]
        runtime.tick(workflow=flow, run_id=run_id)  # type: ignore[arg-type]
        ids.append(run_id)
    stores.close()
    go_at = str(time.time() + 1.5)
    ticker = subprocess.Popen([sys.executable, "-c", TICKER, url, FLOW_SOURCE, go_at, str(RUNS)])
    resumers = {
        who: subprocess.Popen(
            [sys.executable, "-c", RESUMER, url, ",".join(ids), who, FLOW_SOURCE, go_at],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("a", "b")
    }
    results = {}
    for who, proc in resumers.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results[who] = json.loads(out)
    assert ticker.wait(timeout=120) == 0

    final = open_stores(url)
    lost_after_commit = []
    seen: Counter[str] = Counter()
    try:
        final_runtime = Runtime(run_store=final.run_store, ledger_store=final.ledger_store)
        for run_id in ids:
            resumes = [
                r for r in final.ledger_store.list(run_id) if (r["effect"] or {}).get("type") == "resume"
            ]
            assert len(resumes) == 1, f"run {run_id} resumed {len(resumes)} times"
            committed = resumes[0]["effect"]["payload"]["payload"]["who"]
            state = final_runtime.get_state(run_id)
            assert state.output == {"winner": committed}
            for who in ("a", "b"):
                seen[f"{'winner' if who == committed else 'loser'}:{results[who][run_id]}"] += 1
            if results[committed][run_id] not in ("won", "won-elsewhere"):
                lost_after_commit.append(run_id)
            loser = "b" if committed == "a" else "a"
            assert results[loser][run_id] in ("ConcurrencyError", "RunNotWaitingError")
    finally:
        final.close()
    print(f"\n[{scheme}] {RUNS} runs raced: {dict(sorted(seen.items()))}")
    assert lost_after_commit == [], f"{len(lost_after_commit)} resumes reported lost after their commit"
