"""Finding runs like a person: filters, ages, human workflow names and trees for ``runs list``.

Ordering is stable for paging: newest ``created_at`` first, then ``run_id`` (a run's place never moves as
it progresses, unlike ordering by ``updated_at``), so ``--offset 20 --limit 20`` continues ``--limit 20``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from abstractruntime.core.models import RunState, RunStatus, WaitReason

from .app import EXIT_USAGE, CliError, runtime_ns

__all__ = ["RunFilter", "age_text", "parse_duration", "select_runs", "tree_order", "workflow_names"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str, option: str) -> timedelta:
    """``"90s"``, ``"30m"``, ``"2h"``, ``"30d"``, ``"1w"`` -> a timedelta.

    Raises:
        CliError: not a number followed by s/m/h/d/w (exit 2).
    """
    match = _DURATION.match(text or "")
    if match is None:
        raise CliError(
            f"{option} expects a duration such as 90s, 30m, 2h, 30d or 1w, got {text!r}", EXIT_USAGE
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])


def parse_iso(text: str | None) -> datetime | None:
    """A stored ISO-8601 timestamp as an aware UTC datetime (None when missing or unreadable)."""
    if not text or not isinstance(text, str):  # a damaged row may hold anything
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def age_text(created_at: str | None, now: datetime) -> str:
    """How long ago ``created_at`` was, in the largest whole unit (``"42s"``, ``"5m"``, ``"3h"``, ``"2d"``)."""
    when = parse_iso(created_at)
    if when is None:
        return "?"
    seconds = max(0.0, (now - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


@dataclass
class RunFilter:
    """The ``runs list`` filters; None/empty means "any"."""

    status: RunStatus | None = None
    wait_reason: WaitReason | None = None
    workflow_id: str | None = None
    session_id: str | None = None
    parent_run_id: str | None = None
    since: timedelta | None = None
    waiting_text: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def matches(self, state: RunState) -> bool:
        """True when ``state`` passes every filter (``waiting_text``: case-insensitive, in the prompt)."""
        if self.session_id is not None and state.session_id != self.session_id:
            return False
        if self.parent_run_id is not None and state.parent_run_id != self.parent_run_id:
            return False
        if self.since is not None:
            created = parse_iso(state.created_at)
            if created is None or created < self.now - self.since:
                return False
        if self.waiting_text is not None:
            wait = state.waiting
            prompt = str(wait.prompt or "") if wait is not None and state.status == RunStatus.WAITING else ""
            if self.waiting_text.lower() not in prompt.lower():
                return False
        return True


def select_runs(run_store: Any, flt: RunFilter, *, limit: int, offset: int) -> tuple[list[RunState], int]:
    """The page ``[offset, offset + limit)`` of matching runs in stable order, and how many match in all."""
    states = run_store.list_runs(
        status=flt.status, wait_reason=flt.wait_reason, workflow_id=flt.workflow_id, limit=2**62
    )
    matching = [s for s in states if flt.matches(s)]
    matching.sort(key=lambda s: (str(s.created_at or ""), str(s.run_id)), reverse=True)  # damaged rows too
    return matching[offset : offset + limit], len(matching)


def tree_order(states: list[RunState]) -> list[tuple[int, RunState]]:
    """``states`` as (depth, state) rows with each child right under its parent (when both are listed)."""
    by_id = {s.run_id: s for s in states}
    children: dict[str, list[RunState]] = {}
    roots: list[RunState] = []
    for state in states:
        parent = state.parent_run_id
        if parent and parent in by_id and parent != state.run_id:
            children.setdefault(parent, []).append(state)
        else:
            roots.append(state)
    rows: list[tuple[int, RunState]] = []
    seen: set[str] = set()

    def walk(state: RunState, depth: int) -> None:
        if state.run_id in seen:
            return
        seen.add(state.run_id)
        rows.append((depth, state))
        for child in sorted(
            children.get(state.run_id, []), key=lambda s: (str(s.created_at or ""), str(s.run_id))
        ):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    for state in states:  # parent cycles: still list every run once
        walk(state, 0)
    return rows


def _flow_names(path: Path) -> dict[str, str]:
    """``{flow id: name}`` of a VisualFlow file and the JSON flows beside it (subflows)."""
    names: dict[str, str] = {}
    for candidate in [path, *sorted(path.parent.glob("*.json"))]:
        try:
            raw = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(raw, dict) and isinstance(raw.get("id"), str) and isinstance(raw.get("name"), str):
            names.setdefault(raw["id"], raw["name"] or raw["id"])
    return names


def workflow_names(states: list[RunState], run_store: Any) -> dict[str, str]:
    """``{run_id: human workflow name}``: the VisualFlow ``name`` of CLI runs of a ``.json`` TARGET (child
    runs use their root's target), else the ``workflow_id``."""
    cache: dict[str, dict[str, str]] = {}
    out: dict[str, str] = {}
    for state in states:
        target = _cli_target(state, run_store)
        names: dict[str, str] = {}
        if target and target.endswith(".json"):
            if target not in cache:
                cache[target] = _flow_names(Path(target))
            names = cache[target]
        out[state.run_id] = names.get(state.workflow_id) or state.workflow_id
    return out


def _cli_target(state: RunState, run_store: Any) -> str | None:
    seen: set[str] = set()
    current: RunState | None = state
    while current is not None and current.run_id not in seen:
        seen.add(current.run_id)
        target = runtime_ns(current).get("cli_target")
        if isinstance(target, str):
            return target
        current = run_store.load(current.parent_run_id) if current.parent_run_id else None
    return None
