"""A hand-written WorkflowSpec for the command line: ``abstractruntime run examples/cli_workflow.py:flow``.

It asks for approval (the choices show as a menu in a terminal) and reports the decision::

    abstractruntime run examples/cli_workflow.py:flow --input item=laptop
    abstractruntime run examples/cli_workflow.py:flow --input item=laptop --detach   # exit 5, prints `resume ...`
"""

from __future__ import annotations

from typing import Any

from abstractruntime import Effect, EffectType, RunState, StepPlan, WorkflowSpec


def ask(run: RunState, ctx: Any) -> StepPlan:
    item = run.vars.get("item", "the order")
    return StepPlan(
        node_id="ask",
        effect=Effect(
            type=EffectType.ASK_USER,
            payload={"prompt": f"Ship {item}?", "choices": ["yes", "no"], "allow_free_text": False},
            result_key="reply",
        ),
        next_node="finish",
    )


def finish(run: RunState, ctx: Any) -> StepPlan:
    reply = run.vars.get("reply") or {}
    answer = reply.get("text") if isinstance(reply, dict) else None
    return StepPlan(
        node_id="finish",
        complete_output={"item": run.vars.get("item"), "shipped": answer == "yes", "answer": answer},
    )


flow = WorkflowSpec(workflow_id="cli_approval", entry_node="ask", nodes={"ask": ask, "finish": finish})


def _demo() -> int:
    """Start the flow detached in a scratch SQLite store, then answer it from a second process."""
    import re
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        cli = [sys.executable, "-m", "abstractruntime", "--store", f"sqlite:///{Path(tmp) / 'runs.db'}"]
        started = subprocess.run(
            [*cli, "run", f"{__file__}:flow", "--input", "item=laptop", "--detach"],
            capture_output=True,
            text=True,
            check=False,
        )
        print(started.stdout)
        match = re.search(r"resume (\S+) --answer", started.stdout)
        if started.returncode != 5 or match is None:  # 5: the run is waiting
            print(started.stderr, file=sys.stderr)
            return 1
        resumed = subprocess.run([*cli, "resume", match.group(1), "--answer", "yes"], check=False)
        return resumed.returncode


if __name__ == "__main__":
    raise SystemExit(_demo())
