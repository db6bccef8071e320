"""Code nodes: restricted evaluation by default, explicit unsafe opt-in, typed errors (SPEC §9.1 ``code``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from abstractruntime.errors import AbstractRuntimeError
from abstractruntime.visualflow_compiler.code_errors import CodeNodeError
from abstractruntime.visualflow_compiler.code_runner import (
    code_from_node_data,
    evaluate_expression,
    run_code_node,
    validate_code,
)

FLOWS_DIR = Path("/work/shared/flows/abstractflow-examples")


def _code_nodes() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if not FLOWS_DIR.is_dir():
        return found
    for path in sorted(FLOWS_DIR.glob("*.json")):
        for node in json.loads(path.read_text(encoding="utf-8")).get("nodes", []):
            if node.get("type") == "code":
                found.append((f"{path.stem}:{node['id']}", node["data"]))
    return found


CODE_NODES = _code_nodes()

# Plausible inputs for nodes whose code needs more than "every pin is None".
SPECIAL_INPUTS: dict[str, dict[str, Any]] = {
    "85228163:node-1": {"nb1": 2, "nb2": 3},
}


def run(code: str, inputs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return run_code_node(
        code=code, function_name=kwargs.pop("function_name", None), inputs=inputs or {}, **kwargs
    )


# ---------------------------------------------------------------------------------- the example flows
@pytest.mark.skipif(not CODE_NODES, reason="example flows not available")
def test_there_are_32_code_nodes_in_the_examples() -> None:
    assert len(CODE_NODES) == 32


@pytest.mark.parametrize(("name", "data"), CODE_NODES, ids=[name for name, _ in CODE_NODES])
def test_every_example_code_node_runs_restricted(name: str, data: dict[str, Any]) -> None:
    code = code_from_node_data(data)
    validate_code(code)
    pins = [p["id"] for p in data.get("inputs", []) if p.get("type") != "execution"]
    inputs: dict[str, Any] = dict.fromkeys(pins)
    inputs.update(data.get("pinDefaults") or {})
    inputs.update(SPECIAL_INPUTS.get(name, {}))
    out = run_code_node(code=code, function_name=data.get("functionName"), inputs=inputs)
    json.dumps(out, default=str)


def _node(name: str) -> dict[str, Any]:
    return next(data for node_name, data in CODE_NODES if node_name == name)


@pytest.mark.skipif(not CODE_NODES, reason="example flows not available")
def test_example_parse_command_node_with_real_input() -> None:
    data = _node("33a59146:node-6")
    out = run_code_node(
        code=data["code"], function_name="transform", inputs={"message": "/research quantum dots", "turn": 1}
    )
    assert out["do_research"] is True and out["research_query"] == "quantum dots" and out["branch"] == "true"
    stop = run_code_node(code=data["code"], function_name="transform", inputs={"message": " STOP "})
    assert stop["stop"] is True and stop["branch"] == "false"


@pytest.mark.skipif(not CODE_NODES, reason="example flows not available")
def test_example_code_body_only_node_is_wrapped() -> None:
    data = _node("85228163:node-1")
    body_only = {"codeBody": data["codeBody"]}
    assert (
        run_code_node(
            code=code_from_node_data(body_only), function_name="transform", inputs={"nb1": 1, "nb2": 4}
        )
        == 5
    )


@pytest.mark.skipif(not CODE_NODES, reason="example flows not available")
def test_example_node_with_backslash_in_fstring_runs_on_every_python() -> None:
    data = _node("ltm-ai-kg-debug-observability:node-18")
    out = run_code_node(code=data["code"], function_name="transform", inputs={"provider": None, "text": "x"})
    assert "KG Debug" in out["result"]


# ----------------------------------------------------------------------------------------- behaviour
def test_runs_transform_with_the_inputs_dict() -> None:
    code = "def transform(_input):\n    return {'n': len(_input.get('items') or []), 'up': _input['s'].upper()}\n"
    assert run(code, {"items": [1, 2], "s": "ab"}) == {"n": 2, "up": "AB"}


def test_function_name_choice_and_parameters() -> None:
    code = "def helper(x):\n    return x\n\ndef main(a, b=10):\n    return a + b\n"
    assert run(code, {"a": 1}, function_name="main") == 11
    assert run("def f():\n    return 7\n", {}) == 7
    with pytest.raises(CodeNodeError) as info:
        run(code, {}, function_name="missing")
    assert info.value.kind == "missing_function"


def test_inputs_are_not_mutated() -> None:
    inputs = {"items": [1]}
    run("def transform(d):\n    d['items'].append(2)\n    return d\n", inputs)
    assert inputs == {"items": [1]}


def test_language_features_used_by_flows() -> None:
    code = """
