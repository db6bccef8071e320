"""Evidence capture for tool calls (SPEC §10.2).

Some tool results are worth keeping as provenance: the page an agent read (``fetch_url``), the
command it ran (``execute_command``), the search it made (``web_search``).  :class:`EvidenceRecorder`
stores one JSON **evidence record** per such call as an artifact (tags ``kind=evidence``,
``tool=<name>``), moves the large text fields of the result out to their own artifacts, and indexes
the record in ``vars._runtime.memory_spans`` so ``Runtime.list_evidence`` / ``load_evidence`` and the
memory effects can find it.

The tool result is **edited in place**:

* ``fetch_url``: ``output.raw_text`` / ``output.normalized_text`` are replaced by
  ``raw_text_artifact`` / ``normalized_text_artifact`` refs (``{"$artifact": id, "content_type"}``);
  the evidence record references the same artifacts as ``raw_artifact`` / ``normalized_artifact``;
* ``execute_command``: ``output.stdout`` / ``output.stderr`` become ``stdout_artifact`` /
  ``stderr_artifact``;
* ``web_search``: the output stays (it is what the model reads); the record keeps a copy of it as a
  ``results_artifact`` (JSON, or text when it does not parse as JSON);
* any other listed tool (and a ``fetch_url`` / ``execute_command`` whose output is not a dict with
  those fields): the output stays, the record keeps a copy as ``output_artifact``;
* every captured result gets ``meta.evidence_id`` (the record's artifact id).  A result that already
  carries ``meta.evidence_id`` is skipped, so capturing the same batch twice records it once.

Failures are per call: a call whose artifacts cannot be stored is left untouched, logged with the run
id, and reported in :attr:`EvidenceCaptureStats.errors`; the other calls are still captured.  The
runtime turns those reports into ``_runtime.evidence_warnings`` entries (SPEC §5.2), so evidence never
fails a run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.clock import SYSTEM_CLOCK, Clock, to_iso
from ..core.models import RunState
from ..storage.artifacts import ArtifactStore, artifact_ref

__all__ = ["DEFAULT_EVIDENCE_TOOL_NAMES", "EvidenceCaptureStats", "EvidenceRecorder"]

_log = logging.getLogger("abstractruntime.evidence")

DEFAULT_EVIDENCE_TOOL_NAMES: tuple[str, ...] = ("web_search", "fetch_url", "execute_command")
"""The tools whose results are captured when no other list is given."""

COMMAND_PREVIEW_CHARS = 200
"""Length of the ``command_preview`` kept in an ``execute_command`` evidence span."""

_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "fetch_url": ("raw_text", "normalized_text"),
    "execute_command": ("stdout", "stderr"),
}
_RECORD_REFS: dict[str, str] = {"raw_text": "raw_artifact", "normalized_text": "normalized_artifact"}
"""Record key of a moved-out field's ref, where it is not ``<field>_artifact``."""

_SCALAR_FIELDS: dict[str, tuple[str, ...]] = {
    "fetch_url": ("url", "final_url", "content_type", "size_bytes"),
    "execute_command": ("command", "return_code", "duration_s", "working_directory", "platform"),
}


@dataclass(frozen=True)
class EvidenceCaptureStats:
    """What one :meth:`EvidenceRecorder.record_tool_calls` call did.

    Attributes:
        recorded: how many evidence records were stored.
        errors: one ``{"tool_name", "call_id", "error"}`` dict per call that could not be captured
            (``error`` is a readable sentence naming the tool and call).
    """

    recorded: int = 0
    errors: tuple[dict[str, Any], ...] = field(default=())


