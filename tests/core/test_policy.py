"""Retry policies and the idempotency key formula (SPEC §6)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from abstractruntime.core.models import Effect, EffectType, RunState
from abstractruntime.core.policy import (
    DefaultEffectPolicy,
    EffectPolicy,
    NoRetryPolicy,
    RetryPolicy,
    canonical_tool_call,
    compute_idempotency_key,
    normalize_allowed_tools,
)


def _expected_key(run_id: str, node_id: str, effect_type: str, payload: Any) -> str:
    """Independent computation of the SPEC §6 formula."""
    body = {"run_id": run_id, "node_id": node_id, "effect_type": effect_type, "effect_payload": payload}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _tool_effect(calls: list[Any], **extra: Any) -> Effect:
    return Effect(type=EffectType.TOOL_CALLS, payload={"tool_calls": calls, **extra})


# -- retry policies ---------------------------------------------------------------------------------------


def test_default_policy_defaults() -> None:
    policy = DefaultEffectPolicy()
    assert policy.default_max_attempts == 1
    assert policy.default_backoff_base == 1.0
    assert policy.default_backoff_max == 60.0
    assert policy.effect_max_attempts == {}
    assert policy.max_attempts(Effect(type=EffectType.LLM_CALL)) == 1


def test_default_policy_overrides_by_type_value() -> None:
    policy = DefaultEffectPolicy(default_max_attempts=2, effect_max_attempts={"llm_call": 5})
    assert policy.max_attempts(Effect(type=EffectType.LLM_CALL)) == 5
    assert policy.max_attempts(Effect(type="llm_call")) == 5  # type: ignore[arg-type]
    assert policy.max_attempts(Effect(type=EffectType.TOOL_CALLS)) == 2


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (50, 60.0)]
)
def test_default_backoff(attempt: int, expected: float) -> None:
    policy = DefaultEffectPolicy()
    assert policy.backoff_seconds(effect=Effect(type=EffectType.LLM_CALL), attempt=attempt) == expected


def test_backoff_with_custom_base_and_huge_attempt() -> None:
    policy = DefaultEffectPolicy(default_backoff_base=0.5, default_backoff_max=3.0)
    effect = Effect(type=EffectType.LLM_CALL)
    assert policy.backoff_seconds(effect=effect, attempt=1) == 0.5
    assert policy.backoff_seconds(effect=effect, attempt=3) == 2.0
    assert policy.backoff_seconds(effect=effect, attempt=4) == 3.0
    assert policy.backoff_seconds(effect=effect, attempt=100_000) == 3.0


def test_retry_policy() -> None:
    policy = RetryPolicy()
    assert isinstance(policy, DefaultEffectPolicy)
    assert policy.max_attempts(Effect(type=EffectType.LLM_CALL)) == 3
    assert policy.max_attempts(Effect(type=EffectType.TOOL_CALLS)) == 2
    for other in EffectType:
        if other not in (EffectType.LLM_CALL, EffectType.TOOL_CALLS):
            assert policy.max_attempts(Effect(type=other)) == 1
    effect = Effect(type=EffectType.LLM_CALL)
    assert policy.backoff_seconds(effect=effect, attempt=1) == 1.0
    assert policy.backoff_seconds(effect=effect, attempt=10) == 30.0
    assert policy.llm_max_attempts == 3
    assert policy.tool_max_attempts == 2


def test_retry_policy_arguments() -> None:
    policy = RetryPolicy(llm_max_attempts=4, tool_max_attempts=1, backoff_base=2.0, backoff_max=5.0)
    assert policy.max_attempts(Effect(type=EffectType.LLM_CALL)) == 4
    assert policy.max_attempts(Effect(type=EffectType.TOOL_CALLS)) == 1
    effect = Effect(type=EffectType.LLM_CALL)
    assert policy.backoff_seconds(effect=effect, attempt=1) == 2.0
    assert policy.backoff_seconds(effect=effect, attempt=3) == 5.0
    assert policy.effect_max_attempts == {"llm_call": 4, "tool_calls": 1}
    with pytest.raises(TypeError):
        RetryPolicy(4)  # type: ignore[call-arg]


def test_no_retry_policy() -> None:
    policy = NoRetryPolicy()
    for effect_type in EffectType:
        assert policy.max_attempts(Effect(type=effect_type)) == 1
    assert policy.backoff_seconds(effect=Effect(type=EffectType.LLM_CALL), attempt=1) == 0.0


@pytest.mark.parametrize("policy", [DefaultEffectPolicy(), RetryPolicy(), NoRetryPolicy()])
def test_policies_satisfy_protocol_and_use_key_formula(policy: EffectPolicy) -> None:
    assert isinstance(policy, EffectPolicy)
    run = RunState.new(workflow_id="wf", entry_node="start")
    effect = Effect(type=EffectType.ASK_USER, payload={"prompt": "hi"})
    key = policy.idempotency_key(run=run, node_id="n1", effect=effect)
    assert key == compute_idempotency_key(run_id=run.run_id, node_id="n1", effect=effect)
    assert key == _expected_key(run.run_id, "n1", "ask_user", {"prompt": "hi"})


def test_protocol_rejects_unrelated_object() -> None:
    assert not isinstance(object(), EffectPolicy)


# -- key formula -----------------------------------------------------------------------------------------


def test_key_formula_matches_independent_computation() -> None:
    payload = {"prompt": "héllo", "nested": {"b": 2, "a": [1, None, True]}}
    effect = Effect(type=EffectType.LLM_CALL, payload=payload)
    key = compute_idempotency_key(run_id="run-1", node_id="node-1", effect=effect)
    assert key == _expected_key("run-1", "node-1", "llm_call", payload)
    assert len(key) == 32
    assert all(c in "0123456789abcdef" for c in key)


def test_key_uses_ascii_escaping() -> None:
    effect = Effect(type=EffectType.LLM_CALL, payload={"prompt": "é"})
    body = {"effect_payload": {"prompt": "é"}, "effect_type": "llm_call", "node_id": "n", "run_id": "r"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert "\\u00e9" in text
    assert (
        compute_idempotency_key(run_id="r", node_id="n", effect=effect)
        == (hashlib.sha256(text.encode()).hexdigest()[:32])
    )


def test_key_accepts_string_effect_type() -> None:
    a = Effect(type=EffectType.WAIT_EVENT, payload={"k": 1})
    b = Effect(type="wait_event", payload={"k": 1})  # type: ignore[arg-type]
    assert compute_idempotency_key(run_id="r", node_id="n", effect=a) == compute_idempotency_key(
        run_id="r", node_id="n", effect=b
    )


def test_key_depends_on_run_node_type_and_payload() -> None:
    effect = Effect(type=EffectType.LLM_CALL, payload={"p": 1})
    base = compute_idempotency_key(run_id="r", node_id="n", effect=effect)
    assert base != compute_idempotency_key(run_id="r2", node_id="n", effect=effect)
    assert base != compute_idempotency_key(run_id="r", node_id="n2", effect=effect)
    assert base != compute_idempotency_key(
        run_id="r", node_id="n", effect=Effect(type=EffectType.MEMORY_NOTE, payload={"p": 1})
    )
    assert base != compute_idempotency_key(
        run_id="r", node_id="n", effect=Effect(type=EffectType.LLM_CALL, payload={"p": 2})
    )


def test_key_ignores_result_key_and_payload_order() -> None:
    a = Effect(type=EffectType.LLM_CALL, payload={"a": 1, "b": 2}, result_key="x")
    b = Effect(type=EffectType.LLM_CALL, payload={"b": 2, "a": 1}, result_key="y")
    assert compute_idempotency_key(run_id="r", node_id="n", effect=a) == compute_idempotency_key(
        run_id="r", node_id="n", effect=b
    )


def test_non_dict_payload_hashes_as_empty() -> None:
    effect = Effect(type=EffectType.LLM_CALL, payload=["x"])  # type: ignore[arg-type]
    assert compute_idempotency_key(run_id="r", node_id="n", effect=effect) == _expected_key(
        "r", "n", "llm_call", {}
    )


def test_non_tool_payloads_are_not_canonicalised() -> None:
    payload = {"tool_calls": [{"name": " t ", "call_id": "c1"}], "allowed_tools": ["b", "a"]}
    effect = Effect(type=EffectType.LLM_CALL, payload=payload)
    assert compute_idempotency_key(run_id="r", node_id="n", effect=effect) == _expected_key(
        "r", "n", "llm_call", payload
    )


def test_payload_is_not_mutated() -> None:
    calls = [{"name": " t ", "arguments": '{"x": 1}', "call_id": "c1"}]
    payload = {"tool_calls": calls, "allowed_tools": ["b", "a", "b"]}
    compute_idempotency_key(
        run_id="r", node_id="n", effect=Effect(type=EffectType.TOOL_CALLS, payload=payload)
    )
    assert payload == {
        "tool_calls": [{"name": " t ", "arguments": '{"x": 1}', "call_id": "c1"}],
        "allowed_tools": ["b", "a", "b"],
    }


def test_tool_calls_keys_ignore_call_ids() -> None:
    first = _tool_effect(
        [{"name": "search", "arguments": {"q": "x"}, "call_id": "a1", "id": "a2", "runtime_call_id": "rt1"}]
    )
    second = _tool_effect(
        [
            {
                "name": "search",
                "arguments": {"q": "x"},
                "call_id": "b1",
                "model_call_id": "m",
                "idempotency_key": "k",
            }
        ]
    )
    key1 = compute_idempotency_key(run_id="r", node_id="n", effect=first)
    key2 = compute_idempotency_key(run_id="r", node_id="n", effect=second)
    assert key1 == key2
    assert key1 == _expected_key(
        "r", "n", "tool_calls", {"tool_calls": [{"name": "search", "arguments": {"q": "x"}}]}
    )


def test_tool_calls_key_canonicalisation_formula() -> None:
    effect = _tool_effect(
        [
            {"name": "  read ", "arguments": '{"path": "a.txt"}', "call_id": "1"},
            {"name": "bad", "arguments": "{not json"},
            {"name": "list", "arguments": "[1, 2]"},
            {"name": "n", "arguments": 5, "extra": True},
            {"type": "function", "id": "x", "function": {"name": " f ", "arguments": '{"a": 1}', "id": "y"}},
            "not-a-dict",
        ],
        allowed_tools=[" read ", "list", "read", "", 3],
        wait_key="w",
    )
    expected_payload = {
        "tool_calls": [
            {"name": "read", "arguments": {"path": "a.txt"}},
            {"name": "bad", "arguments": {}},
            {"name": "list", "arguments": {}},
            {"name": "n", "arguments": {}, "extra": True},
            {
                "type": "function",
                "name": "",
                "arguments": {},
                "function": {"name": "f", "arguments": {"a": 1}},
            },
            "not-a-dict",
        ],
        "allowed_tools": ["list", "read"],
        "wait_key": "w",
    }
    assert compute_idempotency_key(run_id="r", node_id="n", effect=effect) == _expected_key(
        "r", "n", "tool_calls", expected_payload
    )


def test_tool_calls_string_and_dict_arguments_hash_equal() -> None:
    a = _tool_effect([{"name": "t", "arguments": '{"b": 2, "a": 1}'}])
    b = _tool_effect([{"name": " t", "arguments": {"a": 1, "b": 2}}])
    assert compute_idempotency_key(run_id="r", node_id="n", effect=a) == compute_idempotency_key(
        run_id="r", node_id="n", effect=b
    )


def test_allowed_tools_order_and_duplicates_do_not_matter() -> None:
    a = _tool_effect([], allowed_tools=["b", "a"])
    b = _tool_effect([], allowed_tools=[" a", "b", "b "])
    assert compute_idempotency_key(run_id="r", node_id="n", effect=a) == compute_idempotency_key(
        run_id="r", node_id="n", effect=b
    )


def test_non_list_allowed_tools_is_left_alone() -> None:
    effect = _tool_effect([], allowed_tools=None)
    assert compute_idempotency_key(run_id="r", node_id="n", effect=effect) == _expected_key(
        "r", "n", "tool_calls", {"tool_calls": [], "allowed_tools": None}
    )


def test_non_json_payload_raises_type_error() -> None:
    effect = Effect(type=EffectType.LLM_CALL, payload={"x": object()})
    with pytest.raises(TypeError):
        compute_idempotency_key(run_id="r", node_id="n", effect=effect)


# -- helpers ---------------------------------------------------------------------------------------------


def test_canonical_tool_call_does_not_mutate() -> None:
    call = {"name": " t ", "arguments": '{"x": 1}', "call_id": "c", "function": {"name": "f", "id": "i"}}
    snapshot = json.loads(json.dumps(call))
    out = canonical_tool_call(call)
    assert call == snapshot
    assert out == {"name": "t", "arguments": {"x": 1}, "function": {"name": "f", "arguments": {}}}


def test_canonical_tool_call_missing_name_and_arguments() -> None:
    assert canonical_tool_call({}) == {"name": "", "arguments": {}}


def test_normalize_allowed_tools() -> None:
    assert normalize_allowed_tools([" b", "a", "b", "", "  ", 7, None]) == ["a", "b"]
    assert normalize_allowed_tools(("x",)) == ["x"]
    assert normalize_allowed_tools("abc") == []
    assert normalize_allowed_tools(None) == []
