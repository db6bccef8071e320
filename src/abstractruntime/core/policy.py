"""Retry and idempotency policies for effects (SPEC §6).

An :class:`EffectPolicy` answers three questions for the runtime: how many attempts an effect gets,
how long to wait before attempt ``n + 1``, and which idempotency key identifies the effect.  The key is
what makes re-execution safe: before running an effect, the runtime reuses the result of any COMPLETED
ledger record of the same run with the same key.

The key formula (:func:`compute_idempotency_key`) is::

    sha256(json.dumps({"run_id", "node_id", "effect_type", "effect_payload": P},
                      sort_keys=True, separators=(",", ":"))).hexdigest()[:32]

where ``P`` is a shallow copy of the payload.  For TOOL_CALLS only, ``P`` is canonicalised so that ids
minted by an LLM or by the runtime do not change the key (:func:`canonical_tool_call`,
:func:`normalize_allowed_tools`).  Consequence: a node re-visited with an identical payload gets the
earlier result back; loops that need a fresh execution must vary the payload.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _json_str  # json.dumps(str), ensure_ascii
from typing import Any, Protocol, runtime_checkable

from .models import Effect, EffectType, RunState

__all__ = [
    "DefaultEffectPolicy",
    "EffectPolicy",
    "NoRetryPolicy",
    "RetryPolicy",
    "TOOL_CALL_ID_KEYS",
    "canonical_tool_call",
    "compute_idempotency_key",
    "effect_type_value",
    "normalize_allowed_tools",
    "retry_delay_seconds",
    "DEFAULT_RETRY_AFTER_MAX_S",
]

TOOL_CALL_ID_KEYS: frozenset[str] = frozenset(
    {"call_id", "id", "runtime_call_id", "model_call_id", "idempotency_key"}
)
"""Keys dropped from each tool call before hashing: they identify a call, not what it does."""

IDEMPOTENCY_KEY_LENGTH = 32

DEFAULT_RETRY_AFTER_MAX_S = 300.0
"""The longest wait (seconds) a failed attempt's ``retry_after_s`` (a server's ``Retry-After``) may impose."""


@runtime_checkable
class EffectPolicy(Protocol):
    """How the runtime retries an effect and identifies it (SPEC §6)."""

    def max_attempts(self, effect: Effect) -> int:
        """Total attempts allowed for ``effect`` (1 means no retry)."""
        ...

    def backoff_seconds(self, *, effect: Effect, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (counting from 1)."""
        ...

    def idempotency_key(self, *, run: RunState, node_id: str, effect: Effect) -> str:
        """The key under which a completed execution of ``effect`` is recorded and reused."""
        ...


def effect_type_value(effect_type: object) -> str:
    """The string value of an effect type (``EffectType.LLM_CALL`` or ``"llm_call"`` → ``"llm_call"``).

    Args:
        effect_type: an :class:`EffectType` member or its string value.

    Returns:
        ``EffectType(effect_type).value``; a string that is not an EffectType value is returned as is
        (custom handler types), and anything else as ``str(effect_type)``.
    """
    if isinstance(effect_type, EffectType):
        return effect_type.value
    try:
        return EffectType(effect_type).value
    except ValueError:
        return effect_type if isinstance(effect_type, str) else str(effect_type)


@dataclass
class DefaultEffectPolicy:
    """Exponential backoff with per-effect-type attempt overrides (SPEC §6).

    Attributes:
        default_max_attempts: attempts for effect types without an override.
        default_backoff_base: seconds before the second attempt.
        default_backoff_max: upper bound of any backoff.
        effect_max_attempts: ``{effect type value: attempts}``, for example ``{"llm_call": 3}``.
        retry_after_max_s: cap (seconds) on the wait a server's ``Retry-After`` may ask for
            (:func:`retry_delay_seconds`).
    """

    default_max_attempts: int = 1
    default_backoff_base: float = 1.0
    default_backoff_max: float = 60.0
    effect_max_attempts: dict[str, int] = field(default_factory=dict)
    retry_after_max_s: float = DEFAULT_RETRY_AFTER_MAX_S

    def max_attempts(self, effect: Effect) -> int:
        """The override for ``effect``'s type value, else ``default_max_attempts`` (SPEC §6)."""
        return self.effect_max_attempts.get(effect_type_value(effect.type), self.default_max_attempts)

    def backoff_seconds(self, *, effect: Effect, attempt: int) -> float:
        """``min(base * 2 ** (attempt - 1), max)`` seconds, with ``attempt`` counting from 1 (SPEC §6).

        Args:
            effect: the effect that failed (unused by this policy).
            attempt: the number of the attempt that just failed.

        Returns:
            The delay in seconds (``default_backoff_max`` when the power overflows).
        """
        try:
            delay = float(self.default_backoff_base) * 2.0 ** (attempt - 1)
        except OverflowError:
            return float(self.default_backoff_max)
        return min(delay, float(self.default_backoff_max))

    def idempotency_key(self, *, run: RunState, node_id: str, effect: Effect) -> str:
        """:func:`compute_idempotency_key` for ``run.run_id`` (SPEC §6)."""
        return compute_idempotency_key(run_id=run.run_id, node_id=node_id, effect=effect)


