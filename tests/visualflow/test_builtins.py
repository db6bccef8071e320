"""Pure VisualFlow builtins (SPEC §9.1 node table, §9.2 path_mux) checked against the example flows' pins."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.visualflow_compiler.builtins import (
    PURE_BUILTINS,
    BuiltinError,
    set_clock,
    set_random_source,
)

FLOWS_DIR = Path("/work/shared/flows/abstractflow-examples")

SPEC_PURE_TYPES = {
    # literals
    "literal_string", "literal_number", "literal_boolean", "literal_json", "json_schema", "literal_array",
    # data / IO (pure ones)
    "concat", "make_array", "array_concat", "break_object",
    # math
    "add", "subtract", "multiply", "divide", "modulo", "power", "abs", "round", "random_int", "random_float",
    # string
    "split", "join", "format", "string_template", "uppercase", "lowercase", "trim", "substring", "length",
    "contains", "replace",
    # logic
    "compare", "not", "and", "or", "coalesce",
    # data
    "get", "set", "merge", "make_object", "make_context", "add_message", "make_meta", "make_scratchpad",
    "get_element", "get_random_element", "array_map", "array_filter", "array_length", "has_tools",
    "array_append", "array_dedup", "path_mux", "parse_json", "stringify_json", "format_tool_results",
    "agent_trace_report", "system_datetime", "tools_allowlist",
}  # fmt: skip

# Node types of the example flows that are *not* pure builtins (handled by the compiler's node families).
NON_PURE_TYPES = {
    "on_flow_start", "on_flow_end", "on_user_request", "on_agent_message", "on_schedule", "on_event",
    "agent", "function", "code", "subflow", "if", "switch", "while", "for", "loop", "sequence", "parallel",
    "join_exec", "ask_user", "answer_user", "model_residency", "llm_call", "generate_image", "generate_voice",
    "transcribe_audio", "listen_voice", "tool_calls", "call_tool", "wait_until", "wait_event", "emit_event",
    "memory_note", "memory_query", "memory_tag", "memory_compact", "memory_rehydrate", "memory_kg_assert",
    "memory_kg_query", "memory_kg_resolve", "get_var", "set_var", "set_var_property", "set_vars",
    "get_context", "bool_var", "var_decl", "memact_compose", "read_file", "write_file", "tool_parameters",
    "model_catalog", "provider_catalog", "provider_models",
}  # fmt: skip


def _flow_nodes() -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for path in sorted(FLOWS_DIR.glob("*.json")):
        nodes.extend(json.loads(path.read_text(encoding="utf-8")).get("nodes", []))
    return nodes


def call(node_type: str, inputs: dict[str, Any] | None = None, **node_data: Any) -> dict[str, Any]:
    return PURE_BUILTINS[node_type](inputs or {}, node_data)


@pytest.fixture(autouse=True)
def _reset_hooks() -> Any:
    yield
    set_random_source(None)
    set_clock(None)


# ------------------------------------------------------------------------------------------- coverage
def test_every_spec_pure_type_has_a_builtin() -> None:
    assert SPEC_PURE_TYPES - set(PURE_BUILTINS) == set()


@pytest.mark.skipif(not FLOWS_DIR.is_dir(), reason="example flows not available")
def test_every_pure_type_used_in_the_example_flows_has_a_builtin() -> None:
    # "join" in the flows is the string join (items/delimiter -> result), not join_exec.
    used = {str(node.get("type")) for node in _flow_nodes()}
    assert len(used) > 50
    missing = used - set(PURE_BUILTINS) - NON_PURE_TYPES
    assert missing == set()
    assert used & set(PURE_BUILTINS) >= {"concat", "get", "set", "break_object", "literal_json", "join"}


@pytest.mark.skipif(not FLOWS_DIR.is_dir(), reason="example flows not available")
def test_every_pure_node_of_the_example_flows_runs_and_outputs_its_declared_pins() -> None:
    checked = 0
    for node in _flow_nodes():
        node_type = node.get("type")
        if node_type not in PURE_BUILTINS or node_type == "add_message":
            continue
        data = node.get("data", {})
        out = PURE_BUILTINS[node_type]({}, data)
        declared = [p["id"] for p in data.get("outputs", []) if p.get("type") != "execution"]
        assert set(declared) <= set(out), (node_type, node.get("id"), declared, sorted(out))
        json.dumps(out)  # JSON-safe
        checked += 1
    assert checked > 500


# ------------------------------------------------------------------------------------------- literals
def test_literals_output_value() -> None:
    assert call("literal_string", literalValue="hi") == {"value": "hi"}
    assert call("literal_number", literalValue="2.5") == {"value": 2.5}
    assert call("literal_boolean", literalValue="true") == {"value": True}
    assert call("literal_boolean", literalValue=False) == {"value": False}
    assert call("literal_json", literalValue='{"a": 1}') == {"value": {"a": 1}}
    assert call("literal_array", literalValue=["x"]) == {"value": ["x"]}
    assert call("literal_array") == {"value": []}


def test_literal_publishes_the_declared_output_pin_too() -> None:
    out = call("json_schema", literalValue={"type": "object"}, outputs=[{"id": "schema", "type": "object"}])
    assert out == {"value": {"type": "object"}, "schema": {"type": "object"}}


def test_tools_allowlist_outputs_tools() -> None:
    out = call("tools_allowlist", literalValue=["web_search", " fetch_url", "web_search", ""])
    assert out["tools"] == ["web_search", "fetch_url"]


# ---------------------------------------------------------------------------------------------- math
def test_math_ops() -> None:
    assert call("add", {"a": 2, "b": 3}) == {"result": 5}
    assert call("add", {"a": 2}, pinDefaults={"b": 1}) == {"result": 3}
    assert call("subtract", {"a": "10", "b": 4}) == {"result": 6}
    assert call("multiply", {"a": 2.5, "b": 2}) == {"result": 5.0}
    assert call("divide", {"a": 6, "b": 3}) == {"result": 2}
    assert call("divide", {"a": 1, "b": 4}) == {"result": 0.25}
    assert call("modulo", {"a": 7, "b": 3}) == {"result": 1}
    assert call("power", {"a": 2, "b": 10}) == {"result": 1024}
    assert call("abs", {"value": -3}) == {"result": 3}
    assert call("round", {"value": 2.567, "decimals": 2}) == {"result": 2.57}
    assert call("round", {"value": 2.5}) == {"result": 2}
    assert call("add", {"a": None, "b": "x"}) == {"result": 0}


def test_math_invalid_use_raises_typed_error() -> None:
    with pytest.raises(BuiltinError):
        call("divide", {"a": 1, "b": 0})
    with pytest.raises(ValueError, match="modulo"):
        call("modulo", {"a": 1, "b": 0})


def test_randomness_is_injectable() -> None:
    out1 = call("random_int", {"min": 1, "max": 6}, _rng=random.Random(42))
    out2 = call("random_int", {"min": 1, "max": 6}, _rng=random.Random(42))
    assert out1 == out2 and 1 <= out1["result"] <= 6
    set_random_source(random.Random(7))
    first = call("random_float", {"min": 0, "max": 1})["result"]
    set_random_source(random.Random(7))
    assert call("random_float", {"min": 0, "max": 1})["result"] == first
    picked = call("get_random_element", {"array": ["a", "b", "c"]}, _rng=random.Random(1))
    assert picked["found"] is True and picked["result"] in ("a", "b", "c")
    assert call("get_random_element", {"array": [], "default": "none"}) == {"result": "none", "found": False}


# -------------------------------------------------------------------------------------------- string
def test_concat_uses_pin_order_and_separator() -> None:
    pins = [{"id": p, "type": "string"} for p in ("a", "b", "c")]
    data: dict[str, Any] = {
        "inputs": pins,
        "concatConfig": {"separator": "\\n\\n"},
        "pinDefaults": {"a": "H"},
    }
    assert PURE_BUILTINS["concat"]({"c": "C", "b": 2}, data) == {"result": "H\n\n2\n\nC"}
    data["concatConfig"] = {"separator": ""}
    assert PURE_BUILTINS["concat"]({"b": None, "c": {"k": 1}}, data) == {"result": 'H{"k": 1}'}


def test_string_ops() -> None:
    assert call("split", {"text": "a.b.c"}, pinDefaults={"delimiter": "."}) == {"result": ["a", "b", "c"]}
    assert call("split", {"text": " a  b "}) == {"result": ["a", "b"]}
    assert call("join", {"items": ["a", 1, None], "delimiter": "\\n- "}) == {"result": "a\n- 1"}
    assert call("join", {"items": None}) == {"result": ""}
    assert call("uppercase", {"text": "ab"}) == {"result": "AB"}
    assert call("lowercase", {"text": "AB"}) == {"result": "ab"}
    assert call("trim", {"text": "  x \n"}) == {"result": "x"}
    assert call("substring", {"text": "abcdef", "start": 1, "end": 3}) == {"result": "bc"}
    assert call("length", {"text": "abc"}) == {"result": 3}
    assert call("length", {"text": None}) == {"result": 0}
    assert call("contains", {"text": "/q now", "pattern": "/q"}) == {"result": True}
    assert call("contains", {"text": ["a"], "pattern": "b"}) == {"result": False}
    assert call("replace", {"text": "/mem hello", "pattern": "/mem ", "replacement": ""}) == {
        "result": "hello"
    }
    assert call("replace", {"text": "a1b22", "pattern": r"\d+", "replacement": "#", "mode": "regex"}) == {
        "result": "a#b#"
    }


def test_format_and_string_template() -> None:
    out = call(
        "format", {"template": 'A={a} B={b.c} {"json": 1} {missing}', "values": {"a": 1, "b": {"c": [2]}}}
    )
    assert out == {"result": 'A=1 B=[2] {"json": 1} {missing}'}
    tpl = call(
        "string_template",
        {"template": "U: {{ prompt }} / {{x.y}} / {{nope}}", "vars": {"prompt": "hi", "x": {"y": 3}}},
    )
    assert tpl == {"result": "U: hi / 3 / "}


# --------------------------------------------------------------------------------------------- logic
def test_compare() -> None:
    assert call("compare", {"a": 3}, pinDefaults={"op": ">", "b": 0}) == {"result": True}
    assert call("compare", {"a": "5", "op": ">=", "b": 5}) == {"result": True}
    assert call("compare", {"a": "stop", "op": "==", "b": "stop"}) == {"result": True}
    assert call("compare", {"a": None, "op": "<", "b": 1}) == {"result": False}
    assert call("compare", {"a": "x", "op": "<", "b": 1}) == {"result": False}
    assert call("compare", {"a": [1, 2], "op": "contains", "b": 2}) == {"result": True}
    with pytest.raises(BuiltinError):
        call("compare", {"a": 1, "op": "~~", "b": 1})


def test_boolean_logic_and_coalesce() -> None:
    pins = {"inputs": [{"id": "a", "type": "boolean"}, {"id": "b", "type": "boolean"}]}
    assert PURE_BUILTINS["and"]({"a": True, "b": 1}, pins) == {"result": True}
    assert PURE_BUILTINS["and"]({"a": True}, pins) == {"result": False}
    assert PURE_BUILTINS["or"]({"b": True}, pins) == {"result": True}
    assert PURE_BUILTINS["or"]({}, pins) == {"result": False}
    assert call("not", {"value": 0}) == {"result": True}
    assert PURE_BUILTINS["coalesce"]({"a": None, "b": ""}, pins) == {"result": ""}


# ---------------------------------------------------------------------------------------------- data
def test_get_and_set_with_dotted_paths() -> None:
    obj = {"a": {"b": [{"c": 1}]}, "usage.output_tokens": 9}
    assert call("get", {"object": obj, "key": "a.b.0.c"}) == {"value": 1}
    assert call("get", {"object": obj, "key": "a.b[0].c"}) == {"value": 1}
    assert call("get", {"object": obj, "key": "usage.output_tokens"}) == {"value": 9}
    assert call("get", {"object": obj, "key": "nope"}, pinDefaults={"default": []}) == {"value": []}
    assert call("get", {"object": None, "key": "x"}) == {"value": None}
    assert call("get", {"object": '{"data": {"x": 2}}', "key": "data.x"}) == {"value": 2}
    out = call("set", {"object": obj, "key": "a.new.deep", "value": 5})
    assert out["result"]["a"]["new"] == {"deep": 5}
    assert "new" not in obj["a"]  # input left untouched
    assert call("set", {"object": None, "key": "k", "value": 1}) == {"result": {"k": 1}}


def test_break_object_outputs_selected_paths() -> None:
    data = {
        "breakConfig": {"selectedPaths": ["content", "usage.output_tokens"]},
        "outputs": [{"id": "content", "type": "string"}, {"id": "usage.output_tokens", "type": "number"}],
    }
    out = PURE_BUILTINS["break_object"]({"object": {"content": "hi", "usage": {"output_tokens": 4}}}, data)
    assert out == {"content": "hi", "usage.output_tokens": 4}
    assert PURE_BUILTINS["break_object"]({"object": None}, data) == {
        "content": None,
        "usage.output_tokens": None,
    }


def test_object_and_array_builders() -> None:
    pins = {"inputs": [{"id": "prompt", "type": "string"}, {"id": "response", "type": "string"}]}
    assert PURE_BUILTINS["make_object"]({"prompt": "p"}, pins) == {
        "result": {"prompt": "p", "response": None}
    }
    arr_pins = {"inputs": [{"id": k, "type": "any"} for k in "abc"]}
    assert PURE_BUILTINS["make_array"]({"a": 1, "c": 3}, arr_pins) == {"result": [1, 3]}
    assert PURE_BUILTINS["array_concat"]({"a": [1], "b": [2, 3], "c": 4}, arr_pins) == {
        "result": [1, 2, 3, 4]
    }
    assert call("merge", {"a": {"x": 1, "y": 1}, "b": {"y": 2}}) == {"result": {"x": 1, "y": 2}}
    assert call("merge", {"a": None, "b": {"y": 2}}) == {"result": {"y": 2}}
    source = [1]
    assert call("array_append", {"array": source, "item": 2}) == {"result": [1, 2]}
    assert source == [1]
    assert call("array_append", {"item": "x"}) == {"result": ["x"]}
    assert call("array_length", {"array": [1, 2]}) == {"result": 2}
    assert call("array_length", {"array": None}) == {"result": 0}


def test_array_helpers() -> None:
    items = [{"span_id": "s1", "ok": True}, {"span_id": "s2", "ok": False}, {"span_id": "s1", "ok": True}]
    assert call("array_map", {"items": items}, pinDefaults={"key": "span_id"}) == {
        "result": ["s1", "s2", "s1"]
    }
    assert call("array_filter", {"items": items, "key": "ok"}) == {"result": [items[0], items[2]]}
    assert call("array_filter", {"items": items, "key": "span_id", "value": "s2"}) == {"result": [items[1]]}
    assert call("array_dedup", {"array": [1, 1, "1", {"a": 1}, {"a": 1}]}) == {"result": [1, "1", {"a": 1}]}
    assert call("get_element", {"array": ["a", "b"], "index": 1}) == {"result": "b", "found": True}
    assert call("get_element", {"array": ["a"], "index": 5}, pinDefaults={"default": "stop"}) == {
        "result": "stop",
        "found": False,
    }
    assert call("has_tools", {"array": ["web_search"]}) == {"result": True}
    assert call("has_tools", {"array": None}) == {"result": False}


# ---------------------------------------------------------------------------------------------- json
def test_parse_and_stringify_json() -> None:
    assert call("parse_json", {"text": '```json\n{"a": 1}\n```'}) == {"result": {"a": 1}}
    assert call("parse_json", {"text": 'Sure! {"a": [1]} done'}) == {"result": {"a": [1]}}
    assert call("parse_json", {"text": "not json"}) == {"result": None}
    assert call("parse_json", {"text": {"already": True}}) == {"result": {"already": True}}
    assert call("stringify_json", {"value": {"a": 1}}, pinDefaults={"mode": "minified"}) == {
        "result": '{"a":1}'
    }
    assert call("stringify_json", {"value": {"a": 1}}) == {"result": '{\n  "a": 1\n}'}
    assert call("stringify_json", {"value": {"a": 1}, "pretty": False}) == {"result": '{"a":1}'}
    assert call(
        "stringify_json", {"value": {"b": 1, "a": 2}, "mode": "beautify", "indent": 0, "sort_keys": True}
    )["result"].startswith('{\n"a"')


# ---------------------------------------------------------------------------------------------- misc
def test_context_meta_and_messages() -> None:
    ctx = call(
        "make_context",
        {"task": "T", "messages": [{"role": "user", "content": "x"}], "context_extra": {"k": 1}},
    )
    assert ctx == {"context": {"k": 1, "task": "T", "messages": [{"role": "user", "content": "x"}]}}
    msg = call(
        "add_message",
        {"content": "hi", "context": {"task": "T", "messages": []}},
        pinDefaults={"role": "assistant"},
    )
    assert msg["message"] == {"role": "assistant", "content": "hi"}
    assert msg["messages"] == [msg["message"]] and msg["context"]["messages"] == msg["messages"]
    assert msg["task"] == "T"
    meta = PURE_BUILTINS["make_meta"](
        {"schema": "s", "iterations": 2, "usage": None},
        {"inputs": [{"id": "schema"}, {"id": "iterations"}, {"id": "usage"}]},
    )
    assert meta == {"meta": {"schema": "s", "iterations": 2}}
    assert "scratchpad" in call("make_scratchpad", {"a": 1})


def test_format_tool_results_and_trace_report() -> None:
    results = [
        {"name": "web_search", "success": True, "output": {"hits": 1}},
        {"name": "x", "success": False, "error": "boom"},
    ]
    text = call("format_tool_results", {"tool_results": results})["result"]
    assert '[web_search] {"hits": 1}' in text and "[x] error: boom" in text
    report = call("agent_trace_report", {"scratchpad": {"node_traces": {}}})["result"]
    assert report.startswith("# Agent Trace Report")
    assert call("agent_trace_report", {})["result"].startswith("# Agent Trace Report")


def test_system_datetime_is_injectable() -> None:
    fixed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2), "CEST"))
    out = call("system_datetime", _now=fixed, _locale="fr_FR")
    assert out == {
        "iso": "2026-01-02T03:04:05+02:00",
        "timezone": "CEST",
        "utc_offset_minutes": 120,
        "locale": "fr_FR",
    }
    set_clock(lambda: fixed)
    assert call("system_datetime")["iso"] == "2026-01-02T03:04:05+02:00"


def test_path_mux() -> None:
    assert call("path_mux", {"select": 1, "in0": "a", "in1": "b"}) == {"out": "b"}
    assert call("path_mux", {"select": 2, "in0": "a"}, pinDefaults={"fallback": "fb"}) == {"out": "fb"}
    assert call("path_mux", {}) == {"out": None}
