"""The MEMORY_KG_* effect handlers over a TripleStore (SPEC §11.7): :func:`build_memory_kg_effect_handlers`.

Scopes map to owner run ids like the other memory effects (SPEC §4.9): ``run`` (the current run, the
default), ``session`` (``session_memory_<sid>``) and ``global`` (``global_memory``); ``payload.owner_id``
overrides the scope.  Queries and resolves also accept ``scope="all"`` (run, session and global).  Results
are flat dicts (the node outputs read them directly):

* ASSERT (``assertions``/``triples``/``items``, ``scope``, ``owner_id``, ``span_id``,
  ``attributes_defaults``, ``dedupe`` (default true), ``allow_custom_predicates`` (accepted; there is no
  predicate registry here, every predicate is allowed)) ->
  ``{ok, count, assertion_ids, owner_id, scope}``; a ``span_id`` goes into each item's ``provenance``
  and ``attributes_defaults`` under its ``attributes``.  Invalid items -> ``{ok: False, error, count: 0}``.
* QUERY (``subject``, ``predicate``, ``object``, ``since``, ``until``, ``active_at``, ``query_text``,
  ``limit``, ``min_score``, ``order``, ``recall_level``, ``max_input_tokens``) ->
  ``{ok, count, items, packets, packed_count, dropped, estimated_tokens, active_memory_text, owner_ids,
  scope}``.  ``limit`` defaults by ``recall_level`` (urgent 10, standard 40, deep 200).  ``packets`` are
  the leading items whose lines fit ``max_input_tokens`` (4 characters a token; no budget: all);
  ``active_memory_text`` is ``"## KG ACTIVE MEMORY"`` followed by one ``- subject predicate object``
  line per packet ("" when there is none).
* RESOLVE (``label`` (required), ``expected_type``, ``max_candidates`` (5), ``min_score``,
  ``include_semantic`` (ignored: no embeddings here)) -> ``{ok, count, candidates: [{id, label, score,
  types}]}``: subjects whose subject id or a value of theirs shares words with ``label``, scored by the
  share of the label's words matched; ``expected_type`` keeps subjects with a matching ``rdf:type``/``type``.

A bad scope or a store error fails the effect (no silent empty memory).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...core.effects.memory_scopes import resolve_owner
from ...core.models import Effect, EffectType, RunState
from ...core.outcome import EffectOutcome
from ...errors import InvalidRecordError
from .triple_store import assertion_text, words

__all__ = ["build_memory_kg_effect_handlers", "resolve_scope_owner_id"]

Handler = Callable[[RunState, Effect, "str | None"], EffectOutcome]
_LEVEL_LIMITS = {"urgent": 10, "standard": 40, "deep": 200}
_TYPE_PREDICATES = frozenset({"rdf:type", "type", "a", "schema:type"})
ACTIVE_MEMORY_HEADER = "## KG ACTIVE MEMORY"


def resolve_scope_owner_id(run: RunState, *, scope: str | None, run_store: Any) -> str:
    """The owner run id of memory ``scope`` (run/session/global) as seen from ``run``.

    Raises:
        ValueError: an unknown scope.
    """
    return resolve_owner(run, scope, run_store).run_id


def _owner_ids(run: RunState, payload: Mapping[str, Any], run_store: Any) -> list[str]:
    owner = payload.get("owner_id")
    if isinstance(owner, str) and owner.strip():
        return [owner.strip()]
    scope = str(payload.get("scope") or "run").strip().lower()
    if scope == "all":
        return list(
            dict.fromkeys(resolve_owner(run, s, run_store).run_id for s in ("run", "session", "global"))
        )
    return [resolve_scope_owner_id(run, scope=scope, run_store=run_store)]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _assertions(payload: Mapping[str, Any]) -> list[Any]:
    for key in ("assertions", "triples", "items"):
        value = payload.get(key)
        if isinstance(value, Mapping) and isinstance(value.get("assertions"), list):
            value = value["assertions"]
        if isinstance(value, list):
            return value
        if isinstance(value, Mapping):
            return [value]
    return []


def _prepared(payload: Mapping[str, Any]) -> list[Any]:
    defaults = payload.get("attributes_defaults")
    span_id = _str(payload, "span_id")
    scope = _str(payload, "scope")
    items: list[Any] = []
    for raw in _assertions(payload):
        if not isinstance(raw, Mapping):
            items.append(raw)
            continue
        item = dict(raw)
        if isinstance(defaults, Mapping) and defaults:
            attributes = item.get("attributes")
            item["attributes"] = {**defaults, **(attributes if isinstance(attributes, Mapping) else {})}
        if span_id:
            provenance = item.get("provenance")
            item["provenance"] = {
                "span_id": span_id,
                **(provenance if isinstance(provenance, Mapping) else {}),
            }
        if scope:
            item.setdefault("scope", scope)
        items.append(item)
    return items


def _line(item: Mapping[str, Any]) -> str:
    return f"- {assertion_text(item)}"


def _pack(items: list[dict[str, Any]], budget: float | None) -> tuple[list[dict[str, Any]], int]:
    packets: list[dict[str, Any]] = []
    used = len(ACTIVE_MEMORY_HEADER) // 4 + 1
    for item in items:
        cost = len(_line(item)) // 4 + 1
        if budget is not None and budget > 0 and used + cost > budget:
            break
        packets.append(item)
        used += cost
    return packets, used if packets else 0


def build_memory_kg_effect_handlers(
    *, store: Any, run_store: Any, now_iso: Callable[[], str]
) -> dict[EffectType, Handler]:
    """``{MEMORY_KG_ASSERT, MEMORY_KG_QUERY, MEMORY_KG_RESOLVE}`` handlers over ``store``.

    Args:
        store: a TripleStore: ``add(assertions, *, owner_id, observed_at, dedupe) -> [ids]`` and
            ``query(*, owner_ids, subject, predicate, object, since, until, active_at, query_text,
            min_score, limit, order) -> [items]``, such as :class:`~.triple_store.SqliteTripleStore`.
        run_store: the runtime's run store (resolves the session scope of legacy runs).
        now_iso: the clock, returning an ISO-8601 time (the default ``observed_at``).

    Returns:
        Handlers ``(run, effect, default_next_node) -> EffectOutcome`` (see the module docstring).
    """

    def kg_assert(run: RunState, effect: Effect, default_next_node: str | None = None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        try:
            owners = _owner_ids(run, payload, run_store)
            ids = store.add(
                _prepared(payload),
                owner_id=owners[0],
                observed_at=now_iso(),
                dedupe=payload.get("dedupe") is not False,
            )
        except InvalidRecordError as exc:
            return EffectOutcome.completed({"ok": False, "error": str(exc), "count": 0, "assertion_ids": []})
        except ValueError as exc:
            return EffectOutcome.failed(f"memory_kg_assert: {exc}", retryable=False)
        scope = str(payload.get("scope") or "run")
        return EffectOutcome.completed(
            {"ok": True, "count": len(ids), "assertion_ids": ids, "owner_id": owners[0], "scope": scope}
        )

    def kg_query(run: RunState, effect: Effect, default_next_node: str | None = None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        level = str(payload.get("recall_level") or "standard").strip().lower()
        limit = _number(payload.get("limit"))
        try:
            owners = _owner_ids(run, payload, run_store)
            items = store.query(
                owner_ids=owners,
                subject=_str(payload, "subject"),
                predicate=_str(payload, "predicate"),
                object=_str(payload, "object"),
                since=_str(payload, "since"),
                until=_str(payload, "until"),
                active_at=_str(payload, "active_at"),
                query_text=_str(payload, "query_text"),
                min_score=_number(payload.get("min_score")),
                limit=int(limit) if limit else _LEVEL_LIMITS.get(level, _LEVEL_LIMITS["standard"]),
                order=str(payload.get("order") or "desc"),
            )
        except ValueError as exc:
            return EffectOutcome.failed(f"memory_kg_query: {exc}", retryable=False)
        packets, tokens = _pack(items, _number(payload.get("max_input_tokens")))
        text = "\n".join([ACTIVE_MEMORY_HEADER, *(_line(p) for p in packets)]) if packets else ""
        return EffectOutcome.completed(
            {
                "ok": True,
                "count": len(items),
                "items": items,
                "packets": packets,
                "packed_count": len(packets),
                "dropped": len(items) - len(packets),
                "estimated_tokens": tokens,
                "active_memory_text": text,
                "owner_ids": owners,
                "scope": str(payload.get("scope") or "run"),
            }
        )

    def kg_resolve(run: RunState, effect: Effect, default_next_node: str | None = None) -> EffectOutcome:
        payload = effect.payload if isinstance(effect.payload, dict) else {}
        label = _str(payload, "label")
        if label is None:
            return EffectOutcome.completed(
                {"ok": False, "error": "memory_kg_resolve needs a label", "count": 0, "candidates": []}
            )
        try:
            items = store.query(owner_ids=_owner_ids(run, payload, run_store))
        except ValueError as exc:
            return EffectOutcome.failed(f"memory_kg_resolve: {exc}", retryable=False)
        candidates = _candidates(
            items, label, _str(payload, "expected_type"), _number(payload.get("min_score"))
        )
        wanted = _number(payload.get("max_candidates"))
        candidates = candidates[: int(wanted) if wanted and wanted > 0 else 5]
        return EffectOutcome.completed({"ok": True, "count": len(candidates), "candidates": candidates})

    return {
        EffectType.MEMORY_KG_ASSERT: kg_assert,
        EffectType.MEMORY_KG_QUERY: kg_query,
        EffectType.MEMORY_KG_RESOLVE: kg_resolve,
    }


def _candidates(
    items: list[dict[str, Any]], label: str, expected_type: str | None, min_score: float | None
) -> list[dict[str, Any]]:
    wanted = words(label)
    by_subject: dict[str, dict[str, Any]] = {}
    for item in items:
        subject = str(item.get("subject"))
        entry = by_subject.setdefault(subject, {"id": subject, "label": None, "score": 0.0, "types": []})
        obj = str(item.get("object"))
        if str(item.get("predicate")).lower() in _TYPE_PREDICATES:
            entry["types"].append(obj)
            continue
        for text in (subject, obj):
            score = len(wanted & words(text)) / len(wanted) if wanted else 0.0
            if score > entry["score"]:
                entry["score"], entry["label"] = round(score, 4), (obj if text == obj else subject)
    floor = min_score if min_score is not None else 0.0
    found = [
        e
        for e in by_subject.values()
        if e["score"] > 0
        and e["score"] >= floor
        and (expected_type is None or any(_same_type(t, expected_type) for t in e["types"]))
    ]
    found.sort(key=lambda e: -float(e["score"]))
    return found


def _same_type(value: str, expected: str) -> bool:
    a, b = value.strip().lower(), expected.strip().lower()
    return a == b or a.rsplit(":", 1)[-1] == b.rsplit(":", 1)[-1]