class RetryPolicy(DefaultEffectPolicy):
    """Retries LLM_CALL and TOOL_CALLS; every other effect gets one attempt (SPEC §6).

    Args:
        llm_max_attempts: attempts for ``llm_call``.
        tool_max_attempts: attempts for ``tool_calls``.
        backoff_base: seconds before the second attempt.
        backoff_max: upper bound of any backoff.
        retry_after_max_s: cap (seconds) on the wait a server's ``Retry-After`` may ask for.
    """

    def __init__(
        self,
        *,
        llm_max_attempts: int = 3,
        tool_max_attempts: int = 2,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        retry_after_max_s: float = DEFAULT_RETRY_AFTER_MAX_S,
    ) -> None:
        super().__init__(
            default_max_attempts=1,
            default_backoff_base=backoff_base,
            default_backoff_max=backoff_max,
            effect_max_attempts={
                EffectType.LLM_CALL.value: llm_max_attempts,
                EffectType.TOOL_CALLS.value: tool_max_attempts,
            },
            retry_after_max_s=retry_after_max_s,
        )

    @property
    def llm_max_attempts(self) -> int:
        """Attempts allowed for ``llm_call``."""
        return self.effect_max_attempts.get(EffectType.LLM_CALL.value, self.default_max_attempts)

    @property
    def tool_max_attempts(self) -> int:
        """Attempts allowed for ``tool_calls``."""
        return self.effect_max_attempts.get(EffectType.TOOL_CALLS.value, self.default_max_attempts)


class NoRetryPolicy(DefaultEffectPolicy):
    """Every effect gets exactly one attempt and no backoff (SPEC §6)."""

    def __init__(self) -> None:
        super().__init__(default_max_attempts=1, default_backoff_base=0.0, default_backoff_max=0.0)

    def max_attempts(self, effect: Effect) -> int:
        """Always 1."""
        return 1

    def backoff_seconds(self, *, effect: Effect, attempt: int) -> float:
        """Always 0.0 (never used, since there is no second attempt)."""
        return 0.0


def retry_delay_seconds(
    policy: EffectPolicy, *, effect: Effect, attempt: int, retry_after_s: float | None = None
) -> float:
    """Seconds to wait after failed attempt ``attempt`` when the attempt may ask for a minimum wait (SPEC §6).

    Args:
        policy: the effect policy (its ``backoff_seconds``; its ``retry_after_max_s`` attribute, when it
            has one, caps ``retry_after_s``, else :data:`DEFAULT_RETRY_AFTER_MAX_S`).
        effect: the effect that failed.
        attempt: the number of the attempt that just failed (from 1).
        retry_after_s: the wait the failure asked for (an HTTP ``Retry-After``), or None.

    Returns:
        ``max(backoff, min(retry_after_s, cap))``; just the backoff when ``retry_after_s`` is None,
        negative or not a number.
    """
    backoff = float(policy.backoff_seconds(effect=effect, attempt=attempt))
    if not isinstance(retry_after_s, (int, float)) or isinstance(retry_after_s, bool) or retry_after_s <= 0:
        return backoff
    cap = getattr(policy, "retry_after_max_s", DEFAULT_RETRY_AFTER_MAX_S)
    cap = (
        float(cap)
        if isinstance(cap, (int, float)) and not isinstance(cap, bool)
        else DEFAULT_RETRY_AFTER_MAX_S
    )
    return max(backoff, min(float(retry_after_s), cap))


