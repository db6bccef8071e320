"""Core data models: runs, waits, step plans, effects and ledger records (SPEC §2).

Everything here is a stdlib dataclass or a ``str`` enum, so a member compares equal to its value
(``RunStatus.WAITING == "waiting"``) and ``json.dumps`` writes the value.  The persisted JSON shape of a
:class:`RunState` has exactly the 13 keys of SPEC §2.3 and a ledger record is ``asdict(StepRecord)``;
:meth:`RunState.to_dict` / :meth:`RunState.from_dict` produce and read that shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from ..errors import CorruptRunError
from .clock import utc_now_iso

__all__ = [
    "Effect",
    "EffectType",
    "LimitWarning",
    "RunState",
    "RunStatus",
    "StepPlan",
    "StepRecord",
    "StepStatus",
    "WaitReason",
    "WaitState",
    "TERMINAL_STATUSES",
    "new_id",
]


def new_id() -> str:
    """A random uuid4 as its canonical 36-character string (what ``str(uuid.uuid4())`` gives: 16 bytes of
    ``os.urandom`` with the version nibble set to 4 and the RFC 4122 variant bits), built faster."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # hex digit -> digit with bits 10xx


class RunStatus(str, Enum):
    """Lifecycle status of a run."""

    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})


class WaitReason(str, Enum):
    """Why a WAITING run is blocked."""

    EVENT = "event"
    UNTIL = "until"
    USER = "user"
    JOB = "job"
    SUBWORKFLOW = "subworkflow"


class StepStatus(str, Enum):
    """Status of one ledger record."""

    STARTED = "started"
    COMPLETED = "completed"
    WAITING = "waiting"
    FAILED = "failed"


class EffectType(str, Enum):
    """The side effects a node can request (the 18 values of SPEC §2.1)."""

    WAIT_EVENT = "wait_event"
    WAIT_UNTIL = "wait_until"
    ASK_USER = "ask_user"
    ANSWER_USER = "answer_user"
    EMIT_EVENT = "emit_event"
    LLM_CALL = "llm_call"
    MODEL_RESIDENCY = "model_residency"
    TOOL_CALLS = "tool_calls"
    MEMORY_QUERY = "memory_query"
    MEMORY_TAG = "memory_tag"
    MEMORY_COMPACT = "memory_compact"
    MEMORY_NOTE = "memory_note"
    MEMORY_REHYDRATE = "memory_rehydrate"
    MEMORY_KG_ASSERT = "memory_kg_assert"
    MEMORY_KG_QUERY = "memory_kg_query"
    MEMORY_KG_RESOLVE = "memory_kg_resolve"
    VARS_QUERY = "vars_query"
    START_SUBWORKFLOW = "start_subworkflow"


