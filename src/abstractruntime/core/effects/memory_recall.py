"""The recall engine behind MEMORY_QUERY: metadata-first search over span indexes, then archives.

Order of work (SPEC §4.9 "metadata-first recall over ``_runtime.memory_spans`` plus the archived
artifacts"):

1. Candidates are every span of every owner run in scope (see ``memory_scopes``), optionally limited
   to the requested span ids.
2. Metadata filters (time range, tags, authors, locations) drop candidates (``memory_spans.SpanFilter``).
3. Keywords are scored against span metadata and the conversation summary text; with ``deep``, up to
   ``deep_limit_spans`` unmatched candidates (newest first) have their archive opened and up to
   ``deep_limit_messages_per_span`` messages scanned.  The score is the number of distinct keywords found.
4. Results are ordered by score (when there are keywords), then newest first, and cut to ``limit_spans``.
5. With ``connected``, neighbours sharing a tag value on a ``connect_by`` key (default topic and
   person) are added, walking up to ``neighbor_hops`` hops, at most ``limit_spans`` of them.

Rendering loads notes in full and shows archived messages (deep hits first) within a budget of
``max_messages`` messages, each cut to 500 characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .memory_common import as_str_list, load_json_artifact
from .memory_messages import message_text, normalize_messages
from .memory_spans import SpanFilter, newest_first, score_text, span_text, span_time, tag_values

__all__ = [
    "ArtifactCache",
    "Candidate",
    "RecallOptions",
    "archive_text",
    "render_results",
    "search",
    "span_meta",
]

_MESSAGE_CHARS = 500


@dataclass
class RecallOptions:
    """The effective limits of one query (payload values over the recall level preset)."""

    terms: list[str]
    filter: SpanFilter
    limit_spans: int
    deep: bool
    deep_limit_spans: int
    deep_limit_messages_per_span: int
    connected: bool
    neighbor_hops: int
    connect_by: list[str]
    max_messages: int


@dataclass
class Candidate:
    """A span of an owner run, with its search score, deep hits and neighbour link."""

    owner_run_id: str
    scope: str
    index: int
    span: dict[str, Any]
    summary: str | None = None
    score: int = 0
    hits: list[dict[str, Any]] = field(default_factory=list)
    via: str | None = None

    @property
    def artifact_id(self) -> str | None:
        """The span's artifact id, or None."""
        value = self.span.get("artifact_id")
        return str(value) if value else None


