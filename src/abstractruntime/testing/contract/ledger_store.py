"""Contract tests for LedgerStore backends: order, shape, idempotency lookups, counts."""

from __future__ import annotations

from ...core.models import Effect, EffectType, StepRecord, StepStatus, WaitReason, WaitState
from ...storage.base import find_completed_in, find_started_in
from .factory import StoreFactory, make_run

__all__ = ["LedgerStoreContract"]

_RECORD_KEYS = {
    "run_id", "step_id", "node_id", "status", "effect", "result", "error", "started_at", "ended_at",
    "actor_id", "session_id", "attempt", "idempotency_key", "prev_hash", "record_hash", "signature",
}  # fmt: skip


class LedgerStoreContract:
    """Subclass and provide a ``store_factory`` fixture (see the package docstring)."""

    def test_records_come_back_in_append_order_with_every_field(self, store_factory: StoreFactory) -> None:
        _, ledger = store_factory.stores()
        run = make_run()
        effect = Effect(EffectType.ASK_USER, {"prompt": "é?", "n": [1, 2]}, "answer")
        started = StepRecord.start(run=run, node_id="ask", effect=effect, idempotency_key="k1")
        ledger.append(started.snapshot())
        waiting = started.finish_waiting(WaitState(reason=WaitReason.USER, wait_key="u", prompt="é?"))
        ledger.append(waiting)
        other = make_run()
        ledger.append(StepRecord.start(run=other, node_id="x", effect=None))
        records = ledger.list(run.run_id)
        assert [r["status"] for r in records] == ["started", "waiting"]
        assert all(set(r) == _RECORD_KEYS for r in records)
        assert records[0]["step_id"] == records[1]["step_id"]
        assert records[0]["effect"] == {"type": "ask_user", "payload": {"prompt": "é?", "n": [1, 2]},
                                        "result_key": "answer"}  # fmt: skip
        assert records[1]["result"]["wait"]["reason"] == "user"
        assert ledger.list("unknown-run") == []

    def test_find_completed_returns_the_first_completed_record_of_a_key(
        self, store_factory: StoreFactory
    ) -> None:
        _, ledger = store_factory.stores()
        run = make_run()
        effect = Effect(EffectType.LLM_CALL, {"prompt": "hi"})

        def record(status: StepStatus, result: dict[str, int] | None, key: str = "key-a") -> StepRecord:
            rec = StepRecord.start(run=run, node_id="n", effect=effect, idempotency_key=key)
            if status is StepStatus.COMPLETED:
                return rec.finish_success(result)
            if status is StepStatus.FAILED:
                return rec.finish_failure("boom")
            return rec

        for rec in (
            record(StepStatus.STARTED, None),
            record(StepStatus.FAILED, None),
            record(StepStatus.COMPLETED, {"n": 1}),
            record(StepStatus.COMPLETED, {"n": 2}),
            record(StepStatus.COMPLETED, {"n": 3}, key="key-b"),
        ):
            ledger.append(rec)
        finder = getattr(ledger, "find_completed", None)
        found = finder(run.run_id, "key-a") if callable(finder) else None
        expected = find_completed_in(ledger.list(run.run_id), "key-a")
        assert expected is not None and expected["result"] == {"n": 1}
        if callable(finder):
            assert found is not None and found["result"] == {"n": 1}
            assert finder(run.run_id, "missing") is None
            assert finder("other-run", "key-a") is None

    def test_find_completed_sees_records_appended_through_another_store_object(
        self, store_factory: StoreFactory
    ) -> None:
        _, ledger = store_factory.stores()
        finder = getattr(ledger, "find_completed", None)
        if not callable(finder):
            return
        run = make_run()
        assert finder(run.run_id, "k") is None
        _, other = store_factory.stores()
        done = StepRecord.start(run=run, node_id="n", effect=None, idempotency_key="k").finish_success(
            {"v": 1}
        )
        other.append(done)
        found = finder(run.run_id, "k")
        assert found is not None and found["result"] == {"v": 1}

    def test_find_started_returns_an_intent_no_later_record_of_its_key_ended(
        self, store_factory: StoreFactory
    ) -> None:
        _, ledger = store_factory.stores()
        run = make_run()
        effect = Effect(EffectType.TOOL_CALLS, {"tool_calls": [{"name": "t"}]})

        def start(key: str, attempt: int = 1) -> StepRecord:
            return StepRecord.start(run=run, node_id="n", effect=effect, attempt=attempt, idempotency_key=key)

        failed = start("failed")
        ledger.append(failed.snapshot())
        ledger.append(failed.finish_failure("boom"))
        done = start("done")
        ledger.append(done.snapshot())
        ledger.append(done.finish_success({"ok": True}))
        waited = start("waited")
        ledger.append(waited.snapshot())
        ledger.append(waited.finish_waiting(WaitState(reason=WaitReason.USER, wait_key="w")))
        retried = start("retried")
        ledger.append(retried.snapshot())
        ledger.append(retried.finish_failure("first attempt failed"))
        second = start("retried", attempt=2)
        ledger.append(second)
        ledger.append(start("open"))
        ledger.append(StepRecord.start(run=make_run(), node_id="n", effect=effect, idempotency_key="open"))
        finder = getattr(ledger, "find_started", None)
        records = ledger.list(run.run_id)
        for key in ("failed", "done", "waited", "missing"):
            assert find_started_in(records, key) is None
            if callable(finder):
                assert finder(run.run_id, key) is None, key
        for key, attempt in (("open", 1), ("retried", 2)):
            expected = find_started_in(records, key)
            assert expected is not None and expected["attempt"] == attempt
            if callable(finder):
                found = finder(run.run_id, key)
                assert found is not None and found["status"] == "started", key
                assert found["attempt"] == attempt and found["step_id"] == expected["step_id"]
        if callable(finder):
            assert finder("other-run", "open") is None
            ledger.append(start("open").finish_success({"late": True}))  # a later end closes the intent
            assert finder(run.run_id, "open") is None

    def test_find_started_sees_records_appended_through_another_store_object(
        self, store_factory: StoreFactory
    ) -> None:
        _, ledger = store_factory.stores()
        finder = getattr(ledger, "find_started", None)
        if not callable(finder):
            return
        run = make_run()
        assert finder(run.run_id, "k") is None
        _, other = store_factory.stores()
        intent = StepRecord.start(run=run, node_id="n", effect=None, idempotency_key="k")
        other.append(intent.snapshot())
        found = finder(run.run_id, "k")
        assert found is not None and found["step_id"] == intent.step_id
        other.append(intent.finish_success({"v": 1}))
        assert finder(run.run_id, "k") is None

    def test_count_matches_list_length(self, store_factory: StoreFactory) -> None:
        _, ledger = store_factory.stores()
        counter = getattr(ledger, "count", None)
        run = make_run()
        for _ in range(3):
            ledger.append(StepRecord.start(run=run, node_id="n", effect=None))
        assert len(ledger.list(run.run_id)) == 3
        if callable(counter):
            assert counter(run.run_id) == 3
            assert counter("unknown-run") == 0

    def test_count_many_counts_known_runs_and_omits_unknown_ones(self, store_factory: StoreFactory) -> None:
        _, ledger = store_factory.stores()
        count_many = getattr(ledger, "count_many", None)
        if not callable(count_many):
            return  # an optional extra (SPEC §7.4); nothing to check on a store without it
        first, second = make_run(), make_run()
        for run, n in ((first, 2), (second, 1)):
            for _ in range(n):
                ledger.append(StepRecord.start(run=run, node_id="n", effect=None))
        ids = ["unknown-run", second.run_id, first.run_id, "another-unknown"]
        assert count_many(ids) == {second.run_id: 1, first.run_id: 2}
        assert count_many(["unknown-run"]) == {}
        assert count_many([]) == {}
