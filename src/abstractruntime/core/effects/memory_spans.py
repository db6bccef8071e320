"""The span index ``vars._runtime.memory_spans`` (SPEC §5.2) and the metadata filters over it.

A span is a dict with a ``kind`` (``conversation_span``, ``memory_note`` or ``evidence``), the
``artifact_id`` of its archived content, timestamps (``created_at``, ``from_timestamp``,
``to_timestamp``) and optional ``tags``, ``location`` and ``created_by``.  Span ids, wherever a caller
passes them, are artifact ids or 1-based indexes into the stored list.

Tags are a dict ``{key: value}`` whose keys are lower-cased and whose value is a string or a list of
strings.  Input may also be a list (or a comma-separated string) of ``"key=value"`` / ``"key:value"``
items; a bare word goes under the key ``tag``.  Matching is case-insensitive; a wanted value of ``"*"``
only requires the key.

Times are compared as datetimes (``Z`` accepted), as closed intervals: a span ``[from, to]`` matches a
range ``[start, end]`` when they intersect.  A span without timestamps never matches a bounded range.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..clock import parse_iso
from ..models import RunState
from .memory_common import as_str_list, runtime_namespace

__all__ = [
    "SpanFilter",
    "SpanRef",
    "get_memory_spans",
    "newest_first",
    "normalize_tags",
    "parse_time",
    "query_terms",
    "ranges_intersect",
    "resolve_span_refs",
    "score_text",
    "span_text",
    "span_time",
    "tag_values",
]

# fmt: off
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from", "has",
    "have", "how", "i", "in", "is", "it", "me", "my", "of", "on", "or", "our", "that", "the",
    "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "why", "with",
    "you", "your",
})
# fmt: on


def get_memory_spans(run: RunState, *, create: bool = False) -> list[Any]:
    """The live ``_runtime.memory_spans`` list of ``run`` (``[]`` when absent; created when ``create``)."""
    runtime_ns = run.vars.get("_runtime")
    spans = runtime_ns.get("memory_spans") if isinstance(runtime_ns, dict) else None
    if isinstance(spans, list):
        return spans
    if not create:
        return []
    spans = []
    runtime_namespace(run)["memory_spans"] = spans
    return spans


# -- tags --------------------------------------------------------------------------------------------
def _add_tag(out: dict[str, list[str]], key: str, value: Any) -> None:
    key = key.strip().lower()
    if not key:
        return
    for item in as_str_list(value if isinstance(value, (list, tuple)) else [value]):
        bucket = out.setdefault(key, [])
        if item not in bucket:
            bucket.append(item)


def normalize_tags(value: Any) -> dict[str, Any]:
    """Tags in stored form: ``{lower-cased key: str | list[str]}`` (empty values dropped)."""
    collected: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if item is not None and not isinstance(item, dict):
                _add_tag(collected, str(key), item if not isinstance(item, bool) else str(item).lower())
    else:
        for text in as_str_list(value.split(",") if isinstance(value, str) else value):
            match = re.match(r"^([^=:]+)[=:](.+)$", text)
            if match:
                _add_tag(collected, match.group(1), match.group(2).strip())
            else:
                _add_tag(collected, "tag", text)
    return {k: (v[0] if len(v) == 1 else v) for k, v in collected.items() if v}


def tag_values(tags: Any, key: str) -> list[str]:
    """The lower-cased values stored under ``key`` in a span's ``tags``."""
    if not isinstance(tags, dict):
        return []
    value = tags.get(key)
    return [v.lower() for v in as_str_list(value)]


def _tags_match(span_tags: Any, wanted: dict[str, Any], mode: str) -> bool:
    if not wanted:
        return True
    results = []
    for key, value in wanted.items():
        have = tag_values(span_tags, key)
        want = [v.lower() for v in as_str_list(value)]
        results.append(bool(have) and ("*" in want or any(w in have for w in want)))
    return any(results) if mode == "any" else all(results)


# -- time --------------------------------------------------------------------------------------------
def parse_time(value: Any) -> datetime | None:
    """``value`` (an ISO string, ``Z`` accepted, or a datetime) as a UTC datetime; None when unusable."""
    if isinstance(value, datetime):
        return parse_iso(value.isoformat())
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def ranges_intersect(range_start: datetime | None, range_end: datetime | None, start: Any, end: Any) -> bool:
    """Closed-interval intersection of ``[range_start, range_end]`` (None: open) and ``[start, end]``.

    A missing ``start`` or ``end`` is taken to equal the other; with both missing the span matches only
    an unbounded range.
    """
    lo, hi = parse_time(start), parse_time(end)
    lo, hi = lo or hi, hi or lo
    if range_start is None and range_end is None:
        return True
    if lo is None or hi is None:
        return False
    if lo > hi:
        lo, hi = hi, lo
    return (range_end is None or lo <= range_end) and (range_start is None or hi >= range_start)


def span_time(span: Any) -> datetime | None:
    """The time a span is sorted by: ``created_at``, else ``to_timestamp``, else ``from_timestamp``."""
    if not isinstance(span, dict):
        return None
    for key in ("created_at", "to_timestamp", "from_timestamp"):
        moment = parse_time(span.get(key))
        if moment is not None:
            return moment
    return None


