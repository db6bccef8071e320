"""MEMORY_QUERY (SPEC §4.9): recall memory spans by id, time, tags, author, location and keywords.

Payload (defaults in brackets; a ``recall_level`` preset from ``abstractruntime.memory.recall_levels``
replaces the defaults of the limits the payload does not set):

* selection: ``span_id`` / ``span_ids`` (artifact ids or 1-based indexes, resolved per owner run),
  ``query`` (keywords), ``since`` / ``until`` (ISO times, closed range), ``tags`` with ``tags_mode``
  (``all`` | ``any``), ``authors``, ``locations``;
* limits: ``limit_spans`` [5], ``deep`` [False], ``deep_limit_spans`` [50],
  ``deep_limit_messages_per_span`` [400], ``connected`` [False], ``neighbor_hops`` [1],
  ``connect_by`` [["topic", "person"]], ``max_messages`` [80];
* ``scope``: ``run`` [default] | ``session`` | ``global`` | ``all`` (or a list of them);
  ``target_run_id`` replaces the current run for the run scope;
* ``return``: ``rendered`` [default] | ``meta`` | ``both``; ``tool_name`` [``recall_memory``], ``call_id``.

Tool output by ``return`` mode: ``rendered`` → the recall text, one header line per hit naming
``span_id=<id>``; ``meta`` → ``{"matches": [...], "span_ids": [...], "count", "spans"}``; ``both`` →
the same plus ``"rendered"``.  ``span_ids`` are the hits' artifact ids in result order; ``spans`` is
the same list as ``matches`` (the name earlier versions used).  Each match is the stored span plus
``span_id``, ``span_index``, ``owner_run_id``, ``scope``, ``summary`` (conversation spans), ``score``
(keyword queries), ``deep_hits`` and ``connected_via`` when they apply.  The call's ``meta`` is
``{"span_ids", "count", "scopes", "owner_run_ids", "recall_level", "effort", "warnings"}``.
Read only: a query never creates the session or global owner runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..models import Effect, RunState
from ..outcome import EffectOutcome
from .kernel import Kernel
from .memory_common import ToolCall, as_bool, as_int, as_str_list, missing_store_message
from .memory_messages import context_messages, summary_texts
from .memory_recall import ArtifactCache, Candidate, RecallOptions, render_results, search, span_meta
from .memory_scopes import SCOPES, MemoryOwner, load_owner, resolve_owner
from .memory_spans import (
    SpanFilter,
    get_memory_spans,
    normalize_tags,
    parse_time,
    query_terms,
    resolve_span_refs,
)

__all__ = ["make_memory_query_handler"]

_DEFAULTS: dict[str, Any] = {
    "limit_spans": 5,
    "deep": False,
    "deep_limit_spans": 50,
    "deep_limit_messages_per_span": 400,
    "connected": False,
    "neighbor_hops": 1,
    "max_messages": 80,
}
_RETURN_MODES = ("rendered", "meta", "both")


class _QueryError(ValueError):
    """A payload the query cannot use (reported as a tool error)."""


def _limits(payload: dict[str, Any], warnings: list[str]) -> tuple[dict[str, Any], str | None]:
    from .recall_levels import get_recall_level

    base = dict(_DEFAULTS)
    name = payload.get("recall_level")
    level = get_recall_level(name)
    if level is not None:
        base.update({k: getattr(level, k) for k in _DEFAULTS})
    elif isinstance(name, str) and name.strip():
        warnings.append(f"unknown recall_level {name!r}; using the defaults")
    for key, default in base.items():
        if payload.get(key) is not None:
            base[key] = (
                as_bool(payload[key], default) if isinstance(default, bool) else as_int(payload[key], default)
            )
    base["limit_spans"] = max(int(base["limit_spans"]), 1)
    for key in ("deep_limit_spans", "deep_limit_messages_per_span", "neighbor_hops", "max_messages"):
        base[key] = max(int(base[key]), 0)
    return base, level.name if level is not None else None


def _time(payload: dict[str, Any], key: str) -> Any:
    value = payload.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    moment = parse_time(value)
    if moment is None:
        raise _QueryError(f"memory_query: {key} is not an ISO-8601 time: {value!r}")
    return moment


def _options(payload: dict[str, Any], limits: dict[str, Any]) -> RecallOptions:
    span_filter = SpanFilter(
        start=_time(payload, "since"),
        end=_time(payload, "until"),
        tags=normalize_tags(payload.get("tags")),
        tags_mode="any" if str(payload.get("tags_mode") or "all").strip().lower() == "any" else "all",
        authors=as_str_list(payload.get("authors")),
        locations=as_str_list(payload.get("locations")),
    )
    connect_by = [k.lower() for k in as_str_list(payload.get("connect_by"))] or ["topic", "person"]
    return RecallOptions(
        terms=query_terms(payload.get("query")),
        filter=span_filter,
        connect_by=connect_by,
        **limits,
    )


def _scopes(value: Any) -> list[str]:
    names = [s.lower() for s in as_str_list(value)] or ["run"]
    if "all" in names:
        return list(SCOPES)
    unknown = [s for s in names if s not in SCOPES]
    if unknown:
        raise _QueryError(
            f"memory_query: unknown scope {unknown[0]!r} (expected run, session, global or all)"
        )
    return names


def _candidates(
    kernel: Kernel, run: RunState, payload: dict[str, Any], scopes: list[str]
) -> tuple[list[Candidate], list[MemoryOwner]]:
    owners: list[MemoryOwner] = []
    for scope in scopes:
        owner = resolve_owner(run, scope, kernel.run_store, target_run_id=payload.get("target_run_id"))
        if all(o.run_id != owner.run_id for o in owners):
            owners.append(owner)
    wanted = payload.get("span_ids") if payload.get("span_ids") not in (None, []) else payload.get("span_id")
    found: list[Candidate] = []
    for owner in owners:
        owner_run = load_owner(kernel, run, owner)
        if owner_run is None:
            if owner.workflow_id is None:
                raise _QueryError(f"memory_query: unknown target run {owner.run_id}")
            continue
        spans = get_memory_spans(owner_run)
        summaries = summary_texts(context_messages(owner_run))
        indexes: range | list[int] = range(len(spans))
        if wanted not in (None, "", []):
            indexes = [r.index for r in resolve_span_refs(wanted, spans) if r.index is not None]
        for i in indexes:
            span = spans[i]
            if isinstance(span, dict):
                summary = summaries.get(str(span.get("artifact_id")))
                found.append(Candidate(owner.run_id, owner.scope, i, span, summary))
    return found, owners


def make_memory_query_handler(kernel: Kernel) -> Callable[[RunState, Effect, str | None], EffectOutcome]:
    """A MEMORY_QUERY handler bound to ``kernel`` (artifact store, run store)."""

    def memory_query(run: RunState, effect: Effect, default_next_node: str | None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        call = ToolCall.from_payload(payload, default_name="recall_memory")
        store = kernel.artifact_store
        if store is None:
            return call.error(missing_store_message("memory_query"))
        warnings: list[str] = []
        mode = str(payload.get("return") or "rendered").strip().lower()
        if mode not in _RETURN_MODES:
            warnings.append(f"unknown return mode {payload.get('return')!r}; using rendered")
            mode = "rendered"
        limits, level = _limits(payload, warnings)
        try:
            options = _options(payload, limits)
            scopes = _scopes(payload.get("scope"))
            candidates, owners = _candidates(kernel, run, payload, scopes)
        except _QueryError as exc:
            return call.error(str(exc), meta={"warnings": warnings})
        cache = ArtifactCache(store)
        results = search(candidates, options, cache)
        span_ids = [c.artifact_id for c in results]
        meta = {
            "span_ids": span_ids,
            "count": len(results),
            "scopes": scopes,
            "owner_run_ids": [o.run_id for o in owners],
            "recall_level": level,
            "effort": limits,
            "warnings": warnings,
        }
        if mode == "rendered":
            rendered = render_results(results, cache, max_messages=options.max_messages, scopes=scopes)
            return call.ok(rendered, meta=meta)
        matches = [span_meta(c, with_score=bool(options.terms)) for c in results]
        output: dict[str, Any] = {
            "matches": matches,
            "span_ids": list(span_ids),
            "count": len(matches),
            "spans": matches,
        }
        if mode == "both":
            output["rendered"] = render_results(
                results, cache, max_messages=options.max_messages, scopes=scopes
            )
        return call.ok(output, meta=meta)

    return memory_query
