"""Best-effort JSON conversion and the JSON-safety check (SPEC §2.3)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abstractruntime.core.jsonable import (
    ensure_json_safe,
    find_non_json_safe,
    is_json_safe,
    to_jsonable,
)
from abstractruntime.core.models import EffectType, RunStatus
from abstractruntime.errors import NotJsonSafeError


class Color(Enum):
    RED = "red"
    GREEN = 2


@dataclass
class Point:
    x: int
    tags: list[Any] = field(default_factory=list)


class Pydanticish:
    def model_dump(self) -> dict[str, Any]:
        return {"kind": "pyd", "color": Color.RED}


class HasToDict:
    def to_dict(self) -> dict[str, Any]:
        return {"kind": "to_dict", "values": (1, 2)}


class Both:
    def model_dump(self) -> str:
        return "model_dump wins"

    def to_dict(self) -> str:
        return "to_dict"


class BrokenExport:
    def model_dump(self) -> Any:
        raise RuntimeError("boom")

    def __str__(self) -> str:
        return "broken-export"


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


class BrokenStr:
    def __str__(self) -> str:
        raise RuntimeError("no")


class SelfDump:
    def model_dump(self) -> Any:
        return self


# -- to_jsonable -----------------------------------------------------------------------------------------


def test_scalars_pass_through() -> None:
    for value in ["s", 1, 1.5, True, False, None]:
        assert to_jsonable(value) == value


def test_enums_become_values() -> None:
    assert to_jsonable(Color.RED) == "red"
    assert to_jsonable(Color.GREEN) == 2
    converted = to_jsonable(RunStatus.WAITING)
    assert converted == "waiting"
    assert type(converted) is str


def test_containers() -> None:
    value = {"t": (1, 2), "s": {3, 1, 2}, "f": frozenset({"b", "a"}), 5: "five", EffectType.LLM_CALL: "x"}
    assert to_jsonable(value) == {"t": [1, 2], "s": [1, 2, 3], "f": ["a", "b"], "5": "five", "llm_call": "x"}


def test_unsortable_set_still_converts() -> None:
    out = to_jsonable({1, "a"})
    assert sorted(map(str, out)) == ["1", "a"]


def test_dataclass_and_exporters() -> None:
    assert to_jsonable(Point(1, [Color.RED, (2,)])) == {"x": 1, "tags": ["red", [2]]}
    assert to_jsonable(Pydanticish()) == {"kind": "pyd", "color": "red"}
    assert to_jsonable(HasToDict()) == {"kind": "to_dict", "values": [1, 2]}
    assert to_jsonable(Both()) == "model_dump wins"


def test_dataclass_class_object_is_stringified() -> None:
    assert to_jsonable(Point) == str(Point)


def test_fallback_to_str() -> None:
    assert to_jsonable(Opaque()) == "opaque!"
    assert to_jsonable(b"ab") == "b'ab'"
    assert to_jsonable(BrokenExport()) == "broken-export"
    assert to_jsonable(BrokenStr()) == "<unprintable BrokenStr>"


def test_cycles_become_marker() -> None:
    data: dict[str, Any] = {"a": 1}
    data["self"] = data
    items: list[Any] = [1]
    items.append(items)
    assert to_jsonable(data) == {"a": 1, "self": "<cycle>"}
    assert to_jsonable(items) == [1, "<cycle>"]
    assert to_jsonable(SelfDump()) == "<cycle>"


def test_shared_references_are_not_cycles() -> None:
    shared = {"v": 1}
    assert to_jsonable({"a": shared, "b": [shared, shared]}) == {"a": {"v": 1}, "b": [{"v": 1}, {"v": 1}]}


def test_max_depth_marker() -> None:
    deep: Any = "leaf"
    for _ in range(300):
        deep = [deep]
    out = to_jsonable(deep)
    depth = 0
    while isinstance(out, list):
        out = out[0]
        depth += 1
    assert out == "<max_depth>"
    assert depth == 201


def test_to_jsonable_output_is_json_serialisable() -> None:
    value = {"p": Point(1), "o": Opaque(), "s": {1}, "e": Color.GREEN, "d": {(1, 2): "tuple-key"}}
    json.dumps(to_jsonable(value))
    assert find_non_json_safe(to_jsonable(value)) is None


# -- find_non_json_safe / ensure_json_safe ------------------------------------------------------------------


def test_safe_values() -> None:
    value = {"a": [1, 2.5, "x", None, True, {"b": []}], "c": {}}
    assert find_non_json_safe(value) is None
    assert find_non_json_safe(value, "vars") is None
    assert is_json_safe(value)


def test_str_enum_and_dict_subclass_count_as_safe() -> None:
    from collections import OrderedDict

    assert find_non_json_safe({"status": RunStatus.RUNNING, "o": OrderedDict(a=1)}) is None


@pytest.mark.parametrize(
    ("value", "path", "expected"),
    [
        ({"a": {"b": [1, 2, {1, 2}]}}, "vars", ("vars.a.b[2]", "set")),
        ({"a": {"b": [1, 2, (1,)]}}, "", ("a.b[2]", "tuple")),
        ([1, object()], "", ("[1]", "object")),
        ({"x": b"bytes"}, "payload", ("payload.x", "bytes")),
        (Opaque(), "vars", ("vars", "Opaque")),
        ({"f": math.nan}, "v", ("v.f", "float (nan)")),
        ({"f": [math.inf]}, "v", ("v.f[0]", "float (inf)")),
        ({"f": -math.inf}, "v", ("v.f", "float (-inf)")),
        ({"a": {1: "x"}}, "vars", ("vars.a.1", "int (dict key)")),
        ({"a": {None: "x"}}, "vars", ("vars.a.None", "NoneType (dict key)")),
        (Color.RED, "e", ("e", "Color")),
    ],
)
def test_find_non_json_safe_reports_path_and_type(value: Any, path: str, expected: tuple[str, str]) -> None:
    assert find_non_json_safe(value, path) == expected
    assert not is_json_safe(value)


def test_first_problem_in_insertion_order() -> None:
    value = {"a": {"deep": {"x": set()}}, "b": {"y": object()}}
    assert find_non_json_safe(value, "vars") == ("vars.a.deep.x", "set")


def test_cycle_is_reported() -> None:
    data: dict[str, Any] = {"a": {}}
    data["a"]["back"] = data
    assert find_non_json_safe(data, "vars") == ("vars.a.back", "dict (cycle)")


def test_shared_reference_is_safe() -> None:
    shared = [1, 2]
    assert find_non_json_safe({"a": shared, "b": shared, "c": [shared]}) is None


def test_very_deep_structures_do_not_overflow() -> None:
    deep: Any = 1
    for _ in range(50_000):
        deep = {"k": [deep]}
    assert find_non_json_safe(deep) is None
    bad: Any = object()
    for _ in range(5_000):
        bad = [bad]
    found = find_non_json_safe(bad, "v")
    assert found is not None
    assert found[0] == "v" + "[0]" * 5_000
    assert found[1] == "object"


def test_typical_vars_check_is_fast() -> None:
    vars_: dict[str, Any] = {
        "context": {
            "messages": [{"role": "user", "content": "x" * 100, "metadata": {"i": i}} for i in range(2_000)]
        },
        "scratchpad": {f"k{i}": i for i in range(5_000)},
    }
    start = time.perf_counter()
    assert find_non_json_safe(vars_, "vars") is None
    assert time.perf_counter() - start < 0.5


def test_ensure_json_safe() -> None:
    ensure_json_safe({"a": [1]}, path="vars")
    with pytest.raises(NotJsonSafeError) as info:
        ensure_json_safe({"client": object()}, path="vars.scratchpad", run_id="r1")
    err = info.value
    assert isinstance(err, TypeError)
    assert err.path == "vars.scratchpad.client"
    assert err.type_name == "object"
    assert err.run_id == "r1"
    assert "vars.scratchpad.client" in str(err)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=40,
)


@given(_JSON)
def test_generated_json_values_are_safe(value: Any) -> None:
    assert find_non_json_safe(value, "vars") is None


@given(_JSON)
def test_to_jsonable_is_identity_on_json_values(value: Any) -> None:
    assert to_jsonable(value) == value


@given(st.lists(_JSON, max_size=5), st.integers(min_value=0, max_value=5))
def test_inserted_bad_value_is_found(items: list[Any], position: int) -> None:
    position = min(position, len(items))
    items.insert(position, {"bad": {1, 2}})
    assert find_non_json_safe({"list": items}, "vars") == (f"vars.list[{position}].bad", "set")
