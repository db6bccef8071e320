"""SIGKILL inside a resume whose commit rides with the next step (``core/engine/resume.py``).

* killed in an effect-free node after the resume, before the shared commit: the run is still waiting,
  with no ``resume`` record, and a second resume completes it (one ``resume`` record in all);
* killed inside an effect handler after the resume: the resume was committed before the effect ran,
  so the run is RUNNING at that node with its resume record and the effect's open intent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from abstractruntime import Effect, EffectType, RunStatus, Runtime, WorkflowSpec
from abstractruntime.core.outcome import EffectOutcome
from abstractruntime.errors import RunNotWaitingError
from abstractruntime.storage.urls import open_stores

FLOW = textwrap.dedent(
    """
    import os, signal
    from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec

    KILL_IN = os.environ.get("KILL_IN", "")

    def ask(run, ctx):
        return StepPlan("ask", effect=Effect(EffectType.ASK_USER, {"prompt": "go?"}, "answer"), next_node="mid")

    def mid(run, ctx):
        run.vars["mid"] = True
        if KILL_IN == "node":
            os.kill(os.getpid(), signal.SIGKILL)
        return StepPlan("mid", next_node="call")

    def call(run, ctx):
        return StepPlan("call", effect=Effect(EffectType.LLM_CALL, {"prompt": "p"}, "reply"), next_node="done")

    def done(run, ctx):
        return StepPlan("done", complete_output={"answer": run.vars["answer"], "reply": run.vars["reply"]})

    FLOW = WorkflowSpec("killed", "ask", {"ask": ask, "mid": mid, "call": call, "done": done})

    def llm(run, effect, default_next_node):
        from abstractruntime.core.outcome import EffectOutcome
        if KILL_IN == "effect":
            os.kill(os.getpid(), signal.SIGKILL)
        return EffectOutcome.completed({"content": "ok"})
    """
)

CHILD = textwrap.dedent(
    """
    import sys
    from abstractruntime import EffectType, Runtime
    from abstractruntime.storage.urls import open_stores
    exec(sys.argv[3])
    stores = open_stores(sys.argv[1])
    runtime = Runtime(run_store=stores.run_store, ledger_store=stores.ledger_store,
                      effect_handlers={EffectType.LLM_CALL: llm})
    runtime.resume(workflow=FLOW, run_id=sys.argv[2], wait_key=None, payload={"ok": True})
    """
)


def _namespace() -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(FLOW, namespace)  # the same flow the child runs, without KILL_IN
    return namespace


def _llm(run: object, effect: Effect, default_next_node: str | None) -> EffectOutcome:
    return EffectOutcome.completed({"content": "ok"})


def _runtime(url: str) -> tuple[Runtime, object]:
    stores = open_stores(url)
    runtime = Runtime(
        run_store=stores.run_store,
        ledger_store=stores.ledger_store,
        effect_handlers={EffectType.LLM_CALL: _llm},
    )
    return runtime, stores


def _kinds(runtime: Runtime, run_id: str) -> list[tuple[str, str | None]]:
    return [(r["status"], (r.get("effect") or {}).get("type")) for r in runtime.get_ledger(run_id)]


@pytest.fixture(params=["sqlite", "files"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/rt.db" if request.param == "sqlite" else f"file://{tmp_path}/store"


def _park(url: str) -> str:
    flow = _namespace()["FLOW"]
    assert isinstance(flow, WorkflowSpec)
    runtime, stores = _runtime(url)
    run_id = runtime.start(workflow=flow)
    assert runtime.tick(workflow=flow, run_id=run_id).status is RunStatus.WAITING
    stores.close()  # type: ignore[attr-defined]
    return run_id


def _kill_child(url: str, run_id: str, where: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, url, run_id, FLOW],
        env={**os.environ, "KILL_IN": where},
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


def test_killed_before_the_shared_commit_the_run_still_waits(url: str) -> None:
    run_id = _park(url)
    _kill_child(url, run_id, "node")
    runtime, stores = _runtime(url)
    stored = runtime.get_state(run_id)
    assert stored.status is RunStatus.WAITING and "answer" not in stored.vars and "mid" not in stored.vars
    assert ("completed", "resume") not in _kinds(runtime, run_id)
    flow = _namespace()["FLOW"]
    assert isinstance(flow, WorkflowSpec)
    done = runtime.resume(workflow=flow, run_id=run_id, wait_key=None, payload={"ok": "again"})
    assert done.status is RunStatus.COMPLETED and done.output == {
        "answer": {"ok": "again"},
        "reply": {"content": "ok"},
    }
    assert _kinds(runtime, run_id).count(("completed", "resume")) == 1
    stores.close()  # type: ignore[attr-defined]


def test_killed_inside_the_effect_the_resume_is_already_stored(url: str) -> None:
    run_id = _park(url)
    _kill_child(url, run_id, "effect")
    runtime, stores = _runtime(url)
    stored = runtime.get_state(run_id)
    assert stored.status is RunStatus.RUNNING and stored.current_node == "call"
    assert stored.vars["answer"] == {"ok": True} and stored.vars["mid"] is True
    kinds = _kinds(runtime, run_id)
    assert kinds[-2:] == [("completed", "resume"), ("started", "llm_call")]
    flow = _namespace()["FLOW"]
    assert isinstance(flow, WorkflowSpec)
    with pytest.raises(RunNotWaitingError):
        runtime.resume(workflow=flow, run_id=run_id, wait_key=None, payload={"ok": "late"})
    done = runtime.tick(workflow=flow, run_id=run_id)
    assert done.status is RunStatus.COMPLETED and done.output == {
        "answer": {"ok": True},
        "reply": {"content": "ok"},
    }
    stores.close()  # type: ignore[attr-defined]
