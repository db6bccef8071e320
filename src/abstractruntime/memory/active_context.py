"""Active context: what of a run's memory an LLM sees, and how archived spans come back (SPEC §10.4).

:class:`ActiveContextPolicy` reads ``vars._runtime.memory_spans`` (the span index written by the
MEMORY_* effects and by evidence capture) and ``vars.context.messages`` of stored runs:

* listing and filtering spans, newest first (time range, tags, authors, locations, keywords);
* rehydrating archived spans back into ``context.messages`` (same rules as MEMORY_REHYDRATE); the
  ``run_id`` variant saves the run with a revisioned compare-and-set, retried on conflict, when the
  run store supports revisions;
* selecting the messages an LLM call should see under ``max_history_messages``.

The ``_from_run`` variants take the :class:`RunState` itself and work on the class as well as on an
instance: ``ActiveContextPolicy.filter_spans_from_run(run, query=..., artifact_store=store)`` and
``policy.filter_spans_from_run(run, query=...)`` (the instance's artifact store by default).

Span ids are artifact ids or 1-based indexes into ``_runtime.memory_spans`` (stored order).
:class:`TimeRange` is a closed interval compared as datetimes (``Z`` accepted).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from ..core.clock import SYSTEM_CLOCK, Clock, to_iso
from ..core.effects.memory_messages import context_messages, select_messages_view, summary_texts
from ..core.effects.memory_recall import ArtifactCache, archive_text
from ..core.effects.memory_rehydration import apply_rehydration, load_spans, normalize_options
from ..core.effects.memory_spans import (
    SpanFilter,
    get_memory_spans,
    newest_first,
    normalize_tags,
    parse_time,
    query_terms,
    ranges_intersect,
    resolve_span_refs,
    score_text,
    span_text,
)
from ..core.effects.run_updates import update_run
from ..core.models import RunState
from ..errors import CapabilityError, RunNotFoundError
from ..storage.base import LedgerStore, RunStore

__all__ = ["ActiveContextPolicy", "TimeRange"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

ARCHIVE_SCAN_MESSAGES = 400
"""Archived messages searched per span by a keyword filter that has an artifact store."""


class _run_method(Generic[_P, _R]):
    """A method callable on the class or on an instance (SPEC §10.4 ``_from_run`` variants).

    The wrapped function receives the instance, or None when called on the class, before the
    caller's arguments: ``ActiveContextPolicy.f(run, ...)`` and ``policy.f(run, ...)`` both work.
    """

    def __init__(self, func: Callable[Concatenate[ActiveContextPolicy | None, _P], _R]) -> None:
        self._func = func
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        params = list(inspect.signature(func).parameters.values())[1:]
        self._signature = inspect.signature(func).replace(parameters=params)

    def __get__(self, instance: ActiveContextPolicy | None, owner: type | None = None) -> Callable[_P, _R]:
        func = self._func

        def bound(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            return func(instance, *args, **kwargs)

        bound.__doc__ = func.__doc__
        bound.__name__ = bound.__qualname__ = func.__name__
        bound.__signature__ = self._signature  # type: ignore[attr-defined]
        return bound


@dataclass(frozen=True)
class TimeRange:
    """A closed time interval ``[start, end]``; None leaves that side open.

    Args:
        start, end: ISO-8601 strings (``Z`` accepted) or datetimes; naive values are taken as UTC.

    Raises:
        ValueError: a bound that is not a valid time.
    """

    start: str | datetime | None = None
    end: str | datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and parse_time(value) is None:
                raise ValueError(f"TimeRange.{name} is not an ISO-8601 time: {value!r}")

    @property
    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """``(start, end)`` as UTC datetimes (None for an open side)."""
        return parse_time(self.start), parse_time(self.end)

    def contains(self, *, start: Any, end: Any) -> bool:
        """True when the span ``[start, end]`` intersects this range (closed intervals).

        A span missing one timestamp is taken as the instant it has; a span missing both never
        matches a bounded range (an unbounded range matches everything).
        """
        lo, hi = self.bounds
        return ranges_intersect(lo, hi, start, end)


class ActiveContextPolicy:
    """Span listing, filtering and rehydration over stored runs, and the LLM message view.

    Args:
        run_store: where the runs live.
        artifact_store: where archived spans live (needed by rehydration only).
        ledger_store: optional; handed to revisioned commits (no records are written).
        clock: time source for ``updated_at`` on saves (default the system clock).
    """

    def __init__(
        self,
        *,
        run_store: RunStore,
        artifact_store: Any,
        ledger_store: LedgerStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.run_store = run_store
        self.artifact_store = artifact_store
        self._ledger_store = ledger_store
        self._clock = clock or SYSTEM_CLOCK

    def _load(self, run_id: str) -> RunState:
        run = self.run_store.load(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        return run

    # -- spans -----------------------------------------------------------------------------------
    def list_memory_spans(self, run_id: str) -> list[dict[str, Any]]:
        """Copies of the spans of ``run_id``, newest first.

        Raises:
            RunNotFoundError (KeyError): unknown run.
        """
        return self.list_memory_spans_from_run(self._load(run_id))

    @_run_method
    def list_memory_spans_from_run(self: ActiveContextPolicy | None, run: RunState) -> list[dict[str, Any]]:
        """Copies of the spans of ``run``, newest first (by ``created_at``, else ``to``/``from_timestamp``).

        Callable on the class too: ``ActiveContextPolicy.list_memory_spans_from_run(run)``.
        """
        spans = [(i, s) for i, s in enumerate(get_memory_spans(run)) if isinstance(s, dict)]
        return [copy.deepcopy(s) for _, s in newest_first(spans)]

    def filter_spans(
        self,
        run_id: str,
        *,
        time_range: TimeRange | None = None,
        tags: Any = None,
        tags_mode: str = "all",
        authors: Iterable[str] | None = None,
        locations: Iterable[str] | None = None,
        query: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The spans of ``run_id`` passing every filter (see :meth:`filter_spans_from_run`).

        Raises:
            RunNotFoundError (KeyError): unknown run.
        """
        return self.filter_spans_from_run(
            self._load(run_id),
            time_range=time_range,
            tags=tags,
            tags_mode=tags_mode,
            authors=authors,
            locations=locations,
            query=query,
            limit=limit,
            artifact_store=self.artifact_store,
        )

    @_run_method
    def filter_spans_from_run(
        self: ActiveContextPolicy | None,
        run: RunState,
        *,
        time_range: TimeRange | None = None,
        tags: Any = None,
        tags_mode: str = "all",
        authors: Iterable[str] | None = None,
        locations: Iterable[str] | None = None,
        query: str | None = None,
        limit: int = 1000,
        artifact_store: Any = None,
    ) -> list[dict[str, Any]]:
        """Copies of the spans of ``run`` passing every filter, at most ``limit``.

        Callable on the class (``ActiveContextPolicy.filter_spans_from_run(run, ...,
        artifact_store=store)``) or on an instance (the instance's artifact store by default).

        Args:
            time_range: spans intersecting it (closed intervals).
            tags: wanted tags (``{key: value | [values]}`` or ``["key=value", ...]``; ``"*"`` = any value).
            tags_mode: ``all`` (every wanted tag) or ``any`` (at least one).
            authors: matched against ``created_by`` and the ``author`` tag (case-insensitive).
            locations: matched against ``location`` and the ``location`` tag (case-insensitive).
            query: keywords searched in previews, tags, location, author and conversation summaries,
                and, with an artifact store, in the archived note text and up to
                ``ARCHIVE_SCAN_MESSAGES`` archived messages per span; results are then ordered by how
                many distinct keywords they contain, then newest first.
            artifact_store: where archived spans live (default: the instance's, None on the class);
                without one, keywords search the span metadata only.
        """
        start, end = time_range.bounds if time_range is not None else (None, None)
        span_filter = SpanFilter(
            start=start,
            end=end,
            tags=normalize_tags(tags),
            tags_mode="any" if str(tags_mode).strip().lower() == "any" else "all",
            authors=[str(a) for a in authors or ()],
            locations=[str(loc) for loc in locations or ()],
        )
        spans = [(i, s) for i, s in enumerate(get_memory_spans(run)) if span_filter.matches(s)]
        ordered = [s for _, s in newest_first(spans)]
        terms = query_terms(query)
        if terms:
            summaries = summary_texts(context_messages(run))
            store = artifact_store if artifact_store is not None else getattr(self, "artifact_store", None)
            cache = ArtifactCache(store) if store is not None else None
            scored = []
            for span in ordered:
                text = span_text(span, summaries.get(str(span.get("artifact_id"))))
                score = score_text(terms, text)
                if cache is not None and score < len(terms):
                    archived = archive_text(cache.get(span.get("artifact_id")), ARCHIVE_SCAN_MESSAGES)
                    score = score_text(terms, text + "\n" + archived)
                scored.append((score, span))
            ordered = [s for score, s in sorted(scored, key=lambda p: p[0], reverse=True) if score > 0]
        return [copy.deepcopy(s) for s in ordered[: max(limit, 0)]]

    @staticmethod
    def resolve_span_ids_from_spans(span_ids: Any, spans: Sequence[Any]) -> list[str]:
        """Artifact ids for ``span_ids`` (artifact ids or 1-based indexes into ``spans``, stored order).

        Out-of-range indexes are dropped; artifact ids are kept even when ``spans`` lacks them.
        """
        return [ref.artifact_id for ref in resolve_span_refs(span_ids, spans) if ref.artifact_id]

    @staticmethod
    def summary_text_by_artifact_id_from_run(run: RunState) -> dict[str, str]:
        """``{span artifact id: summary text}`` from the compaction summaries in ``context.messages``."""
        return summary_texts(context_messages(run))

    # -- rehydration -------------------------------------------------------------------------------
    @staticmethod
    def _require_store(policy: ActiveContextPolicy | None, artifact_store: Any = None) -> Any:
        store = artifact_store if artifact_store is not None else getattr(policy, "artifact_store", None)
        if store is None:
            raise CapabilityError("rehydration requires an artifact_store")
        return store

    def rehydrate_into_context(
        self,
        run_id: str,
        *,
        span_ids: Any,
        placement: str = "after_summary",
        dedup_by: str | None = "message_id",
        max_messages: int | None = None,
    ) -> dict[str, Any]:
        """Insert archived span messages into ``context.messages`` of ``run_id`` and save the run.

        The artifacts are read first; the run is then changed with a revisioned read-modify-write
        (retried on conflict) when the store supports revisions, else with ``load``/``save``.

        Returns:
            ``{"inserted", "skipped", "artifacts": [{span_id, inserted, skipped, error, kind,
            preview}], "warnings"}``.

        Raises:
            RunNotFoundError (KeyError): unknown run.
            CapabilityError (RuntimeError): no artifact store.
            ConcurrencyError: the run kept changing under every retry.
        """
        store = self._require_store(self)
        where, dedup, warnings = normalize_options(placement, dedup_by)
        loaded = load_spans(store, self._load(run_id), span_ids)

        def mutate(run: RunState) -> dict[str, Any]:
            return apply_rehydration(run, loaded, placement=where, dedup_by=dedup, max_messages=max_messages)

        report = update_run(
            self.run_store,
            self._ledger_store,
            run_id,
            mutate,
            now=lambda: to_iso(self._clock.now()),
        )
        report["warnings"] = warnings + report["warnings"]
        return report

    @_run_method
    def rehydrate_into_context_from_run(
        self: ActiveContextPolicy | None,
        run: RunState,
        *,
        span_ids: Any,
        placement: str = "after_summary",
        dedup_by: str | None = "message_id",
        max_messages: int | None = None,
        artifact_store: Any = None,
    ) -> dict[str, Any]:
        """Like :meth:`rehydrate_into_context`, changing ``run`` in memory only (the caller saves it).

        Callable on the class with ``artifact_store=...``, or on an instance (its store by default).

        Raises:
            CapabilityError (RuntimeError): no artifact store.
        """
        where, dedup, warnings = normalize_options(placement, dedup_by)
        loaded = load_spans(ActiveContextPolicy._require_store(self, artifact_store), run, span_ids)
        report = apply_rehydration(run, loaded, placement=where, dedup_by=dedup, max_messages=max_messages)
        report["warnings"] = warnings + report["warnings"]
        return report

    # -- LLM view ----------------------------------------------------------------------------------
    def select_active_messages_for_llm(
        self, run_id: str, *, max_history_messages: int | None = None
    ) -> list[dict[str, Any]]:
        """Copies of the messages of ``run_id`` an LLM call should see.

        ``max_history_messages`` defaults to the run's ``_limits.max_history_messages`` (-1: all).

        Raises:
            RunNotFoundError (KeyError): unknown run.
        """
        return self.select_active_messages_for_llm_from_run(
            self._load(run_id), max_history_messages=max_history_messages
        )

    @_run_method
    def select_active_messages_for_llm_from_run(
        self: ActiveContextPolicy | None, run: RunState, *, max_history_messages: int | None = None
    ) -> list[dict[str, Any]]:
        """Copies of the messages of ``run`` an LLM call should see (see :meth:`select_messages_view`).

        ``max_history_messages`` defaults to the run's ``_limits.max_history_messages`` (-1: all).
        Callable on the class too: ``ActiveContextPolicy.select_active_messages_for_llm_from_run(run)``.
        """
        limit = max_history_messages
        if limit is None:
            limits = run.vars.get("_limits")
            value = limits.get("max_history_messages") if isinstance(limits, dict) else None
            limit = value if isinstance(value, int) and not isinstance(value, bool) else -1
        messages = [m for m in context_messages(run) if isinstance(m, dict)]
        return copy.deepcopy(select_messages_view(messages, max_history_messages=limit))

    @staticmethod
    def select_messages_view(messages: Iterable[Any], *, max_history_messages: int | None) -> list[Any]:
        """Every system message plus the newest ``max_history_messages`` other messages, in order.

        -1 (any negative value, or None) keeps every message; 0 keeps the system messages only.
        """
        return select_messages_view(messages, max_history_messages=max_history_messages)
