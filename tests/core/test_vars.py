"""vars namespaces, limits, node traces and vars paths (SPEC §5.1, §5.3, §5.4)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from abstractruntime.core import vars as v
from abstractruntime.core.config import RuntimeConfig
from abstractruntime.errors import VarsPathError


def test_constants() -> None:
    assert v.CONTEXT == "context"
    assert v.SCRATCHPAD == "scratchpad"
    assert v.RUNTIME == "_runtime"
    assert v.TEMP == "_temp"
    assert v.LIMITS == "_limits"
    assert v.NODE_TRACES == "node_traces"
    assert v.DEFAULT_MAX_TOKENS == 32768
    assert v.DEFAULT_MAX_ITERATIONS == 50


def test_ensure_namespaces_creates_four_dicts_but_not_limits() -> None:
    data: dict[str, Any] = {"context": "not a dict", "scratchpad": {"keep": 1}, "free": 3}
    out = v.ensure_namespaces(data)
    assert out is data
    assert data == {"context": {}, "scratchpad": {"keep": 1}, "_runtime": {}, "_temp": {}, "free": 3}
    assert "_limits" not in data


@pytest.mark.parametrize(
    ("getter", "key"),
    [
        (v.get_context, "context"),
        (v.get_scratchpad, "scratchpad"),
        (v.get_runtime, "_runtime"),
        (v.get_temp, "_temp"),
    ],
)
def test_namespace_getters_create_and_return_live_dict(getter: Any, key: str) -> None:
    data: dict[str, Any] = {key: [1, 2]}
    ns = getter(data)
    assert ns == {}
    ns["x"] = 1
    assert data[key] == {"x": 1}
    assert getter(data) is ns


def test_get_namespace_keeps_existing_dict() -> None:
    inner = {"a": 1}
    data: dict[str, Any] = {"custom": inner}
    assert v.get_namespace(data, "custom") is inner
    assert v.get_namespace(data, "other") == {}
    assert data["other"] == {}


def test_clear_temp() -> None:
    data: dict[str, Any] = {"_temp": {"a": 1}}
    v.clear_temp(data)
    assert data["_temp"] == {}
    empty: dict[str, Any] = {}
    v.clear_temp(empty)
    assert empty == {"_temp": {}}


def test_ensure_limits_seeds_defaults_matching_runtime_config() -> None:
    data: dict[str, Any] = {}
    limits = v.ensure_limits(data)
    assert data["_limits"] is limits
    assert limits == {
        "max_iterations": 50,
        "current_iteration": 0,
        "max_tokens": 32768,
        "max_output_tokens": None,
        "max_input_tokens": None,
        "estimated_tokens_used": 0,
        "max_history_messages": -1,
        "warn_iterations_pct": 80,
        "warn_tokens_pct": 80,
    }
    assert limits == RuntimeConfig().to_limits_dict()
    assert v.get_limits(data) is limits


def test_existing_limits_are_kept_unchanged_even_when_empty() -> None:
    data: dict[str, Any] = {"_limits": {}}
    assert v.get_limits(data) == {}
    assert v.ensure_limits(data) == {}
    custom: dict[str, Any] = {"_limits": {"max_iterations": 3}}
    assert v.ensure_limits(custom) == {"max_iterations": 3}


def test_default_limits_are_fresh_each_time() -> None:
    first = v.default_limits()
    first["max_iterations"] = 1
    assert v.default_limits()["max_iterations"] == 50


def test_node_traces() -> None:
    data: dict[str, Any] = {}
    traces = v.get_node_traces(data)
    assert traces == {}
    assert data == {"_runtime": {"node_traces": {}}}
    trace = {"node_id": "n1", "steps": [{"status": "completed"}], "updated_at": "t"}
    traces["n1"] = trace
    assert v.get_node_trace(data, "n1") is trace


def test_get_node_trace_default_does_not_mutate() -> None:
    data: dict[str, Any] = {}
    assert v.get_node_trace(data, "n") == {"node_id": "n", "steps": []}
    assert data == {}
    broken: dict[str, Any] = {"_runtime": {"node_traces": {"n": "junk"}}}
    assert v.get_node_trace(broken, "n") == {"node_id": "n", "steps": []}


@pytest.mark.parametrize(
    ("path", "tokens"),
    [
        ("a.b[0].c", ["a", "b", 0, "c"]),
        ("scratchpad", ["scratchpad"]),
        ("a[0][12]", ["a", 0, 12]),
        ("[1].x", [1, "x"]),
        ("a.0", ["a", "0"]),
        ("  a.b  ", ["a", "b"]),
        ("", []),
        (".", []),
        ("a..b.", ["a", "b"]),
        ("/a/b/0", ["a", "b", 0]),
        ("/a~1b/c~0d", ["a/b", "c~d"]),
        ("/~01", ["~1"]),
        ("/a/01", ["a", 1]),
        ("/a/-1", ["a", "-1"]),
        ("/a/1e3", ["a", "1e3"]),
        ("/", []),
        ("/a/", ["a"]),
    ],
)
def test_parse_vars_path(path: str, tokens: list[Any]) -> None:
    assert v.parse_vars_path(path) == tokens


@pytest.mark.parametrize("path", ["a[", "a]", "a[x]", "a[-1]", "a[0]b", "a[]"])
def test_parse_vars_path_rejects_bad_brackets(path: str) -> None:
    with pytest.raises(VarsPathError) as info:
        v.parse_vars_path(path)
    assert isinstance(info.value, ValueError)


def test_parse_vars_path_rejects_non_string() -> None:
    with pytest.raises(VarsPathError):
        v.parse_vars_path(3)  # type: ignore[arg-type]


_KEY = st.text(
    alphabet=st.characters(exclude_characters=".[]/~", exclude_categories=["Cs"]),
    min_size=1,
    max_size=8,
).filter(lambda s: s == s.strip())
_TOKEN = st.one_of(_KEY, st.integers(min_value=0, max_value=10_000))


def _pointer_escape(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


@given(st.lists(_TOKEN, max_size=6))
def test_dot_path_round_trip(tokens: list[str | int]) -> None:
    assert v.parse_vars_path(v.format_vars_path(tokens)) == tokens


@given(
    st.lists(
        st.one_of(
            st.text(min_size=1, max_size=8).filter(lambda s: not (s.isascii() and s.isdigit())),
            st.integers(min_value=0, max_value=10_000),
        ),
        max_size=6,
    )
)
def test_json_pointer_round_trip(tokens: list[str | int]) -> None:
    pointer = "".join("/" + _pointer_escape(t) for t in tokens)
    assume(pointer == pointer.strip())  # the whole path is stripped before parsing
    assert v.parse_vars_path(pointer) == tokens


_VARS = {"a": {"b": [{"c": 1}, {"c": 2}], "0": "zero"}, "x": [10, 20], "s": "text"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.b[1].c", 2),
        ("/a/b/0/c", 1),
        ("a.b.1.c", 2),
        ("/a/0", "zero"),
        ("x[0]", 10),
        ("", _VARS),
    ],
)
def test_resolve_vars_path(path: str, expected: Any) -> None:
    assert v.resolve_vars_path(_VARS, v.parse_vars_path(path)) == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a.k", "Missing key 'k' at a"),
        ("a.b[0].k", "Missing key 'k' at a.b[0]"),
        ("nope", "Missing key 'nope' at <root>"),
        ("x[3]", "Index 3 out of range at x (len=2)"),
        ("x.k", "Expected a list index at x, got 'k'"),
        ("s.c", "Cannot index into str at s with 'c'"),
        ("a.b[0].c.d", "Cannot index into int at a.b[0].c with 'd'"),
    ],
)
def test_resolve_vars_path_errors(path: str, message: str) -> None:
    with pytest.raises(VarsPathError) as info:
        v.resolve_vars_path(_VARS, v.parse_vars_path(path))
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_resolve_error_message_matches_spec_examples() -> None:
    with pytest.raises(ValueError, match=r"^Missing key 'k' at a\.b$"):
        v.resolve_vars_path({"a": {"b": {}}}, ["a", "b", "k"])
    with pytest.raises(ValueError, match=r"^Index 3 out of range at x \(len=2\)$"):
        v.resolve_vars_path({"x": [1, 2]}, ["x", 3])


def test_resolve_negative_index_is_out_of_range() -> None:
    with pytest.raises(VarsPathError, match="out of range"):
        v.resolve_vars_path({"x": [1, 2]}, ["x", -1])


def test_resolve_key_with_braces_in_message() -> None:
    with pytest.raises(VarsPathError, match=r"Missing key '\{k\}'"):
        v.resolve_vars_path({}, ["{k}"])


def test_set_vars_path_creates_and_replaces_intermediates() -> None:
    data: dict[str, Any] = {"a": "scalar", "keep": 1}
    v.set_vars_path(data, "a.b.c", 5)
    assert data == {"a": {"b": {"c": 5}}, "keep": 1}
    v.set_vars_path(data, "a.b.d", [1])
    assert data["a"]["b"] == {"c": 5, "d": [1]}
    v.set_vars_path(data, "top", None)
    assert data["top"] is None


def test_set_vars_path_rejects_empty() -> None:
    with pytest.raises(VarsPathError):
        v.set_vars_path({}, "", 1)