class EvidenceRecorder:
    """Stores evidence records for selected tool calls.

    Args:
        artifact_store: where records and moved-out fields go (SPEC §7.6 ``ArtifactStore``).
        tool_names: the tool names to capture (None or omitted: :data:`DEFAULT_EVIDENCE_TOOL_NAMES`).
        clock: source of ``created_at`` timestamps (default the system clock).
    """

    def __init__(
        self,
        *,
        artifact_store: ArtifactStore,
        tool_names: Iterable[str] | None = DEFAULT_EVIDENCE_TOOL_NAMES,
        clock: Clock | None = None,
    ) -> None:
        self._store = artifact_store
        names = DEFAULT_EVIDENCE_TOOL_NAMES if tool_names is None else tool_names
        self._tool_names = frozenset(str(n).strip() for n in names)
        self._clock: Clock = clock or SYSTEM_CLOCK

    @property
    def tool_names(self) -> frozenset[str]:
        """The names of the tools this recorder captures."""
        return self._tool_names

    def record_tool_calls(
        self,
        *,
        run: RunState,
        node_id: str,
        tool_calls: Sequence[Any] | None,
        tool_results: Mapping[str, Any] | Sequence[Any] | None,
    ) -> EvidenceCaptureStats:
        """Capture evidence for every result of a listed tool, matching calls by index.

        Args:
            run: the run the calls belong to; gets one ``_runtime.memory_spans`` entry per record.
            node_id: the node that issued the calls (stored in each record).
            tool_calls: the calls, ``[{"name", "arguments": dict, "call_id"?}, ...]``; the call at
                index ``i`` gives the arguments for result ``i``.
            tool_results: ``{"mode", "results": [...]}`` (the standard tool result shape) or the bare
                results list; each result ``{"call_id", "name", "success", "output", "error",
                "meta"?}`` is edited in place when captured.

        Returns:
            :class:`EvidenceCaptureStats` with the number recorded and the per-call failures.
            Nothing is raised for a call that cannot be stored.
        """
        results = _results_list(tool_results)
        calls = list(tool_calls) if isinstance(tool_calls, Sequence) else []
        recorded = 0
        errors: list[dict[str, Any]] = []
        for index, result in enumerate(results):
            if not isinstance(result, dict):
                continue
            call = calls[index] if index < len(calls) and isinstance(calls[index], dict) else {}
            name = _tool_name(result, call)
            if name not in self._tool_names or _already_captured(result):
                continue
            call_id = result.get("call_id") or call.get("call_id") or call.get("id")
            try:
                self._capture_one(run, node_id=node_id, name=name, call=call, result=result)
            except Exception as exc:  # noqa: BLE001 - reported to the caller; evidence never fails a run
                _log.warning(
                    "evidence for %s call %s in run %s failed", name, call_id, run.run_id, exc_info=True
                )
                message = f"{name} (call {call_id}): {type(exc).__name__}: {exc}"
                errors.append({"tool_name": name, "call_id": call_id, "error": message})
                continue
            recorded += 1
        return EvidenceCaptureStats(recorded=recorded, errors=tuple(errors))

    # -- one call --------------------------------------------------------------------------------
    def _capture_one(
        self, run: RunState, *, node_id: str, name: str, call: dict[str, Any], result: dict[str, Any]
    ) -> None:
        """Store the artifacts first; only then edit ``result`` and ``run.vars`` (all or nothing)."""
        created_at = to_iso(self._clock.now())
        arguments = _arguments(call)
        call_id = result.get("call_id") or call.get("call_id") or call.get("id")
        record: dict[str, Any] = {
            "tool_name": name,
            "call_id": call_id,
            "success": bool(result.get("success")),
            "error": result.get("error"),
            "created_at": created_at,
            "run_id": run.run_id,
            "workflow_id": run.workflow_id,
            "node_id": node_id,
            "arguments": arguments,
        }
        if run.actor_id:
            record["actor_id"] = run.actor_id
        if run.session_id:
            record["session_id"] = run.session_id
        output = result.get("output")
        moved = self._tool_fields(run, name=name, output=output, arguments=arguments, record=record)
        meta = self._store.store_json(record, run_id=run.run_id, tags={"kind": "evidence", "tool": name})
        evidence_id = meta.artifact_id
        if isinstance(output, dict):
            for key, ref in moved.items():
                output.pop(key, None)
                output[f"{key}_artifact"] = ref
        result_meta = result.get("meta")
        if not isinstance(result_meta, dict):
            result_meta = result["meta"] = {}
        result_meta["evidence_id"] = evidence_id
        _append_span(run, _span(record, evidence_id))

    def _tool_fields(
        self,
        run: RunState,
        *,
        name: str,
        output: Any,
        arguments: dict[str, Any],
        record: dict[str, Any],
    ) -> dict[str, dict[str, Any]]:
        """Fill the tool-specific part of ``record``; returns ``{field: ref}`` to move out of the output."""
        tags = {"kind": "evidence_content", "tool": name}
        if name == "web_search":
            record["query"] = arguments.get("query")
            record["results_artifact"] = self._store_results(run, output, tags)
            return {}
        fields = _SCALAR_FIELDS.get(name, ())
        source = output if isinstance(output, dict) else {}
        for key in fields:
            record[key] = source.get(key)
        for key in ("url", "command"):
            if key in fields and record.get(key) is None:
                record[key] = arguments.get(key)
        moved: dict[str, dict[str, Any]] = {}
        for key in _TEXT_FIELDS.get(name, ()):
            value = source.get(key)
            if not isinstance(value, str) or not value:
                continue
            ref = self._store_text(run, value, {**tags, "field": key})
            record[_RECORD_REFS.get(key, f"{key}_artifact")] = ref
            moved[key] = ref
        if not moved and output not in (None, "", {}, []):
            record["output_artifact"] = self._store_value(run, output, {**tags, "field": "output"})
        return moved

    def _store_text(self, run: RunState, text: str, tags: dict[str, str]) -> dict[str, Any]:
        meta = self._store.store_text(text, content_type="text/plain", run_id=run.run_id, tags=tags)
        return {**artifact_ref(meta.artifact_id), "content_type": "text/plain"}

    def _store_results(self, run: RunState, output: Any, tags: dict[str, str]) -> dict[str, Any] | None:
        """web_search results as JSON (a JSON string is parsed first), else as text."""
        if output is None or output == "":
            return None
        if isinstance(output, str):
            try:
                output = json.loads(output)
            except ValueError:
                return self._store_text(run, output, {**tags, "field": "results"})
        return self._store_value(run, output, {**tags, "field": "results"})

    def _store_value(self, run: RunState, value: Any, tags: dict[str, str]) -> dict[str, Any]:
        """A string as text, anything else as JSON."""
        if isinstance(value, str):
            return self._store_text(run, value, tags)
        meta = self._store.store_json(value, run_id=run.run_id, tags=tags)
        return {**artifact_ref(meta.artifact_id), "content_type": "application/json"}


