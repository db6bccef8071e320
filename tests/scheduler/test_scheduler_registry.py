"""WorkflowRegistry (SPEC §8.1)."""

from __future__ import annotations

import threading

import pytest

from abstractruntime import WorkflowSpec
from abstractruntime.errors import WorkflowAlreadyRegisteredError, WorkflowNotRegisteredError
from abstractruntime.scheduler import WorkflowRegistry


def _spec(workflow_id: str) -> WorkflowSpec:
    return WorkflowSpec(workflow_id=workflow_id, entry_node="a", nodes={"a": lambda run, ctx: None})  # type: ignore[arg-type,return-value]


def test_register_get_and_list() -> None:
    registry = WorkflowRegistry()
    a, b = _spec("a"), _spec("b")
    registry.register(a)
    registry.register(b)
    assert registry.get("a") is a
    assert registry.get_or_raise("b") is b
    assert registry.get("missing") is None
    assert registry.list_ids() == ["a", "b"]
    assert len(registry) == 2
    assert "a" in registry
    assert "missing" not in registry
    assert a not in registry  # membership is by id


def test_duplicate_id_is_a_value_error() -> None:
    registry = WorkflowRegistry()
    registry.register(_spec("a"))
    with pytest.raises(ValueError, match="already registered") as info:
        registry.register(_spec("a"))
    assert isinstance(info.value, WorkflowAlreadyRegisteredError)
    assert info.value.workflow_id == "a"


def test_unregister_and_missing_ids_are_key_errors() -> None:
    registry = WorkflowRegistry()
    registry.register(_spec("a"))
    registry.unregister("a")
    assert registry.get("a") is None
    assert len(registry) == 0
    with pytest.raises(KeyError) as info:
        registry.unregister("a")
    assert isinstance(info.value, WorkflowNotRegisteredError)
    with pytest.raises(WorkflowNotRegisteredError) as missing:
        registry.get_or_raise("nope")
    assert missing.value.workflow_id == "nope"
    registry.register(_spec("a"))  # free again after unregister
    assert registry.list_ids() == ["a"]


def test_list_ids_is_a_copy() -> None:
    registry = WorkflowRegistry()
    registry.register(_spec("a"))
    ids = registry.list_ids()
    ids.append("b")
    assert registry.list_ids() == ["a"]


def test_concurrent_registration_keeps_exactly_one_winner_per_id() -> None:
    registry = WorkflowRegistry()
    barrier = threading.Barrier(8)
    wins: list[int] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        barrier.wait()
        for i in range(200):
            try:
                registry.register(_spec(f"wf-{i}"))
            except ValueError:
                continue
            with lock:
                wins.append(index)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 200
    assert len(registry) == 200
    assert sorted(registry.list_ids()) == sorted(f"wf-{i}" for i in range(200))


def test_adopting_workflows_defined_in_this_process() -> None:
    from abstractruntime import StepPlan, WorkflowSpec

    spec = WorkflowSpec("adoptable", "a", {"a": lambda run, ctx: StepPlan("a", complete_output={})})
    assert WorkflowRegistry().get("adoptable") is None
    adopting = WorkflowRegistry(adopt_defined=True)
    assert adopting.get_or_raise("adoptable") is spec
    assert "adoptable" in adopting
    adopting.unregister("adoptable")
    assert adopting.get("adoptable") is None, "an unregistered id is never adopted again"
    assert adopting.get("never-defined") is None
