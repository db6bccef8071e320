"""Attack replays against the CLI's reload of a run's workflow: stored state never decides what is imported.

1. A flow writes a ``.py`` file into its own workspace and points ``_runtime.cli_target`` at it.  The write
   of ``_runtime`` is refused (the run fails), and no later ``resume``/``scheduler serve`` imports the file.
2. The operator starts a Python target; afterwards its source changes.  A later process refuses to import the
   changed code from stored state, until the operator names the target again with ``--target``.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

from abstractruntime.testing.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd)


def _node(node_id: str, node_type: str, inputs: list[str], outputs: list[str], **data: Any) -> dict[str, Any]:
    pins_in = [{"id": "exec-in", "type": "execution"}, *({"id": p, "type": "any"} for p in inputs)]
    pins_out = [{"id": "exec-out", "type": "execution"}, *({"id": p, "type": "any"} for p in outputs)]
    if node_type == "on_flow_start":
        pins_in = []
    return {"id": node_id, "type": node_type, "data": {"inputs": pins_in, "outputs": pins_out, **data}}


def _hostile_flow(payload_path: Path, marker: Path) -> dict[str, Any]:
    evil_code = f"from pathlib import Path\nPath({str(marker)!r}).write_text('pwned')\n"
    nodes = [
        _node("start", "on_flow_start", [], []),
        _node(
            "drop", "write_file", ["file_path", "content"], ["bytes"],
            pinDefaults={"file_path": payload_path.name, "content": evil_code},
        ),
        _node(
            "hijack", "set_var", ["name", "value"], [],
            pinDefaults={"name": "_runtime.cli_target", "value": f"{payload_path}:flow"},
        ),
        _node("ask", "ask_user", ["prompt"], ["response"], pinDefaults={"prompt": "continue?"}),
        _node("end", "on_flow_end", [], []),
    ]  # fmt: skip
    order = [n["id"] for n in nodes]
    edges = [
        {"source": a, "sourceHandle": "exec-out", "target": b, "targetHandle": "exec-in"}
        for a, b in itertools.pairwise(order)
    ]
    return {"id": "hijack_flow", "name": "hijack_flow", "nodes": nodes, "edges": edges, "entryNode": "start"}


def test_a_flow_cannot_point_the_cli_at_code_it_wrote(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    marker = tmp_path / "PWNED"
    flow_file = tmp_path / "hijack_flow.json"
    flow_file.write_text(json.dumps(_hostile_flow(workspace / "evil.py", marker)))
    store = f"sqlite:///{tmp_path / 'runs.db'}"

    started = cli(
        "--store", store, "run", str(flow_file), "--detach", "--json",
        "--input", f"workspace_root={workspace}", cwd=tmp_path,
    )  # fmt: skip
    assert started.returncode == 4, started.stdout + started.stderr
    outcome = json.loads(started.stdout)
    assert outcome["status"] == "failed"
    assert "HostOwnedVarError" in outcome["error"] and "_runtime.cli_target" in outcome["error"]
    assert (workspace / "evil.py").is_file()  # the flow did write its file, inside its workspace
    shown = cli("--store", store, "runs", "show", outcome["run_id"], "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert str(flow_file) in shown.stdout and "evil.py" not in json.loads(shown.stdout).get("target", "")

    for args in (("scheduler", "serve", "--once"), ("resume", outcome["run_id"], "--answer", "yes")):
        cli("--store", store, *args, cwd=tmp_path)
    assert not marker.exists()


TARGET_SOURCE = """
from abstractruntime import Effect, EffectType, StepPlan, WorkflowSpec
{extra}

def ask(run, ctx):
    return StepPlan(node_id="ask", effect=Effect(EffectType.ASK_USER, {{"prompt": "go?"}}, "reply"), next_node="done")


def done(run, ctx):
    return StepPlan(node_id="done", complete_output={{"reply": run.vars.get("reply")}})


flow = WorkflowSpec(workflow_id="pinned_flow", entry_node="ask", nodes={{"ask": ask, "done": done}})
"""


def test_changed_python_target_is_not_imported_from_stored_state(tmp_path: Path) -> None:
    target = tmp_path / "pinned.py"
    target.write_text(TARGET_SOURCE.format(extra=""))
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    started = cli("--store", store, "run", f"{target}:flow", "--detach", "--json", cwd=tmp_path)
    assert started.returncode == 5, started.stdout + started.stderr
    run_id = json.loads(started.stdout)["run_id"]

    marker = tmp_path / "IMPORTED"
    target.write_text(TARGET_SOURCE.format(extra=f"open({str(marker)!r}, 'w').write('x')"))
    refused = cli("--store", store, "resume", run_id, "--answer", "yes", cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "changed since the run started" in refused.stderr
    assert "Traceback" not in refused.stderr
    served = cli("--store", store, "scheduler", "serve", "--once", cwd=tmp_path)
    assert "changed since the run started" in served.stderr
    assert not marker.exists()

    trusted = cli(
        "--store", store, "resume", run_id, "--answer", "yes", "--target", f"{target}:flow", cwd=tmp_path
    )
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert marker.exists()


def test_unchanged_python_target_reloads_from_stored_state(tmp_path: Path) -> None:
    (tmp_path / "pinned_mod.py").write_text(TARGET_SOURCE.format(extra=""))
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    started = cli("--store", store, "run", "pinned_mod:flow", "--detach", "--json", cwd=tmp_path)
    assert started.returncode == 5, started.stdout + started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    resumed = cli("--store", store, "resume", run_id, "--answer", "yes", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    # a module of the same name planted later in the directory the run imports from is refused
    started = cli("--store", store, "run", "pinned_mod:flow", "--detach", "--json", cwd=tmp_path)
    run_id = json.loads(started.stdout)["run_id"]
    marker = tmp_path / "SHADOWED"
    (tmp_path / "pinned_mod.py").write_text(TARGET_SOURCE.format(extra=f"open({str(marker)!r}, 'w')"))
    refused = cli("--store", store, "resume", run_id, "--answer", "yes", cwd=tmp_path)
    assert refused.returncode == 2 and not marker.exists(), refused.stdout + refused.stderr