def _canonical_arguments(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _canonical_call_fields(call: dict[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in call.items() if key not in TOOL_CALL_ID_KEYS}
    name = call.get("name")
    out["name"] = name.strip() if isinstance(name, str) else ("" if name is None else str(name).strip())
    out["arguments"] = _canonical_arguments(call.get("arguments"))
    return out


def canonical_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """The id-free form of one tool call used for idempotency keys (SPEC §6).

    The result is a new dict (``call`` is not modified) where:

    * the keys ``call_id, id, runtime_call_id, model_call_id, idempotency_key`` are dropped;
    * ``name`` is a stripped str (``""`` when missing or None);
    * ``arguments`` is a dict: a JSON string is parsed, and a parse failure, a non-dict value or a
      missing value gives ``{}``;
    * a nested ``function`` dict (OpenAI shape) gets the same three treatments.

    Args:
        call: one tool call dict, such as ``{"name": " t ", "arguments": "{\\"x\\": 1}", "call_id": "c1"}``.

    Returns:
        For that example, ``{"name": "t", "arguments": {"x": 1}}``.
    """
    out = _canonical_call_fields(call)
    function = out.get("function")
    if isinstance(function, dict):
        out["function"] = _canonical_call_fields(function)
    return out


def normalize_allowed_tools(value: Any) -> list[str]:
    """Deduplicate, strip and sort a list of tool names (SPEC §4.12, §6).

    Args:
        value: a list, tuple or set of names.  Non-str items and blank names are dropped; any other
            value gives ``[]``.

    Returns:
        The sorted list of distinct stripped names.
    """
    if not isinstance(value, (list, tuple, set, frozenset)):
        return []
    items: Iterable[Any] = value
    return sorted({item.strip() for item in items if isinstance(item, str) and item.strip()})


def _canonical_payload(effect_type: str, payload: Any) -> dict[str, Any]:
    if effect_type != _TOOL_CALLS:
        return payload if type(payload) is dict else dict(payload) if isinstance(payload, dict) else {}
    canonical: dict[str, Any] = dict(payload) if isinstance(payload, dict) else {}
    calls = canonical.get("tool_calls")
    if isinstance(calls, list):
        canonical["tool_calls"] = [
            canonical_tool_call(call) if isinstance(call, dict) else call for call in calls
        ]
    allowed = canonical.get("allowed_tools")
    if isinstance(allowed, (list, tuple, set, frozenset)):
        canonical["allowed_tools"] = normalize_allowed_tools(allowed)
    return canonical


_TOOL_CALLS = EffectType.TOOL_CALLS.value
_KEY_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
"""What ``json.dumps(..., sort_keys=True, separators=(",", ":"))`` builds on every call, built once."""


def compute_idempotency_key(*, run_id: str, node_id: str, effect: Effect) -> str:
    """The idempotency key of ``effect`` requested by ``node_id`` in run ``run_id`` (SPEC §6).

    ``sha256(json.dumps({"run_id", "node_id", "effect_type", "effect_payload": P}, sort_keys=True,
    separators=(",", ":"))).hexdigest()[:32]`` with the default ``ensure_ascii=True``.  ``P`` is a
    shallow copy of ``effect.payload`` (``{}`` when it is not a dict); for TOOL_CALLS each dict in
    ``P["tool_calls"]`` goes through :func:`canonical_tool_call` and a list ``P["allowed_tools"]``
    through :func:`normalize_allowed_tools`.

    Args:
        run_id: the run's id.
        node_id: the node that requested the effect.
        effect: the effect; its ``type`` may be an EffectType or its string value.

    Returns:
        32 lowercase hex characters.

    Raises:
        TypeError: the payload holds a value ``json.dumps`` cannot encode (it must be JSON-safe).
    """
    kind = effect.type
    effect_type = kind._value_ if type(kind) is EffectType else effect_type_value(kind)
    payload = _canonical_payload(effect_type, effect.payload)
    if type(run_id) is str and type(node_id) is str:
        # The same text json.dumps(material, sort_keys=True, ...) writes, assembled around one encode:
        # the four outer keys are already in sorted order.
        encoded = (
            f'{{"effect_payload":{_KEY_ENCODER.encode(payload)},"effect_type":{_json_str(effect_type)},'
            f'"node_id":{_json_str(node_id)},"run_id":{_json_str(run_id)}}}'
        )
    else:
        material = {
            "run_id": run_id,
            "node_id": node_id,
            "effect_type": effect_type,
            "effect_payload": payload,
        }
        encoded = _KEY_ENCODER.encode(material)
    return _sha256_hex(encoded.encode("utf-8"))[:IDEMPOTENCY_KEY_LENGTH]


_SHA256: list[Any] = []  # hashlib.sha256, imported at the first key (hashlib loads OpenSSL: ~3 ms)


def _sha256_hex(data: bytes) -> str:
    if not _SHA256:
        import hashlib

        _SHA256.append(hashlib.sha256)
    return str(_SHA256[0](data).hexdigest())
