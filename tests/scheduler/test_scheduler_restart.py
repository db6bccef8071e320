"""QUICKSTART "Persistent stores survive a restart": two real processes over one store (SPEC §8.3, §14.11).

The first process runs ``flow`` to its ASK_USER wait and stops; a second process builds a new scheduled
runtime over the same directory / database and answers, exactly as the snippet prints it.  A WorkflowSpec
holds Python callables and is not stored (SPEC §3); the second process *defines* ``flow`` again and the
scheduled runtime adopts that definition by id (``WorkflowRegistry(adopt_defined=True)``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FLOW = textwrap.dedent(
    """
    from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec

    def confirm(run, ctx):
        return StepPlan(
            node_id="confirm",
            effect=Effect(type=EffectType.ASK_USER, payload={"prompt": "Ship it?"}, result_key="reply"),
            next_node="finish",
        )

    def finish(run, ctx):
        reply = run.vars.get("reply") or {}
        return StepPlan(node_id="finish", complete_output={"shipped": reply.get("text") == "yes"})

    flow = WorkflowSpec(workflow_id="ship", entry_node="confirm", nodes={"confirm": confirm, "finish": finish})
    """
)

STORES = {
    "files": textwrap.dedent(
        """
        from abstractruntime import JsonFileRunStore, JsonlLedgerStore
        def stores(where):
            return dict(run_store=JsonFileRunStore(where), ledger_store=JsonlLedgerStore(where)), None
        """
    ),
    "sqlite": textwrap.dedent(
        """
        from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLedgerStore, SqliteRunStore
        def stores(where):
            db = SqliteDatabase(where + "/runtime.db")
            return dict(run_store=SqliteRunStore(db), ledger_store=SqliteLedgerStore(db)), db
        """
    ),
}

FIRST = textwrap.dedent(
    """
    import json, sys, threading
    from abstractruntime.scheduler import create_scheduled_runtime
    kwargs, db = stores(sys.argv[1])
    sr = create_scheduled_runtime(**kwargs)
    run_id, state = sr.run(flow)               # waits on the question
    assert state.status.value == "waiting", state.status
    sr.stop()                                  # the process may now exit
    assert not [t for t in threading.enumerate() if t.name == "abstractruntime-scheduler"]
    print(json.dumps({"run_id": run_id, "wait_key": state.waiting.wait_key}))
    if db is not None:
        db.close()
    """
)

SECOND = textwrap.dedent(
    """
    import json, sys
    from abstractruntime.scheduler import create_scheduled_runtime
    kwargs, db = stores(sys.argv[1])
    sr = create_scheduled_runtime(**kwargs)    # as printed: ``flow`` is defined, not registered
    state = sr.respond(sys.argv[2], {"text": "yes"})
    assert state.status.value == "completed", state.status
    sr.stop()
    ledger = [r["effect"]["type"] if r["effect"] else None for r in sr.get_ledger(sys.argv[2])]
    print(json.dumps({"status": state.status.value, "output": state.output, "ledger": ledger}))
    if db is not None:
        db.close()
    """
)


def _python(script: str, *args: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", script, *args], check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(parsed, dict)
    return parsed


@pytest.mark.parametrize("backend", ["files", "sqlite"])
def test_a_new_process_answers_the_wait_of_an_old_one(backend: str, tmp_path: Path) -> None:
    prelude = FLOW + STORES[backend]
    first = _python(prelude + FIRST, str(tmp_path))
    run_id = str(first["run_id"])
    assert first["wait_key"] == f"user:{run_id}:confirm"
    if backend == "files":
        assert (tmp_path / f"run_{run_id}.json").exists()
        assert (tmp_path / f"ledger_{run_id}.jsonl").exists()

    second = _python(prelude + SECOND, str(tmp_path), run_id)
    assert second["status"] == "completed"
    assert second["output"] == {"shipped": True}
    assert "resume" in second["ledger"]  # type: ignore[operator]


def test_a_process_that_does_not_define_the_workflow_gets_a_typed_error(tmp_path: Path) -> None:
    """The spec is Python code: a process that neither defines nor registers it cannot resume."""
    prelude = FLOW + STORES["files"]
    run_id = str(_python(prelude + FIRST, str(tmp_path))["run_id"])
    script = STORES["files"] + textwrap.dedent(
        """
        import json, sys
        from abstractruntime.scheduler import create_scheduled_runtime
        kwargs, _ = stores(sys.argv[1])
        sr = create_scheduled_runtime(**kwargs, auto_start=False)
        try:
            sr.respond(sys.argv[2], {"text": "yes"})
        except KeyError as exc:
            print(json.dumps({"error": type(exc).__name__, "workflow_id": exc.workflow_id}))
        """
    )
    assert _python(script, str(tmp_path), run_id) == {
        "error": "WorkflowNotRegisteredError",
        "workflow_id": "ship",
    }