import json

def transform(_input):
    d = _input if isinstance(_input, dict) else {}
    def _to_int(v, default):
        try:
            return int(float(v))
        except Exception:
            return default
    seen = set()
    out = []
    for i, item in enumerate(d.get("items", []), start=1):
        if item in seen:
            continue
        seen.add(item)
        out.append(f"{i}:{item!s:>3}")
    total = sum(x for x in range(5))
    pairs = {k: v for k, v in sorted(d.items()) if k != "items"}
    s = ("{:.3f}".format(2.5)).rstrip("0")
    n = 0
    while n < 3:
        n += 1
    return {"out": out, "total": total, "pairs": pairs, "s": s, "n": n,
            "int": _to_int("x", -1), "j": json.loads(json.dumps([1]))}
"""
    out = run(code, {"items": ["a", "b", "a"], "z": 1})
    assert out == {
        "out": ["1:  a", "2:  b"],
        "total": 10,
        "pairs": {"z": 1},
        "s": "2.5",
        "n": 3,
        "int": -1,
        "j": [1],
    }


def test_runtime_errors_are_typed() -> None:
    with pytest.raises(CodeNodeError) as info:
        run_code_node(
            code="def transform(d):\n    return 1 / 0\n", function_name=None, inputs={}, node_id="n1"
        )
    err = info.value
    assert isinstance(err, AbstractRuntimeError) and isinstance(err, ValueError)
    assert err.kind == "runtime" and err.node_id == "n1" and "ZeroDivisionError" in str(err)
    with pytest.raises(CodeNodeError) as syntax:
        run("def transform(:\n")
    assert syntax.value.kind == "syntax"
    with pytest.raises(CodeNodeError):
        run("   ")


# ------------------------------------------------------------------------------------------- sandbox
@pytest.mark.parametrize(
    "code",
    [
        "def transform(d):\n    return __import__('os').getcwd()\n",
        "def transform(d):\n    import os\n    return os.name\n",
        "def transform(d):\n    from json import loads\n    return 1\n",
        "def transform(d):\n    return ().__class__.__subclasses__()\n",
        "def transform(d):\n    return open('/etc/passwd')\n",
        "def transform(d):\n    return d.__class__\n",
        "def transform(d):\n    f = lambda: 1\n    return f.__globals__\n",
        "def transform(d):\n    return (x for x in [1]).gi_frame\n",
        "def transform(d):\n    return getattr(d, 'get')\n",
        "def transform(d):\n    return eval('1')\n",
        "def transform(d):\n    return __builtins__\n",
        "def transform(d):\n    class A:\n        pass\n    return A\n",
        "def transform(d):\n    try:\n        return 1\n    except:\n        return 2\n",
        "def transform(d):\n    try:\n        return 1\n    finally:\n        pass\n",
        "def transform(d):\n    global x\n    return 1\n",
        "def transform(d):\n    with d:\n        return 1\n",
    ],
)
def test_sandbox_escapes_are_refused(code: str) -> None:
    with pytest.raises(CodeNodeError) as info:
        run(code, {"a": 1})
    assert info.value.kind == "forbidden"


@pytest.mark.parametrize(
    "code",
    [
        "def transform(d):\n    return '{0.__class__}'.format(d)\n",
        "def transform(d):\n    return '{0.get}'.format_map({'0': d})\n",
        "def transform(d):\n    return 'a' * (10 ** 9)\n",
        "def transform(d):\n    s = 'ab'\n    for _ in range(64):\n        s = s + s\n    return s\n",
        "def transform(d):\n    s = [0]\n    s *= 10 ** 9\n    return s\n",
        "def transform(d):\n    return 9 ** 9 ** 9\n",
        "def transform(d):\n    return list(range(10 ** 12))\n",
        "def transform(d):\n    return '{0[__class__]}'.format({'__class__': 1})\n",
    ],
)
def test_runtime_guards_refuse_dangerous_values(code: str) -> None:
    with pytest.raises(CodeNodeError):
        run(code, {"a": 1})


def test_attribute_access_outside_the_allow_list_is_refused_at_run_time() -> None:
    # ``count`` passes the syntax check (it is a str/list method) but a dict has no allowed ``count``.
    with pytest.raises(CodeNodeError, match="not allowed"):
        run("def transform(d):\n    return d['x'].count(1)\n", {"x": {"a": 1}})


def test_too_deeply_nested_code_is_a_syntax_error() -> None:
    with pytest.raises(CodeNodeError) as info:
        validate_code("x = " + "-" * 100_000 + "1")
    assert info.value.kind == "syntax"


def test_inputs_and_results_cross_as_json() -> None:
    with pytest.raises(CodeNodeError, match="inputs are not JSON-safe"):
        run("def transform(d):\n    return 1\n", {"x": object()})
    assert run("def transform(d):\n    return (1, [2])\n") == [1, [2]]
    for bad in ("{1, 2}", "{1: 'a'}", "float('nan')", "range(3)"):
        with pytest.raises(CodeNodeError) as info:
            run(f"def transform(d):\n    return {bad}\n")
        assert info.value.kind == "result" and "not JSON-safe" in str(info.value)


def test_infinite_loop_is_stopped_by_the_step_budget() -> None:
    with pytest.raises(CodeNodeError) as info:
        run("def transform(d):\n    while True:\n        pass\n", max_steps=10_000)
    assert info.value.kind == "budget"


def test_budget_cannot_be_swallowed_by_except_exception() -> None:
    code = "def transform(d):\n    while True:\n        try:\n            x = 1\n        except Exception:\n            pass\n"
    with pytest.raises(CodeNodeError) as info:
        run(code, max_steps=10_000)
    assert info.value.kind == "budget"


def test_time_budget() -> None:
    with pytest.raises(CodeNodeError) as info:
        run("def transform(d):\n    while True:\n        pass\n", max_steps=10**12, timeout_s=0.05)
    assert info.value.kind == "budget"


def test_unsafe_mode_runs_real_python_on_explicit_opt_in() -> None:
    code = "import os\n\ndef transform(d):\n    return os.sep + d.__class__.__name__\n"
    with pytest.raises(CodeNodeError):
        run(code, {})
    assert run(code, {}, allow_unsafe=True) == "/dict"


# ----------------------------------------------------------------------------------------- expressions
def test_evaluate_expression() -> None:
    assert evaluate_expression("a + b * 2", {"a": 1, "b": 3}) == 7
    assert evaluate_expression("len(items) > 1 and items[0].upper() == 'X'", {"items": ["x", "y"]}) is True
    assert evaluate_expression("[i * 2 for i in range(3)]", {}) == [0, 2, 4]
    assert evaluate_expression("json.loads(s)['k']", {"s": '{"k": 5}'}) == 5
    for bad in ("__import__('os')", "().__class__", "open('x')", "a.__dict__"):
        with pytest.raises(CodeNodeError):
            evaluate_expression(bad, {"a": 1})
    with pytest.raises(CodeNodeError) as info:
        evaluate_expression("missing + 1", {})
    assert info.value.kind == "runtime"
    with pytest.raises(CodeNodeError):
        evaluate_expression("x = 1", {})