class ArtifactCache:
    """Loads each artifact at most once per query."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._data: dict[str, Any] = {}

    def get(self, artifact_id: str | None) -> Any:
        """The JSON content, or None when it is missing or unreadable."""
        if not artifact_id:
            return None
        if artifact_id not in self._data:
            self._data[artifact_id] = load_json_artifact(self._store, artifact_id)[0]
        return self._data[artifact_id]


def _archive_messages(data: Any, limit: int | None = None) -> list[dict[str, Any]]:
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        raw = data["messages"] if limit is None else data["messages"][:limit]
        return normalize_messages(raw)
    if isinstance(data, dict) and isinstance(data.get("note"), str):
        return [{"role": "note", "content": data["note"], "metadata": {}}]
    return []


def archive_text(data: Any, limit: int | None = None) -> str:
    """The searchable text of an archived span: the note, or up to ``limit`` archived messages."""
    return "\n".join(message_text(m) for m in _archive_messages(data, limit))


def _ordered(items: list[Candidate], *, by_score: bool) -> list[Candidate]:
    ranked = [items[i] for i, _ in newest_first([(i, c.span) for i, c in enumerate(items)])]
    if by_score:
        ranked.sort(key=lambda c: c.score, reverse=True)  # stable: ties stay newest first
    return ranked


def search(candidates: list[Candidate], options: RecallOptions, cache: ArtifactCache) -> list[Candidate]:
    """Filter, score and rank ``candidates``; returns the primary results plus connected neighbours."""
    filtered = [c for c in candidates if options.filter.matches(c.span)]
    if options.terms:
        matched = []
        for cand in filtered:
            cand.score = score_text(options.terms, span_text(cand.span, cand.summary))
            if cand.score > 0:
                matched.append(cand)
        if options.deep:
            matched.extend(_deep_scan([c for c in filtered if c.score == 0], options, cache))
        primary = _ordered(matched, by_score=True)[: options.limit_spans]
    else:
        primary = _ordered(filtered, by_score=False)[: options.limit_spans]
    if options.connected and options.neighbor_hops > 0 and primary:
        primary += _neighbours(candidates, primary, options)
    return primary


def _deep_scan(pool: list[Candidate], options: RecallOptions, cache: ArtifactCache) -> list[Candidate]:
    found: list[Candidate] = []
    for cand in _ordered(pool, by_score=False)[: options.deep_limit_spans]:
        messages = _archive_messages(cache.get(cand.artifact_id), options.deep_limit_messages_per_span)
        seen_terms: set[str] = set()
        for message in messages:
            text = message_text(message).lower()
            terms = {t for t in options.terms if t in text}
            if terms:
                seen_terms |= terms
                cand.hits.append(message)
        if seen_terms:
            cand.score = len(seen_terms)
            found.append(cand)
    return found


def _neighbours(
    candidates: list[Candidate], primary: list[Candidate], options: RecallOptions
) -> list[Candidate]:
    chosen = {id(c) for c in primary}
    frontier = list(primary)
    added: list[Candidate] = []
    for _ in range(options.neighbor_hops):
        wanted = {
            (k, v) for c in frontier for k in options.connect_by for v in tag_values(c.span.get("tags"), k)
        }
        if not wanted:
            break
        frontier = []
        for cand in _ordered(candidates, by_score=False):
            if id(cand) in chosen or len(added) >= options.limit_spans:
                continue
            link = next(
                (
                    f"{k}={v}"
                    for k in options.connect_by
                    for v in tag_values(cand.span.get("tags"), k)
                    if (k, v) in wanted
                ),
                None,
            )
            if link is not None:
                cand.via = link
                chosen.add(id(cand))
                frontier.append(cand)
                added.append(cand)
    return added


def span_meta(cand: Candidate, *, with_score: bool) -> dict[str, Any]:
    """The meta entry of one result: the span plus ``span_id``, ``span_index``, owner, scope and search data."""
    entry = dict(cand.span)
    entry.update(
        span_id=cand.artifact_id,
        span_index=cand.index + 1,
        owner_run_id=cand.owner_run_id,
        scope=cand.scope,
    )
    if cand.summary:
        entry["summary"] = cand.summary
    if with_score:
        entry["score"] = cand.score
    if cand.hits:
        entry["deep_hits"] = len(cand.hits)
    if cand.via:
        entry["connected_via"] = cand.via
    return entry


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MESSAGE_CHARS else flat[: _MESSAGE_CHARS - 1] + "…"


def render_results(
    results: list[Candidate], cache: ArtifactCache, *, max_messages: int, scopes: list[str]
) -> str:
    """A plain-text recall report for an LLM or a person (see the module docstring)."""
    if not results:
        return f"No matching memory spans (scope: {', '.join(scopes)})."
    lines = [f"Recalled {len(results)} memory span(s) (scope: {', '.join(scopes)})."]
    budget = max(max_messages, 0)
    for number, cand in enumerate(results, start=1):
        span = cand.span
        head = f"[{number}] span_id={cand.artifact_id or cand.index + 1} kind={span.get('kind')} scope={cand.scope}"
        moment = span_time(span)
        if moment is not None:
            head += f" at={moment.isoformat()}"
        tags = span.get("tags")
        if isinstance(tags, dict) and tags:
            head += " tags=" + ", ".join(f"{k}={v}" for k in tags for v in as_str_list(tags[k]))
        if cand.via:
            head += f" (connected via {cand.via})"
        lines.append(head)
        budget = _render_body(lines, cand, cache, budget)
    return "\n".join(lines)


def _render_body(lines: list[str], cand: Candidate, cache: ArtifactCache, budget: int) -> int:
    span = cand.span
    kind = span.get("kind")
    if kind == "memory_note":
        data = cache.get(cand.artifact_id)
        note = data.get("note") if isinstance(data, dict) else None
        lines.append(
            f"    note: {_clip(note if isinstance(note, str) else str(span.get('note_preview') or ''))}"
        )
        if span.get("location"):
            lines.append(f"    location: {span['location']}")
        return budget
    if kind == "evidence":
        details = [f"{k}={span[k]}" for k in ("tool_name", "url", "query", "command_preview") if span.get(k)]
        lines.append("    evidence: " + " ".join(details))
        return budget
    if cand.summary:
        lines.append(f"    summary: {_clip(cand.summary)}")
    messages = cand.hits or (_archive_messages(cache.get(cand.artifact_id)) if budget > 0 else [])
    shown = messages[:budget]
    if shown:
        lines.append("    messages:" if not cand.hits else "    matching messages:")
        for message in shown:
            stamp = message.get("timestamp")
            prefix = f"[{stamp}] " if isinstance(stamp, str) else ""
            lines.append(f"      - {prefix}{message.get('role')}: {_clip(message_text(message))}")
    return budget - len(shown)