def newest_first(items: Sequence[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """``(index, span)`` pairs sorted newest first; spans without a time last, later index first."""
    timed = [(i, s) for i, s in items if span_time(s) is not None]
    untimed = [(i, s) for i, s in items if span_time(s) is None]
    timed.sort(key=lambda p: (span_time(p[1]), p[0]), reverse=True)
    untimed.sort(key=lambda p: p[0], reverse=True)
    return timed + untimed


# -- keywords ----------------------------------------------------------------------------------------
def query_terms(query: Any) -> list[str]:
    """The lower-cased keywords of ``query`` (stop words dropped; the whole query when none remain)."""
    if not isinstance(query, str) or not query.strip():
        return []
    words = [w for w in re.findall(r"\w+", query.lower()) if len(w) > 1 and w not in _STOPWORDS]
    return list(dict.fromkeys(words)) or [query.strip().lower()]


def score_text(terms: Sequence[str], text: str) -> int:
    """How many distinct ``terms`` occur in ``text`` (case-insensitive substring match)."""
    lowered = text.lower()
    return sum(1 for term in terms if term in lowered)


def span_text(span: dict[str, Any], summary: str | None = None) -> str:
    """The metadata text a keyword query searches: previews, tags, location, author, tool fields, summary."""
    parts: list[str] = []
    for key in ("note_preview", "location", "created_by", "focus", "tool_name", "url", "query"):
        value = span.get(key)
        if isinstance(value, str):
            parts.append(value)
    if isinstance(span.get("command_preview"), str):
        parts.append(span["command_preview"])
    tags = span.get("tags")
    if isinstance(tags, dict):
        parts.extend(f"{k}={v}" for k in tags for v in as_str_list(tags[k]))
    if summary:
        parts.append(summary)
    return "\n".join(parts)


# -- filters -----------------------------------------------------------------------------------------
@dataclass
class SpanFilter:
    """Metadata filters over spans (all optional; an empty filter matches every span).

    Attributes:
        start, end: the time range (closed; None is open).
        tags: wanted tags (stored form, see :func:`normalize_tags`); ``tags_mode`` ``all`` or ``any``.
        authors: matched against ``created_by`` and the ``author`` tag (case-insensitive).
        locations: matched against ``location`` and the ``location`` tag (case-insensitive).
        kinds: span kinds to keep (empty: all).
    """

    start: datetime | None = None
    end: datetime | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    tags_mode: str = "all"
    authors: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def matches(self, span: Any) -> bool:
        """True when ``span`` passes every filter (keywords are scored separately)."""
        if not isinstance(span, dict):
            return False
        if self.kinds and span.get("kind") not in self.kinds:
            return False
        if not ranges_intersect(
            self.start,
            self.end,
            span.get("from_timestamp") or span.get("created_at"),
            span.get("to_timestamp") or span.get("created_at"),
        ):
            return False
        if not _tags_match(span.get("tags"), self.tags, "any" if self.tags_mode == "any" else "all"):
            return False
        if self.authors and not _any_equal(
            self.authors, [span.get("created_by"), *tag_values(span.get("tags"), "author")]
        ):
            return False
        return not self.locations or _any_equal(
            self.locations, [span.get("location"), *tag_values(span.get("tags"), "location")]
        )


def _any_equal(wanted: Iterable[str], have: Iterable[Any]) -> bool:
    have_set = {str(h).strip().lower() for h in have if isinstance(h, str) and h.strip()}
    return any(w.strip().lower() in have_set for w in wanted)


# -- span ids ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpanRef:
    """One requested span id, resolved against a span list.

    Attributes:
        requested: the id as given (artifact id, or 1-based index as int or digit string).
        artifact_id: the artifact to load, or None when an index is out of range.
        index: 0-based position in the span list, or None when the span is not indexed there.
    """

    requested: str
    artifact_id: str | None
    index: int | None


def resolve_span_refs(span_ids: Any, spans: Sequence[Any]) -> list[SpanRef]:
    """Resolve span ids (artifact ids or 1-based indexes) against ``spans``, keeping their order.

    An artifact id not found in ``spans`` is kept (with ``index`` None): its artifact may still exist.
    Duplicates are dropped.
    """
    raw = span_ids if isinstance(span_ids, (list, tuple)) else [span_ids]
    refs: list[SpanRef] = []
    seen: set[str] = set()
    for item in raw:
        if item is None or isinstance(item, (bool, dict, list)):
            continue
        token = str(item).strip()
        if not token:
            continue
        if isinstance(item, int) or token.isdigit():
            position = int(token) - 1
            span = spans[position] if 0 <= position < len(spans) else None
            artifact = span.get("artifact_id") if isinstance(span, dict) else None
            ref = SpanRef(token, str(artifact) if artifact else None, position if span is not None else None)
        else:
            found = next(
                (i for i, s in enumerate(spans) if isinstance(s, dict) and s.get("artifact_id") == token),
                None,
            )
            ref = SpanRef(token, token, found)
        key = ref.artifact_id or f"#{ref.requested}"
        if key not in seen:
            seen.add(key)
            refs.append(ref)
    return refs
