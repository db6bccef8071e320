"""Contract tests for RunStore backends: round trips, revisions, step commits and queries."""

from __future__ import annotations

import pytest

from ...core.models import RunStatus, StepRecord, WaitReason, WaitState
from ...errors import ConcurrencyError, NotJsonSafeError
from ...storage.base import QueryableRunIndexStore, QueryableRunStore, RevisionedRunStore
from .factory import StoreFactory, make_run, until_wait

__all__ = ["RunStoreContract"]


class RunStoreContract:
    """Subclass and provide a ``store_factory`` fixture (see the package docstring)."""

    def test_save_then_load_round_trips_every_field(self, store_factory: StoreFactory) -> None:
        runs, _ = store_factory.stores()
        wait = WaitState(
            reason=WaitReason.USER,
            wait_key="user:k",
            resume_to_node="next",
            result_key="answer.text",
            prompt="Pick one",
            choices=["a", "b"],
            allow_free_text=False,
            details={"kind": "demo", "n": [1, 2.5, None, True]},
        )
        run = make_run(status=RunStatus.WAITING, waiting=wait, vars={"é": {"deep": [1, {"x": "ü"}]}})
        run.actor_id, run.session_id, run.error, run.output = "actor", "session", None, None
        runs.save(run)
        loaded = (
            store_factory.stores()[0].load(run.run_id) if store_factory.durable else runs.load(run.run_id)
        )
        assert loaded is not None
        assert loaded.to_dict() == run.to_dict()
        assert loaded.status is RunStatus.WAITING
        assert loaded.waiting is not None and loaded.waiting.reason is WaitReason.USER

    def test_load_unknown_run_is_none(self, store_factory: StoreFactory) -> None:
        runs, _ = store_factory.stores()
        assert runs.load("no-such-run") is None

    def test_save_replaces_the_stored_state(self, store_factory: StoreFactory) -> None:
        runs, _ = store_factory.stores()
        run = make_run()
        runs.save(run)
        run.current_node, run.vars = "second", {"n": 2}
        runs.save(run)
        loaded = runs.load(run.run_id)
        assert loaded is not None and loaded.current_node == "second" and loaded.vars == {"n": 2}

    def test_commit_checks_the_revision_and_writes_nothing_on_conflict(
        self, store_factory: StoreFactory
    ) -> None:
        runs, ledger = store_factory.stores()
        if not isinstance(runs, RevisionedRunStore):
            pytest.skip(f"{store_factory.name} has no revisions")
        run = make_run()
        first = runs.commit(run, [], ledger_store=ledger, expected_revision=None)
        assert runs.current_revision(run.run_id) == first
        record = StepRecord.start(run=run, node_id="start", effect=None)
        run.current_node = "b"
        second = runs.commit(run, [record], ledger_store=ledger, expected_revision=first)
        assert second != first
        run.current_node = "stale"
        with pytest.raises(ConcurrencyError) as info:
            runs.commit(run, [record], ledger_store=ledger, expected_revision=first)
        assert info.value.run_id == run.run_id
        assert isinstance(info.value, RuntimeError)
        checkpoint = runs.load_checkpoint(run.run_id)
        assert checkpoint is not None
        assert checkpoint.revision == second
        if store_factory.durable:  # in-memory stores hold the live object, mutated above
            assert checkpoint.run.current_node == "b"
        assert len(ledger.list(run.run_id)) == 1
        with pytest.raises(ConcurrencyError):
            runs.commit(make_run(), [], ledger_store=ledger, expected_revision=7)

    def test_creating_an_existing_run_is_a_conflict(self, store_factory: StoreFactory) -> None:
        runs, ledger = store_factory.stores()
        if not isinstance(runs, RevisionedRunStore):
            pytest.skip(f"{store_factory.name} has no revisions")
        run = make_run()
        runs.commit(run, [], ledger_store=ledger, expected_revision=None)
        with pytest.raises(ConcurrencyError):
            runs.commit(run, [], ledger_store=ledger, expected_revision=None)

    def test_non_json_safe_state_is_refused_and_nothing_is_written(self, store_factory: StoreFactory) -> None:
        if not store_factory.durable:
            pytest.skip("in-memory stores accept any value (SPEC §2.3)")
        runs, ledger = store_factory.stores()
        run = make_run(vars={"ok": 1})
        runs.save(run)
        run.vars["bad"] = {"when": {1, 2}}
        with pytest.raises(NotJsonSafeError) as info:
            runs.save(run)
        assert info.value.path == "run.vars.bad.when"
        if isinstance(runs, RevisionedRunStore):
            revision = runs.current_revision(run.run_id)
            record = StepRecord.start(run=run, node_id="start", effect=None)
            with pytest.raises(NotJsonSafeError):
                runs.commit(run, [record], ledger_store=ledger, expected_revision=revision)
            assert ledger.list(run.run_id) == []
        loaded = store_factory.stores()[0].load(run.run_id)
        assert loaded is not None and loaded.vars == {"ok": 1}

    def test_list_runs_filters_and_orders_newest_first(self, store_factory: StoreFactory) -> None:
        runs, _ = store_factory.stores()
        if not isinstance(runs, QueryableRunStore):
            pytest.skip(f"{store_factory.name} is not queryable")
        a = make_run(workflow_id="alpha", updated_at="2026-01-01T00:00:01+00:00")
        b = make_run(workflow_id="alpha", status=RunStatus.COMPLETED, updated_at="2026-01-01T00:00:03+00:00")
        c = make_run(
            workflow_id="beta",
            status=RunStatus.WAITING,
            waiting=WaitState(reason=WaitReason.EVENT, wait_key="evt:session:s:x"),
            updated_at="2026-01-01T02:00:02+02:00",  # 00:00:02 UTC
        )
        for run in (a, b, c):
            runs.save(run)
        assert [r.run_id for r in runs.list_runs()] == [b.run_id, c.run_id, a.run_id]
        assert [r.run_id for r in runs.list_runs(workflow_id="alpha")] == [b.run_id, a.run_id]
        assert [r.run_id for r in runs.list_runs(status=RunStatus.WAITING)] == [c.run_id]
        assert [r.run_id for r in runs.list_runs(wait_reason=WaitReason.EVENT)] == [c.run_id]
        assert runs.list_runs(status=RunStatus.FAILED) == []
        assert len(runs.list_runs(limit=2)) == 2

    def test_due_timers_are_listed_earliest_first_comparing_time(self, store_factory: StoreFactory) -> None:
        runs, _ = store_factory.stores()
        if not isinstance(runs, QueryableRunStore):
            pytest.skip(f"{store_factory.name} is not queryable")
        late = make_run(status=RunStatus.WAITING, waiting=until_wait("2026-03-01T10:00:00+00:00"))
        early = make_run(status=RunStatus.WAITING, waiting=until_wait("2026-03-01T11:30:00+02:00"))  # 09:30Z
        zulu = make_run(status=RunStatus.WAITING, waiting=until_wait("2026-03-01T09:45:00Z"))
        future = make_run(status=RunStatus.WAITING, waiting=until_wait("2026-03-01T10:00:00.500000+00:00"))
        user = make_run(status=RunStatus.WAITING, waiting=WaitState(reason=WaitReason.USER, wait_key="u"))
        for run in (late, early, zulu, future, user):
            runs.save(run)
        due = runs.list_due_wait_until(now_iso="2026-03-01T10:00:00+00:00")
        assert [r.run_id for r in due] == [early.run_id, zulu.run_id, late.run_id]
        assert [r.run_id for r in runs.list_due_wait_until(now_iso="2026-03-01T10:00:00Z", limit=1)] == [
            early.run_id
        ]
        late.status, late.waiting = RunStatus.RUNNING, None
        runs.save(late)
        due = runs.list_due_wait_until(now_iso="2026-03-01T12:00:00+00:00")
        assert [r.run_id for r in due] == [early.run_id, zulu.run_id, future.run_id]

    def test_list_children_orders_by_creation(self, store_factory: StoreFactory) -> None:
        runs, _ = store_factory.stores()
        if not isinstance(runs, QueryableRunStore):
            pytest.skip(f"{store_factory.name} is not queryable")
        parent = make_run()
        runs.save(parent)
        second = make_run(parent_run_id=parent.run_id, created_at="2026-01-02T00:00:00+00:00")
        first = make_run(
            parent_run_id=parent.run_id, created_at="2026-01-01T00:00:00+00:00", status=RunStatus.COMPLETED
        )
        for run in (second, first, make_run()):
            runs.save(run)
        assert [r.run_id for r in runs.list_children(parent_run_id=parent.run_id)] == [
            first.run_id,
            second.run_id,
        ]
        done = runs.list_children(parent_run_id=parent.run_id, status=RunStatus.COMPLETED)
        assert [r.run_id for r in done] == [first.run_id]
        assert runs.list_children(parent_run_id="nobody") == []

    def test_run_index_rows(self, store_factory: StoreFactory) -> None:
        runs, _ = store_factory.stores()
        if not isinstance(runs, QueryableRunIndexStore):
            pytest.skip(f"{store_factory.name} has no run index")
        root = make_run(session_id="s1", updated_at="2026-01-01T00:00:01+00:00")
        child = make_run(
            parent_run_id=root.run_id,
            session_id="s1",
            status=RunStatus.WAITING,
            waiting=until_wait("2026-05-01T00:00:00+00:00"),
            updated_at="2026-01-01T00:00:02+00:00",
        )
        for run in (root, child, make_run(session_id="s2")):
            runs.save(run)
        rows = runs.list_run_index(session_id="s1")
        assert [r["run_id"] for r in rows] == [child.run_id, root.run_id]
        expected_keys = {
            "run_id", "workflow_id", "status", "wait_reason", "wait_until", "parent_run_id",
            "actor_id", "session_id", "created_at", "updated_at",
        }  # fmt: skip
        assert set(rows[0]) == expected_keys
        assert rows[0]["status"] == "waiting" and rows[0]["wait_reason"] == "until"
        assert rows[0]["wait_until"] == "2026-05-01T00:00:00+00:00"
        assert [r["run_id"] for r in runs.list_run_index(session_id="s1", root_only=True)] == [root.run_id]

    def test_a_restart_sees_everything(self, store_factory: StoreFactory) -> None:
        runs, ledger = store_factory.stores()
        run = make_run(vars={"k": [1, 2, 3]})
        runs.save(run)
        ledger.append(StepRecord.start(run=run, node_id="start", effect=None))
        reopened_runs, reopened_ledger = store_factory.stores()
        loaded = reopened_runs.load(run.run_id)
        assert loaded is not None and loaded.vars == {"k": [1, 2, 3]}
        assert len(reopened_ledger.list(run.run_id)) == 1
