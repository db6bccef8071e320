"""The runtime's evidence hook (SPEC §10.2): capture tool-call evidence, never failing a run.

When an artifact store is configured, the step loop and the resumer call
:func:`capture_tool_evidence` for tool batches.  It imports ``abstractruntime.evidence`` lazily (the
kernel never imports it at load time) and turns every capture failure into a
``_runtime.evidence_warnings`` entry.
"""

from __future__ import annotations

from typing import Any

from .clock import Clock, to_iso
from .logs import LazyLogger
from .models import RunState

__all__ = ["MAX_EVIDENCE_WARNINGS", "capture_tool_evidence"]

_log = LazyLogger("abstractruntime.evidence")

MAX_EVIDENCE_WARNINGS = 100
"""``_runtime.evidence_warnings`` keeps at most this many entries, newest last."""


def capture_tool_evidence(
    *,
    artifact_store: Any,
    clock: Clock,
    run: RunState,
    node_id: str,
    tool_calls: list[Any],
    tool_result: dict[str, Any],
) -> None:
    """Record evidence for one tool batch (SPEC §10.2); never raises.

    Args:
        artifact_store: where evidence records go.
        clock: stamps the warnings.
        run: the run; its ``_runtime.memory_spans`` gets one span per captured call.
        node_id: the TOOL_CALLS node (or the waiting node, on resume).
        tool_calls: the batch's calls (dicts with ``name``, ``arguments``, ``call_id``).
        tool_result: ``{"mode", "results": [...]}``, edited in place (large fields → refs).
    """
    now = to_iso(clock.now())
    try:
        from ..evidence.recorder import EvidenceRecorder  # lazy: keeps core free of import cycles

        recorder = EvidenceRecorder(artifact_store=artifact_store, clock=clock)
        stats = recorder.record_tool_calls(
            run=run, node_id=node_id, tool_calls=tool_calls, tool_results=tool_result
        )
        errors = [str(e.get("error")) for e in stats.errors]
    except Exception as exc:  # noqa: BLE001 - evidence never fails a run; the failure is recorded
        _log.warning("evidence capture failed for run %s at node %s", run.run_id, node_id, exc_info=True)
        errors = [f"{type(exc).__name__}: {exc}"]
    for error in errors:
        _note_evidence_warning(run, node_id=node_id, error=error, now=now)


def _note_evidence_warning(run: RunState, *, node_id: str, error: str, now: str) -> None:
    """Append ``{ts, node_id, error}`` to ``vars._runtime.evidence_warnings`` (newest kept)."""
    runtime_ns = run.vars.get("_runtime")
    if not isinstance(runtime_ns, dict):
        runtime_ns = run.vars["_runtime"] = {}
    warnings = runtime_ns.get("evidence_warnings")
    if not isinstance(warnings, list):
        warnings = runtime_ns["evidence_warnings"] = []
    warnings.append({"ts": now, "node_id": node_id, "error": error})
    if len(warnings) > MAX_EVIDENCE_WARNINGS:
        del warnings[: len(warnings) - MAX_EVIDENCE_WARNINGS]
