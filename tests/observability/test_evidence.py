"""Evidence capture for tool calls (SPEC §10.2, §4.3 e.6, §4.6 step 3, §5.2)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from observability_helpers import (
    NORMALIZED,
    RAW_HTML,
    SEARCH_RESULTS,
    STANDARD_CALLS,
    STDOUT,
    fake_tool_output,
    tool_flow,
)

from abstractruntime import (
    Effect,
    EffectType,
    RunState,
    RunStatus,
    Runtime,
    StepPlan,
    WaitReason,
    WaitState,
    WorkflowSpec,
)
from abstractruntime.core.runtime import EffectOutcome
from abstractruntime.evidence import DEFAULT_EVIDENCE_TOOL_NAMES, EvidenceRecorder
from abstractruntime.evidence import __all__ as evidence_all
from abstractruntime.evidence.recorder import EvidenceCaptureStats
from abstractruntime.storage.artifacts import InMemoryArtifactStore, is_artifact_ref
from abstractruntime.storage.sqlite import SqliteDatabase, SqliteLedgerStore, SqliteRunStore
from abstractruntime.testing import FakeClock

MakeRuntime = Callable[..., Runtime]


def ref_id(ref: Any) -> str:
    assert is_artifact_ref(ref), ref
    return str(ref["$artifact"])


def run_tools(runtime: Runtime, flow: WorkflowSpec | None = None, **start: Any) -> RunState:
    flow = flow or tool_flow()
    run_id = runtime.start(workflow=flow, **start)
    return runtime.tick(workflow=flow, run_id=run_id)


# -- public surface ---------------------------------------------------------------------------------
def test_package_exports_match_spec() -> None:
    assert sorted(evidence_all) == sorted(["EvidenceRecorder", "DEFAULT_EVIDENCE_TOOL_NAMES"])
    assert DEFAULT_EVIDENCE_TOOL_NAMES == ("web_search", "fetch_url", "execute_command")


def test_importing_the_kernel_does_not_import_evidence() -> None:
    code = (
        "import sys, abstractruntime, abstractruntime.core.runtime;"
        "print('abstractruntime.evidence' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- kernel capture (SPEC §4.3 e.6) ----------------------------------------------------------------
def test_tool_calls_step_records_one_evidence_per_listed_tool(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore, clock: FakeClock
) -> None:
    runtime = make_runtime(artifact_store=artifact_store)
    run = run_tools(runtime, actor_id="actor-1", session_id="sess-1")
    assert run.status == RunStatus.COMPLETED

    spans = runtime.list_evidence(run.run_id)
    assert [s["tool_name"] for s in spans] == ["fetch_url", "execute_command", "web_search"]
    now = clock.now().isoformat()
    for span, call in zip(spans, STANDARD_CALLS, strict=True):
        assert span["kind"] == "evidence"
        assert span["call_id"] == call["call_id"]
        assert span["success"] is True
        assert span["message_count"] == 0
        assert span["created_at"] == span["from_timestamp"] == span["to_timestamp"] == now
        assert artifact_store.get_metadata(span["artifact_id"]).tags == {
            "kind": "evidence",
            "tool": call["name"],
        }
    assert spans[0]["url"] == "https://example.org"
    assert spans[1]["command_preview"] == "ls -la"
    assert spans[2]["query"] == "durable workflows"


def test_evidence_records_hold_the_spec_fields(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore
) -> None:
    runtime = make_runtime(artifact_store=artifact_store)
    run = run_tools(runtime, actor_id="actor-1", session_id="sess-1")
    fetch, command, search = (
        runtime.load_evidence(s["artifact_id"]) for s in runtime.list_evidence(run.run_id)
    )

    common = {
        "success": True,
        "error": None,
        "run_id": run.run_id,
        "workflow_id": "wf_tools",
        "node_id": "act",
    }
    for record in (fetch, command, search):
        assert record is not None
        assert {k: record[k] for k in common} == common
        assert record["actor_id"] == "actor-1"
        assert record["session_id"] == "sess-1"
        assert isinstance(record["created_at"], str)

    assert fetch is not None and command is not None and search is not None
    assert fetch["tool_name"] == "fetch_url" and fetch["call_id"] == "c1"
    assert fetch["arguments"] == {"url": "https://example.org"}
    assert fetch["url"] == "https://example.org"
    assert fetch["final_url"] == "https://example.org/final"
    assert fetch["content_type"] == "text/html"
    assert fetch["size_bytes"] == len(RAW_HTML)
    assert artifact_store.load_text(ref_id(fetch["raw_artifact"])) == RAW_HTML
    assert artifact_store.load_text(ref_id(fetch["normalized_artifact"])) == NORMALIZED
    assert "raw_text" not in fetch and "normalized_text" not in fetch

    assert command["command"] == "ls -la"
    assert command["return_code"] == 0
    assert command["duration_s"] == 0.25
    assert command["working_directory"] == "/tmp/work"
    assert command["platform"] == "linux"
    assert artifact_store.load_text(ref_id(command["stdout_artifact"])) == STDOUT
    assert artifact_store.load_text(ref_id(command["stderr_artifact"])) == "warning: fake\n"

    assert search["query"] == "durable workflows"
    assert artifact_store.load_json(ref_id(search["results_artifact"])) == SEARCH_RESULTS


def test_records_without_actor_or_session_omit_those_keys(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore
) -> None:
    runtime = make_runtime(artifact_store=artifact_store)
    run = run_tools(runtime)
    record = runtime.load_evidence(runtime.list_evidence(run.run_id)[0]["artifact_id"])
    assert record is not None
    assert "actor_id" not in record and "session_id" not in record


def test_tool_results_are_modified_in_place_in_vars_and_traces(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore
) -> None:
    runtime = make_runtime(artifact_store=artifact_store)
    run = run_tools(runtime)
    spans = runtime.list_evidence(run.run_id)
    fetch, command, search = run.vars["tool_results"]["results"]

    assert set(fetch["output"]) == {
        "url",
        "final_url",
        "content_type",
        "size_bytes",
        "raw_text_artifact",
        "normalized_text_artifact",
    }
    assert artifact_store.load_text(ref_id(fetch["output"]["raw_text_artifact"])) == RAW_HTML
    assert "stdout" not in command["output"] and "stderr" not in command["output"]
    assert artifact_store.load_text(ref_id(command["output"]["stdout_artifact"])) == STDOUT
    assert search["output"] == json.dumps(SEARCH_RESULTS)  # what the model reads stays
    assert [r["meta"]["evidence_id"] for r in (fetch, command, search)] == [s["artifact_id"] for s in spans]

    trace_result = runtime.get_node_trace(run.run_id, "act")["steps"][0]["result"]
    assert trace_result == run.vars["tool_results"]


def test_the_ledger_keeps_what_the_handler_returned(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore
) -> None:
    runtime = make_runtime(artifact_store=artifact_store)
    run = run_tools(runtime)
    completed = [
        r
        for r in runtime.get_ledger(run.run_id)
        if r["status"] == "completed" and (r["effect"] or {}).get("type") == "tool_calls"
    ]
    assert len(completed) == 1
    output = completed[0]["result"]["results"][0]["output"]
    assert output["raw_text"] == RAW_HTML
    assert "meta" not in completed[0]["result"]["results"][0]


def test_no_artifact_store_means_no_capture(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    run = run_tools(runtime)
    assert run.vars["tool_results"]["results"][0]["output"]["raw_text"] == RAW_HTML
    assert runtime.list_evidence(run.run_id) == []
    assert "memory_spans" not in run.vars["_runtime"]
    with pytest.raises(RuntimeError):
        runtime.load_evidence("anything")


def test_set_artifact_store_turns_capture_on(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore
) -> None:
    runtime = make_runtime()
    runtime.set_artifact_store(artifact_store)
    run = run_tools(runtime)
    assert len(runtime.list_evidence(run.run_id)) == 3


def test_reused_results_are_not_captured_again(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore
) -> None:
    runtime = make_runtime(artifact_store=artifact_store)
    run = run_tools(runtime, tool_flow(loops=3))
    assert run.status == RunStatus.COMPLETED
    steps = runtime.get_node_trace(run.run_id, "act")["steps"]
    assert [s["reused_prior_result"] for s in steps] == [False, True, True]
    assert len(runtime.list_evidence(run.run_id)) == 3


def test_unlisted_tools_and_failed_steps_are_not_captured(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore
) -> None:
    runtime = make_runtime(artifact_store=artifact_store)
    run = run_tools(runtime, tool_flow([{"name": "read_file", "arguments": {"path": "a"}, "call_id": "r"}]))
    assert run.status == RunStatus.COMPLETED
    assert runtime.list_evidence(run.run_id) == []
    assert "meta" not in run.vars["tool_results"]["results"][0]

    def failing(run: RunState, effect: Effect) -> EffectOutcome:
        return EffectOutcome.failed("tool backend down")

    runtime = make_runtime(artifact_store=artifact_store, effect_handlers={EffectType.TOOL_CALLS: failing})
    run = run_tools(runtime)
    assert run.status == RunStatus.FAILED
    assert runtime.list_evidence(run.run_id) == []


def test_failed_tool_results_are_recorded_with_their_error(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore
) -> None:
    def handler(run: RunState, effect: Effect) -> EffectOutcome:
        call = effect.payload["tool_calls"][0]
        result = {
            "call_id": call["call_id"],
            "name": call["name"],
            "success": False,
            "output": None,
            "error": "timeout",
        }
        return EffectOutcome.completed({"mode": "executed", "results": [result]})

    runtime = make_runtime(artifact_store=artifact_store, effect_handlers={EffectType.TOOL_CALLS: handler})
    run = run_tools(runtime, tool_flow([STANDARD_CALLS[0]]))
    (span,) = runtime.list_evidence(run.run_id)
    assert span["success"] is False
    record = runtime.load_evidence(span["artifact_id"])
    assert record is not None
    assert record["error"] == "timeout"
    assert record["url"] == "https://example.org"  # from the arguments
    assert "raw_artifact" not in record and "normalized_artifact" not in record


class BrokenArtifactStore(InMemoryArtifactStore):
    """Refuses to store anything."""

    def store(self, content: bytes, **kwargs: Any) -> Any:
        raise OSError("disk full")


def test_capture_failures_become_warnings_and_never_fail_the_run(
    make_runtime: MakeRuntime, clock: FakeClock
) -> None:
    runtime = make_runtime(artifact_store=BrokenArtifactStore())
    run = run_tools(runtime)
    assert run.status == RunStatus.COMPLETED
    warnings = run.vars["_runtime"]["evidence_warnings"]
    assert len(warnings) == 3
    assert {tuple(sorted(w)) for w in warnings} == {("error", "node_id", "ts")}
    assert all(w["node_id"] == "act" and w["ts"] == clock.now().isoformat() for w in warnings)
    assert "fetch_url" in warnings[0]["error"] and "disk full" in warnings[0]["error"]
    # the results stay intact when their evidence could not be stored
    assert run.vars["tool_results"]["results"][0]["output"]["raw_text"] == RAW_HTML
    assert runtime.list_evidence(run.run_id) == []


def test_a_recorder_crash_is_a_warning_too(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self: EvidenceRecorder, **kwargs: Any) -> EvidenceCaptureStats:
        raise RuntimeError("recorder bug")

    monkeypatch.setattr(EvidenceRecorder, "record_tool_calls", explode)
    runtime = make_runtime(artifact_store=artifact_store)
    run = run_tools(runtime)
    assert run.status == RunStatus.COMPLETED
    (warning,) = run.vars["_runtime"]["evidence_warnings"]
    assert warning["error"] == "RuntimeError: recorder bug"


@pytest.mark.parametrize("artifact_kind", ["memory", "files"])
def test_evidence_survives_a_durable_store_and_a_new_runtime(
    tmp_path: Path, make_runtime: MakeRuntime, artifact_kind: str
) -> None:
    from abstractruntime.storage.artifacts import FileArtifactStore

    artifact_store = (
        InMemoryArtifactStore() if artifact_kind == "memory" else FileArtifactStore(tmp_path / "art")
    )
    db = SqliteDatabase(tmp_path / "runs.db")
    runtime = make_runtime(
        run_store=SqliteRunStore(db), ledger_store=SqliteLedgerStore(db), artifact_store=artifact_store
    )
    run = run_tools(runtime)
    assert run.status == RunStatus.COMPLETED

    reopened = artifact_store if artifact_kind == "memory" else FileArtifactStore(tmp_path / "art")
    again = make_runtime(
        run_store=SqliteRunStore(db), ledger_store=SqliteLedgerStore(db), artifact_store=reopened
    )
    spans = again.list_evidence(run.run_id)
    assert len(spans) == 3
    record = again.load_evidence(spans[0]["artifact_id"])
    assert record is not None and record["tool_name"] == "fetch_url"
    stored = again.get_state(run.run_id).vars["tool_results"]["results"][0]
    assert stored["meta"]["evidence_id"] == spans[0]["artifact_id"]
    ledger_output = next(r for r in again.get_ledger(run.run_id) if r["status"] == "completed")["result"]
    assert ledger_output["results"][0]["output"]["raw_text"] == RAW_HTML


def test_the_span_is_committed_with_the_tool_step(
    tmp_path: Path, make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore
) -> None:
    """The step that waits right after the tool batch is committed with the span already in vars."""
    db = SqliteDatabase(tmp_path / "runs.db")
    runtime = make_runtime(
        run_store=SqliteRunStore(db), ledger_store=SqliteLedgerStore(db), artifact_store=artifact_store
    )

    def act(run: RunState, ctx: Any) -> StepPlan:
        effect = Effect(
            type=EffectType.TOOL_CALLS, payload={"tool_calls": STANDARD_CALLS[:1]}, result_key="r"
        )
        return StepPlan(node_id="act", effect=effect, next_node="ask")

    def ask(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(
            node_id="ask", effect=Effect(type=EffectType.ASK_USER, payload={"prompt": "ok?"}), next_node="act"
        )

    flow = WorkflowSpec(workflow_id="wf", entry_node="act", nodes={"act": act, "ask": ask})
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id, max_steps=1)  # only the tool step
    stored = SqliteRunStore(db).load(run_id)
    assert stored is not None and stored.current_node == "ask"
    assert [s["tool_name"] for s in stored.vars["_runtime"]["memory_spans"]] == ["fetch_url"]


# -- resume capture (SPEC §4.6 step 3) ----------------------------------------------------------------
def passthrough_flow(details_key: str = "tool_calls") -> tuple[WorkflowSpec, Callable[..., EffectOutcome]]:
    """``act`` waits for externally executed tool calls (a passthrough executor); ``done`` completes.

    Returns the flow and the TOOL_CALLS handler that makes ``act`` wait.
    """

    def handler(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        wait = WaitState(
            reason=WaitReason.EVENT,
            wait_key=f"tools:{run.run_id}",
            resume_to_node=default_next_node,
            result_key=effect.result_key,
            details={"mode": "passthrough", details_key: effect.payload["tool_calls"]},
        )
        return EffectOutcome.waiting(wait)

    def act(run: RunState, ctx: Any) -> StepPlan:
        effect = Effect(
            type=EffectType.TOOL_CALLS, payload={"tool_calls": STANDARD_CALLS[:2]}, result_key="tool_results"
        )
        return StepPlan(node_id="act", effect=effect, next_node="done")

    def done(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(node_id="done", complete_output={"ok": True})

    flow = WorkflowSpec(workflow_id="wf_passthrough", entry_node="act", nodes={"act": act, "done": done})
    return flow, handler


def external_results() -> dict[str, Any]:
    return {
        "mode": "executed",
        "results": [
            {
                "call_id": c["call_id"],
                "name": c["name"],
                "success": True,
                "output": fake_tool_output(c["name"], c["arguments"]),
                "error": None,
            }
            for c in STANDARD_CALLS[:2]
        ],
    }


@pytest.mark.parametrize("details_key", ["tool_calls", "tool_calls_for_evidence"])
def test_resuming_a_tool_wait_captures_the_delivered_results(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore, details_key: str
) -> None:
    flow, handler = passthrough_flow(details_key)
    runtime = make_runtime(artifact_store=artifact_store, effect_handlers={EffectType.TOOL_CALLS: handler})
    run_id = runtime.start(workflow=flow)
    waiting = runtime.tick(workflow=flow, run_id=run_id)
    assert waiting.status == RunStatus.WAITING
    assert runtime.list_evidence(run_id) == []

    payload = external_results()
    delivered = copy.deepcopy(payload)
    run = runtime.resume(workflow=flow, run_id=run_id, wait_key=f"tools:{run_id}", payload=payload)
    assert run.status == RunStatus.COMPLETED
    assert payload == delivered  # the caller's object is not touched

    spans = runtime.list_evidence(run_id)
    assert [(s["tool_name"], s["call_id"]) for s in spans] == [("fetch_url", "c1"), ("execute_command", "c2")]
    fetch = run.vars["tool_results"]["results"][0]
    assert "raw_text" not in fetch["output"]
    assert fetch["meta"]["evidence_id"] == spans[0]["artifact_id"]
    record = runtime.load_evidence(spans[0]["artifact_id"])
    assert record is not None and record["node_id"] == "act"
    assert record["arguments"] == {"url": "https://example.org"}

    ledger = runtime.get_ledger(run_id)
    synthetic = [
        r for r in ledger if r["status"] == "completed" and (r["effect"] or {}).get("type") == "tool_calls"
    ]
    assert len(synthetic) == 1
    assert synthetic[0]["result"]["results"][0]["output"]["raw_text"] == RAW_HTML
    resume = [r for r in ledger if (r["effect"] or {}).get("type") == "resume"]
    assert resume[0]["effect"]["payload"]["payload"]["results"][0]["output"]["raw_text"] == RAW_HTML


def test_resume_without_tool_calls_in_details_captures_nothing(
    make_runtime: MakeRuntime, artifact_store: InMemoryArtifactStore
) -> None:
    def ask(run: RunState, ctx: Any) -> StepPlan:
        return StepPlan(
            node_id="ask",
            effect=Effect(type=EffectType.ASK_USER, payload={"prompt": "p"}, result_key="answer"),
            next_node=None,
        )

    flow = WorkflowSpec(workflow_id="wf_ask", entry_node="ask", nodes={"ask": ask})
    runtime = make_runtime(artifact_store=artifact_store)
    run_id = runtime.start(workflow=flow)
    runtime.tick(workflow=flow, run_id=run_id)
    run = runtime.resume(workflow=flow, run_id=run_id, wait_key=None, payload=external_results())
    assert run.status == RunStatus.COMPLETED
    assert runtime.list_evidence(run_id) == []
    assert run.vars["answer"]["results"][0]["output"]["raw_text"] == RAW_HTML


# -- the recorder on its own ----------------------------------------------------------------------------
def a_run() -> RunState:
    return RunState.new(workflow_id="wf", entry_node="n", vars={})


def test_recorder_matches_calls_by_index_and_counts(artifact_store: InMemoryArtifactStore) -> None:
    run = a_run()
    results = external_results()
    results["results"][0].pop("name")  # the name then comes from the call at the same index
    stats = EvidenceRecorder(artifact_store=artifact_store).record_tool_calls(
        run=run, node_id="n", tool_calls=STANDARD_CALLS[:2], tool_results=results
    )
    assert stats == EvidenceCaptureStats(recorded=2)
    assert [s["tool_name"] for s in run.vars["_runtime"]["memory_spans"]] == ["fetch_url", "execute_command"]


def test_recorder_accepts_a_bare_results_list_and_custom_tool_names(
    artifact_store: InMemoryArtifactStore,
) -> None:
    run = a_run()
    calls = [{"name": "read_file", "arguments": json.dumps({"path": "notes.md"}), "call_id": "r1"}]
    results = [{"call_id": "r1", "name": "read_file", "success": True, "output": "file body", "error": None}]
    recorder = EvidenceRecorder(artifact_store=artifact_store, tool_names=["read_file"])
    assert recorder.tool_names == frozenset({"read_file"})
    stats = recorder.record_tool_calls(run=run, node_id="n", tool_calls=calls, tool_results=results)
    assert stats.recorded == 1
    record = artifact_store.load_json(results[0]["meta"]["evidence_id"])
    assert record["arguments"] == {"path": "notes.md"}
    assert artifact_store.load_text(ref_id(record["output_artifact"])) == "file body"
    assert results[0]["output"] == "file body"


def test_recorder_skips_results_already_captured(artifact_store: InMemoryArtifactStore) -> None:
    run = a_run()
    results = external_results()
    recorder = EvidenceRecorder(artifact_store=artifact_store)
    assert (
        recorder.record_tool_calls(
            run=run, node_id="n", tool_calls=STANDARD_CALLS, tool_results=results
        ).recorded
        == 2
    )
    assert (
        recorder.record_tool_calls(
            run=run, node_id="n", tool_calls=STANDARD_CALLS, tool_results=results
        ).recorded
        == 0
    )
    assert len(run.vars["_runtime"]["memory_spans"]) == 2


def test_recorder_reports_partial_failures_and_keeps_going() -> None:
    class FailsOnCommands(InMemoryArtifactStore):
        def store(self, content: bytes, **kwargs: Any) -> Any:
            if (kwargs.get("tags") or {}).get("tool") == "execute_command":
                raise OSError("quota exceeded")
            return super().store(content, **kwargs)

    run = a_run()
    results = external_results()
    stats = EvidenceRecorder(artifact_store=FailsOnCommands()).record_tool_calls(
        run=run, node_id="n", tool_calls=STANDARD_CALLS, tool_results=results
    )
    assert stats.recorded == 1
    (error,) = stats.errors
    assert error["tool_name"] == "execute_command" and error["call_id"] == "c2"
    assert "quota exceeded" in error["error"]
    assert results["results"][1]["output"]["stdout"] == STDOUT  # untouched
    assert "meta" not in results["results"][1]
    assert "evidence_warnings" not in run.vars["_runtime"]  # the runtime decides where failures go


def test_long_commands_are_previewed(artifact_store: InMemoryArtifactStore) -> None:
    run = a_run()
    command = "echo " + "a" * 500
    calls = [{"name": "execute_command", "arguments": {"command": command}, "call_id": "x"}]
    results = [
        {
            "call_id": "x",
            "name": "execute_command",
            "success": True,
            "output": {"return_code": 0},
            "error": None,
        }
    ]
    EvidenceRecorder(artifact_store=artifact_store).record_tool_calls(
        run=run, node_id="n", tool_calls=calls, tool_results=results
    )
    (span,) = run.vars["_runtime"]["memory_spans"]
    assert span["command_preview"] == command[:200]


def one_result(name: str, output: Any, call_id: str = "k1") -> list[dict[str, Any]]:
    return [{"call_id": call_id, "name": name, "success": True, "output": output, "error": None}]


def test_fetch_url_raw_and_normalized_content_are_artifacts_of_the_record(
    artifact_store: InMemoryArtifactStore,
) -> None:
    run = a_run()
    calls = [{"name": "fetch_url", "arguments": {"url": "https://example.org"}, "call_id": "k1"}]
    results = one_result("fetch_url", fake_tool_output("fetch_url", {"url": "https://example.org"}))
    stats = EvidenceRecorder(artifact_store=artifact_store).record_tool_calls(
        run=run, node_id="n", tool_calls=calls, tool_results=results
    )
    assert stats.recorded == 1
    record = artifact_store.load_json(results[0]["meta"]["evidence_id"])
    raw, normalized = record["raw_artifact"], record["normalized_artifact"]
    assert raw["content_type"] == normalized["content_type"] == "text/plain"
    assert artifact_store.load_text(ref_id(raw)) == RAW_HTML
    assert artifact_store.load_text(ref_id(normalized)) == NORMALIZED
    for ref, field_name in ((raw, "raw_text"), (normalized, "normalized_text")):
        meta = artifact_store.get_metadata(ref_id(ref))
        assert meta is not None and meta.run_id == run.run_id
        assert meta.tags == {"kind": "evidence_content", "tool": "fetch_url", "field": field_name}
    assert "raw_text" not in record and "normalized_text" not in record  # the record stays small
    # the tool result points at the same artifacts
    output = results[0]["output"]
    assert output["raw_text_artifact"] == raw and output["normalized_text_artifact"] == normalized


@pytest.mark.parametrize(
    ("output", "stored"),
    [
        (json.dumps(SEARCH_RESULTS), SEARCH_RESULTS),  # JSON text is stored parsed
        ({"results": SEARCH_RESULTS}, {"results": SEARCH_RESULTS}),
        ("1. AbstractRuntime - durable", "1. AbstractRuntime - durable"),  # not JSON: stored as text
    ],
)
def test_web_search_results_are_an_artifact_of_the_record(
    artifact_store: InMemoryArtifactStore, output: Any, stored: Any
) -> None:
    run = a_run()
    calls = [{"name": "web_search", "arguments": {"query": "durable workflows"}, "call_id": "k1"}]
    results = one_result("web_search", copy.deepcopy(output))
    EvidenceRecorder(artifact_store=artifact_store).record_tool_calls(
        run=run, node_id="n", tool_calls=calls, tool_results=results
    )
    record = artifact_store.load_json(results[0]["meta"]["evidence_id"])
    assert record["query"] == "durable workflows"
    ref = record["results_artifact"]
    meta = artifact_store.get_metadata(ref_id(ref))
    assert meta is not None and meta.tags["field"] == "results"
    if isinstance(stored, str):
        assert ref["content_type"] == "text/plain"
        assert artifact_store.load_text(ref_id(ref)) == stored
    else:
        assert ref["content_type"] == "application/json"
        assert artifact_store.load_json(ref_id(ref)) == stored
    assert results[0]["output"] == output  # the model's view of the search is left as it was