@dataclass(frozen=True)
class Effect:
    """A side-effect request returned by a node.

    Args:
        type: what to do.
        payload: JSON-safe arguments of the effect (keys depend on the type, SPEC §4.9).
        result_key: dotted vars path where the effect result is written (None: not stored).
    """

    type: EffectType
    payload: dict[str, Any] = field(default_factory=dict)
    result_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ledger shape ``{"type": <value>, "payload": ..., "result_key": ...}``."""
        kind = self.type
        value = kind._value_ if type(kind) is EffectType else EffectType(kind).value
        return {"type": value, "payload": self.payload, "result_key": self.result_key}


@dataclass(frozen=True)
class StepPlan:
    """What a node handler decided: complete, request an effect, or move on.

    ``complete_output`` wins over ``effect``; a plan with neither effect nor ``next_node`` is an error.
    ``node_id`` should be the handler's own node id: ledger records, traces and idempotency keys use it.
    """

    node_id: str
    effect: Effect | None = None
    next_node: str | None = None
    complete_output: dict[str, Any] | None = None


@dataclass
class WaitState:
    """Why and how a WAITING run waits, and where its resume payload goes.

    ``until`` is a UTC ISO-8601 timestamp (UNTIL waits); ``resume_to_node`` None means a terminal wait
    (resuming completes the run); ``result_key`` is the dotted vars path receiving the resume payload.
    """

    reason: WaitReason
    wait_key: str | None = None
    until: str | None = None
    resume_to_node: str | None = None
    result_key: str | None = None
    prompt: str | None = None
    choices: list[str] | None = None
    allow_free_text: bool = True
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The 9-key persisted shape, with ``reason`` as its string value."""
        return {
            "reason": WaitReason(self.reason).value,
            "wait_key": self.wait_key,
            "until": self.until,
            "resume_to_node": self.resume_to_node,
            "result_key": self.result_key,
            "prompt": self.prompt,
            "choices": self.choices,
            "allow_free_text": self.allow_free_text,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WaitState:
        """Rebuild a WaitState; ``allow_free_text`` defaults to True.

        Raises:
            ValueError: ``reason`` is missing or not a WaitReason value.
        """
        reason = data.get("reason")
        if reason is None:
            raise ValueError("waiting.reason is missing")
        allow = data.get("allow_free_text")
        return cls(
            reason=WaitReason(reason),
            wait_key=data.get("wait_key"),
            until=data.get("until"),
            resume_to_node=data.get("resume_to_node"),
            result_key=data.get("result_key"),
            prompt=data.get("prompt"),
            choices=data.get("choices"),
            allow_free_text=True if allow is None else bool(allow),
            details=data.get("details"),
        )


_RUN_KEYS = (
    "run_id",
    "workflow_id",
    "status",
    "current_node",
    "vars",
    "waiting",
    "output",
    "error",
    "created_at",
    "updated_at",
    "actor_id",
    "session_id",
    "parent_run_id",
)


@dataclass(slots=True)
class RunState:
    """The durable state of one run: where it is, its vars, and what it waits for.

    ``vars`` must stay JSON-safe.  Timestamps are UTC ISO-8601 strings.
    """

    run_id: str
    workflow_id: str
    status: RunStatus
    current_node: str
    vars: dict[str, Any] = field(default_factory=dict)
    waiting: WaitState | None = None
    output: dict[str, Any] | None = None
    error: str | None = None
    created_at: str = field(default_factory=utc_now_iso)
    updated_at: str = field(default_factory=utc_now_iso)
    actor_id: str | None = None
    session_id: str | None = None
    parent_run_id: str | None = None

    @classmethod
    def new(
        cls,
        *,
        workflow_id: str,
        entry_node: str,
        actor_id: str | None = None,
        session_id: str | None = None,
        vars: dict[str, Any] | None = None,
        parent_run_id: str | None = None,
    ) -> RunState:
        """A new RUNNING run at ``entry_node`` with a fresh uuid4 ``run_id``."""
        return cls(
            run_id=new_id(),
            workflow_id=workflow_id,
            status=RunStatus.RUNNING,
            current_node=entry_node,
            vars=dict(vars or {}),
            actor_id=actor_id,
            session_id=session_id,
            parent_run_id=parent_run_id,
        )

    @property
    def is_terminal(self) -> bool:
        """True when the run is COMPLETED, FAILED or CANCELLED."""
        return self.status in TERMINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """The persisted JSON object (exactly the 13 keys of SPEC §2.3).

        Nested values (``vars``, ``output``) are shared, not copied: serialise the result before
        mutating the run again.
        """
        return {
            "run_id": self.run_id,
            "workflow_id": self.workflow_id,
            "status": RunStatus(self.status).value,
            "current_node": self.current_node,
            "vars": self.vars,
            "waiting": None if self.waiting is None else self.waiting.to_dict(),
            "output": self.output,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "actor_id": self.actor_id,
            "session_id": self.session_id,
            "parent_run_id": self.parent_run_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        """Rebuild a RunState from its persisted JSON object.

        Raises:
            CorruptRunError (a ValueError): a required key is missing or a value is invalid,
                including a wait without ``reason``.
        """
        if not isinstance(data, dict):
            raise CorruptRunError(f"run data must be a JSON object, got {type(data).__name__}")
        run_id = data.get("run_id")
        run_vars = data.get("vars")
        if run_vars is not None and not isinstance(run_vars, dict):
            raise CorruptRunError(
                f"run vars must be a JSON object, got {type(run_vars).__name__}", run_id=run_id
            )
        try:
            waiting = data.get("waiting")
            return cls(
                run_id=data["run_id"],
                workflow_id=data["workflow_id"],
                status=RunStatus(data["status"]),
                current_node=data["current_node"],
                vars=run_vars or {},
                waiting=None if waiting is None else WaitState.from_dict(waiting),
                output=data.get("output"),
                error=data.get("error"),
                created_at=data.get("created_at") or utc_now_iso(),
                updated_at=data.get("updated_at") or utc_now_iso(),
                actor_id=data.get("actor_id"),
                session_id=data.get("session_id"),
                parent_run_id=data.get("parent_run_id"),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise CorruptRunError(f"invalid run data: {exc!r}", run_id=run_id) from exc


@dataclass(slots=True)
class StepRecord:
    """One append-only ledger entry (SPEC §2.2, §4.5).

    An executed effect attempt is appended twice with the same ``step_id``: once STARTED, once with
    its end status.  Timestamps are UTC ISO-8601 strings.
    """

    run_id: str
    step_id: str
    node_id: str
    status: StepStatus
    effect: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    started_at: str = field(default_factory=utc_now_iso)
    ended_at: str | None = None
    actor_id: str | None = None
    session_id: str | None = None
    attempt: int = 1
    idempotency_key: str | None = None
    prev_hash: str | None = None
    record_hash: str | None = None
    signature: str | None = None

    @classmethod
    def start(
        cls,
        *,
        run: RunState,
        node_id: str,
        effect: Effect | None,
        attempt: int = 1,
        idempotency_key: str | None = None,
        now: str | None = None,
    ) -> StepRecord:
        """A STARTED record with a new uuid4 ``step_id`` (``now``: ISO start time, default the clock)."""
        return cls(  # positional: run_id, step_id, node_id, status, effect, result, error, started_at,
            # ended_at, actor_id, session_id, attempt, idempotency_key
            run.run_id,
            new_id(),
            node_id,
            StepStatus.STARTED,
            None if effect is None else effect.to_dict(),
            None,
            None,
            now or utc_now_iso(),
            None,
            run.actor_id,
            run.session_id,
            attempt,
            idempotency_key,
        )

    def finish_success(self, result: dict[str, Any] | None, *, now: str | None = None) -> StepRecord:
        """Mark COMPLETED with ``result``; mutates and returns the record."""
        self.status = StepStatus.COMPLETED
        self.result = result
        self.ended_at = now or utc_now_iso()
        return self

    def finish_waiting(self, wait: WaitState) -> StepRecord:
        """Mark WAITING with ``result = {"wait": <the 9 WaitState fields>}``; mutates and returns it."""
        self.status = StepStatus.WAITING
        self.result = {"wait": wait.to_dict()}
        return self

    def finish_failure(self, error: str, *, now: str | None = None) -> StepRecord:
        """Mark FAILED with ``error``; mutates and returns the record."""
        self.status = StepStatus.FAILED
        self.error = error
        self.ended_at = now or utc_now_iso()
        return self

    def snapshot(self) -> StepRecord:
        """A copy frozen at this moment, so the same logical record can be appended twice (STARTED,
        then its end).  Shallow: ``finish_*`` and hash chaining rebind fields, they never mutate the
        nested ``effect``/``result`` dicts in place."""
        return type(self)(
            self.run_id,
            self.step_id,
            self.node_id,
            self.status,
            self.effect,
            self.result,
            self.error,
            self.started_at,
            self.ended_at,
            self.actor_id,
            self.session_id,
            self.attempt,
            self.idempotency_key,
            self.prev_hash,
            self.record_hash,
            self.signature,
        )

    def to_dict(self) -> dict[str, Any]:
        """The ledger line shape (the keys and values of ``asdict(record)``, status as its string).

        Nested ``effect``/``result`` dicts are shared, not copied: encode or copy before mutating them.
        """
        return {
            "run_id": self.run_id,
            "step_id": self.step_id,
            "node_id": self.node_id,
            "status": status._value_
            if type(status := self.status) is StepStatus
            else StepStatus(status).value,
            "effect": self.effect,
            "result": self.result,
            "error": self.error,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "actor_id": self.actor_id,
            "session_id": self.session_id,
            "attempt": self.attempt,
            "idempotency_key": self.idempotency_key,
            "prev_hash": self.prev_hash,
            "record_hash": self.record_hash,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        """Rebuild a record from its ledger dict (unknown keys are ignored).

        Raises:
            CorruptRunError: required keys are missing or the status is unknown.
        """
        known = {f.name for f in fields(cls)}
        try:
            kwargs = {k: v for k, v in data.items() if k in known}
            kwargs["status"] = StepStatus(kwargs["status"])
            return cls(**kwargs)
        except (KeyError, ValueError, TypeError) as exc:
            raise CorruptRunError(f"invalid ledger record: {exc!r}", run_id=data.get("run_id")) from exc


@dataclass
class LimitWarning:
    """A limit that is close to or past its maximum (``pct`` is computed from current/maximum)."""

    limit_type: str
    status: str
    current: int
    maximum: int
    pct: float = 0.0

    def __post_init__(self) -> None:
        if self.maximum > 0:
            self.pct = round(self.current / self.maximum * 100, 1)