def _results_list(tool_results: Mapping[str, Any] | Sequence[Any] | None) -> list[Any]:
    if isinstance(tool_results, Mapping):
        results = tool_results.get("results")
        return results if isinstance(results, list) else []
    if isinstance(tool_results, list):
        return tool_results
    return []


def _tool_name(result: dict[str, Any], call: dict[str, Any]) -> str:
    for source in (result, call):
        name = source.get("name")
        if isinstance(name, str) and name.strip():
            return name.strip()
    return ""


def _already_captured(result: dict[str, Any]) -> bool:
    meta = result.get("meta")
    return isinstance(meta, dict) and bool(meta.get("evidence_id"))


def _arguments(call: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments as a dict (a JSON string is parsed; anything else gives ``{}``)."""
    arguments = call.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return {}
    return json.loads(json.dumps(arguments, default=str)) if isinstance(arguments, dict) else {}


def _span(record: dict[str, Any], evidence_id: str) -> dict[str, Any]:
    span: dict[str, Any] = {
        "kind": "evidence",
        "artifact_id": evidence_id,
        "created_at": record["created_at"],
        "from_timestamp": record["created_at"],
        "to_timestamp": record["created_at"],
        "message_count": 0,
        "tool_name": record["tool_name"],
        "call_id": record["call_id"],
        "success": record["success"],
    }
    name = record["tool_name"]
    if name == "fetch_url":
        span["url"] = record.get("url")
    elif name == "web_search":
        span["query"] = record.get("query")
    elif name == "execute_command":
        command = record.get("command")
        text = command if isinstance(command, str) else json.dumps(command, default=str)
        span["command_preview"] = text[:COMMAND_PREVIEW_CHARS]
    return span


def _append_span(run: RunState, span: dict[str, Any]) -> None:
    runtime_ns = run.vars.get("_runtime")
    if not isinstance(runtime_ns, dict):
        runtime_ns = run.vars["_runtime"] = {}
    spans = runtime_ns.get("memory_spans")
    if not isinstance(spans, list):
        spans = runtime_ns["memory_spans"] = []
    spans.append(span)
