"""``PostgresWorker``: one of many worker processes sharing a PostgreSQL database (``docs/scaling.md``).

Each worker thread loops:

1. **Commands.** Pending inbox commands (``start``, ``resume``, ``emit_event``) are claimed with
   ``FOR UPDATE SKIP LOCKED`` and applied in the claiming transaction, which also marks them done: a
   command's effects (the run it creates, the waits an event resumes) and its ``done`` mark commit
   together, exactly once.
2. **Runs.** One ready run — RUNNING, or WAITING on a due timer — whose lease is free or expired is
   claimed with ``FOR UPDATE SKIP LOCKED``; the claim takes the lease (``generation + 1``), so an expired
   lease of a dead or paused worker is reaped by the claim itself.  The run is ticked with every commit
   fenced by that lease (``PostgresRunStore.fenced``): a worker whose lease lapsed or was taken over
   gets :class:`~abstractruntime.errors.LeaseLostError` and changes nothing.  The lease is released after
   the tick (the commit that ends a run already deleted it, so a crash right after leaves none behind).
3. **Idle.** With nothing to claim the thread waits for a ``NOTIFY`` on the work channel (sent by
   command appends and by every step commit that leaves work behind) or ``poll_s`` seconds; polling is
   the correctness path, notifications only cut latency.

A heartbeat thread renews every held lease each ``ttl_s / 3`` seconds.  :meth:`PostgresWorker.stop`
(SIGTERM in the CLI) lets each thread finish its current step, then the leases are released.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from ...core.leases import new_owner_id
from ...core.models import RunState, RunStatus
from ...core.runtime import Runtime
from ...errors import ConcurrencyError, LeaseLostError
from ..leases import lease_stamp
from ..urls import Stores
from .commands import COMMANDS_CHANNEL, PostgresCommandStore
from .runs import Fence, PostgresRunStore

__all__ = ["PostgresWorker", "WorkerStats"]

_log = logging.getLogger("abstractruntime.worker")

_CLAIM = """
SELECT r.run_id, r.workflow_id FROM runs r LEFT JOIN run_leases l ON l.run_id = r.run_id
WHERE (r.status = 'running' OR (r.due_at IS NOT NULL AND r.due_at <= %(now)s))
  AND (l.run_id IS NULL OR l.owner IS NULL OR l.expires_at IS NULL OR l.expires_at <= %(now)s)
ORDER BY r.updated_at LIMIT 1 FOR UPDATE OF r SKIP LOCKED
"""
_TAKE = """
INSERT INTO run_leases (run_id, owner, expires_at, generation) VALUES (%(run)s, %(owner)s, %(until)s, 1)
ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
    generation = run_leases.generation + 1
WHERE run_leases.owner IS NULL OR run_leases.expires_at IS NULL OR run_leases.expires_at <= %(now)s
RETURNING generation
"""

Resolver = Callable[[str, "RunState | None", "dict[str, Any] | None"], None]
"""``resolve(workflow_id, run, start_vars)``: register an unknown workflow (see ``PostgresWorker``)."""

RuntimeFactory = Callable[[Stores], Runtime]
"""``make(stores) -> Runtime`` over ``stores.run_store``/``ledger_store``, with the host's handlers."""

RunRuntime = Callable[[RunState], Runtime]
"""``runtime_for_run(run) -> Runtime``: the runtime to start, resume and drive ``run`` with."""


class WorkerStats:
    """Counters of one worker process (updated by its threads)."""

    def __init__(self) -> None:
        self.runs_claimed = 0
        self.commands_applied = 0
        self.fenced_out = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def add(self, name: str, value: int = 1) -> None:
        """Add ``value`` to the counter ``name``."""
        with self._lock:
            setattr(self, name, getattr(self, name) + value)


class PostgresWorker:
    """Drives the runs of a PostgreSQL database alongside other workers (see the module docstring).

    Args:
        stores: ``open_stores("postgresql://…")``.
        registry: ``workflow_id -> WorkflowSpec`` lookup (``get(workflow_id)``), e.g. a ``WorkflowRegistry``.
        make_runtime: builds the Runtime each thread drives with (effect handlers, clock ...).
        concurrency: worker threads (>= 1).
        ttl_s: lease lifetime in seconds; the heartbeat renews every ``ttl_s / 3``.
        poll_s: the longest idle wait between claims, in seconds.
        max_steps: steps per claim before the run is released (it is claimed again at once if ready).
        owner: this worker's id (default ``host:pid:random``).
        on_unknown_workflow: ``f(workflow_id, run, start_vars)`` called when a workflow is not in the
            registry (it may register it): ``run`` is the stored run that needs it (None for a
            ``start`` command, then ``start_vars`` are the vars the run will start with).
        runtime_for_run: ``f(run) -> Runtime`` when runs carry their own options (the CLI's
            ``vars._runtime``: LLM settings, tool approval mode, ``--fake-llm`` ...): the runtime that
            starts (``run`` is then the run about to be created), resumes and drives that run.  It is
            called from every worker thread.  Default: the one runtime of ``make_runtime`` for all.

    Raises:
        ValueError: ``concurrency < 1``, ``ttl_s <= 0`` or ``poll_s <= 0``.
    """

    def __init__(
        self,
        stores: Stores,
        *,
        registry: Any,
        make_runtime: RuntimeFactory,
        concurrency: int = 1,
        ttl_s: float = 30.0,
        poll_s: float = 1.0,
        max_steps: int = 100,
        owner: str | None = None,
        on_unknown_workflow: Resolver | None = None,
        runtime_for_run: RunRuntime | None = None,
    ) -> None:
        if concurrency < 1 or ttl_s <= 0 or poll_s <= 0:
            raise ValueError("concurrency must be >= 1, ttl_s and poll_s > 0")
        if not isinstance(stores.run_store, PostgresRunStore):
            raise ValueError(f"PostgresWorker needs postgresql:// stores, got {stores.url!r}")
        self.stores = stores
        self.runs: PostgresRunStore = stores.run_store
        self.db = self.runs.db
        self.commands: PostgresCommandStore = stores.command_store
        self.registry = registry
        self.runtime = make_runtime(stores)
        self.concurrency, self.ttl_s, self.poll_s, self.max_steps = concurrency, ttl_s, poll_s, max_steps
        self.owner = owner or new_owner_id()
        self.on_unknown_workflow = on_unknown_workflow
        self.runtime_for_run = runtime_for_run
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._held: dict[str, int] = {}
        self._held_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask every thread to stop after its current step (safe from a signal handler)."""
        self._stop.set()

    def run(self, *, until: Callable[[], bool] | None = None) -> WorkerStats:
        """Work until :meth:`stop` (or ``until()`` returns True); then release held leases.

        Returns:
            This worker's counters.
        """
        threads = [
            threading.Thread(target=self._loop, name=f"ar-worker-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        helpers = [
            threading.Thread(target=self._heartbeat, name="ar-worker-heartbeat", daemon=True),
            threading.Thread(target=self._listen, name="ar-worker-listen", daemon=True),
        ]
        for thread in threads + helpers:
            thread.start()
        while not self._stop.wait(0.2):
            if until is not None and until():
                self._stop.set()
        self._notify_all()
        for thread in threads:
            thread.join()
        self._release_all()
        return self.stats

    def _release_all(self) -> None:
        """Give up every lease this owner still has (also ones a cut connection kept it from
        releasing): forgotten for runs that are not RUNNING, freed for the others.  Tried twice: a
        connection the server dropped is only noticed on use, and the second try takes a new one."""
        import psycopg

        for attempt in (1, 2):
            try:
                with self.db.transaction() as conn:
                    conn.execute(
                        "DELETE FROM run_leases l USING runs r WHERE l.run_id = r.run_id AND l.owner = %s "
                        "AND r.status <> 'running'",
                        (self.owner,),
                    )
                    conn.execute(
                        "UPDATE run_leases SET owner = NULL, expires_at = NULL WHERE owner = %s",
                        (self.owner,),
                    )
                return
            except psycopg.OperationalError:
                if attempt == 2:
                    _log.warning("worker %s could not release its leases; they expire", self.owner)

    # -- the loop --------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self._apply_commands() or self._claim_and_drive()
            except Exception as exc:  # noqa: BLE001 - one bad run or a lost connection must not end the worker
                _log.warning("worker %s: %s", self.owner, exc, exc_info=True)
                self.stats.errors.append(f"{type(exc).__name__}: {exc}")
                worked = False
                self._stop.wait(min(self.poll_s, 1.0))
            if not worked:
                with self._wake:
                    self._wake.wait(self.poll_s)

    def _apply_commands(self) -> bool:
        with self.db.transaction() as conn:
            claimed = self.commands.claim_pending(conn, limit=1)
            for command in claimed:
                try:  # a refused command is undone (its savepoint) and marked done with its error
                    with conn.transaction():
                        outcome = self._apply(command.type, command.run_id, command.payload)
                except (KeyError, ValueError, TypeError, ConcurrencyError) as exc:
                    outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                self.commands.mark_done(conn, command.seq, outcome)
                self.stats.add("commands_applied")
            if claimed:
                conn.execute("SELECT pg_notify(%s, 'run')", (COMMANDS_CHANNEL,))
        return bool(claimed)

    def _apply(self, kind: str, run_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply one command; returns its outcome.

        Raises:
            KeyError, ValueError, TypeError, ConcurrencyError: the command cannot be applied.
        """
        if kind == "start":
            start_vars = payload.get("vars") or {}
            workflow_id = str(payload["workflow_id"])
            spec = self._workflow(workflow_id, None, start_vars)
            runtime = self.runtime
            if self.runtime_for_run is not None:
                runtime = self.runtime_for_run(
                    RunState.new(workflow_id=workflow_id, entry_node="-", vars=start_vars)
                )
            new_id = runtime.start(workflow=spec, vars=start_vars, session_id=payload.get("session_id"))
            return {"ok": True, "run_id": new_id}
        if kind == "resume":
            state = self.runtime.run_store.load(run_id)
            if state is None:
                return {"ok": False, "error": f"unknown run {run_id}"}
            spec = self._workflow(state.workflow_id, state)
            self._runtime_of(state).resume(
                workflow=spec,
                run_id=run_id,
                wait_key=payload.get("wait_key"),
                payload=payload.get("payload"),
                max_steps=0,
            )
            return {"ok": True, "run_id": run_id}
        if kind == "emit_event":
            from ...scheduler import Scheduler

            self._register_listeners()
            scheduler = Scheduler(runtime=self.runtime, registry=self.registry)
            woken = scheduler.emit_event(
                name=str(payload["name"]),
                payload=payload.get("payload"),
                scope=str(payload.get("scope") or "session"),
                session_id=payload.get("session_id"),
                workflow_id=payload.get("workflow_id"),
                run_id=payload.get("target_run_id"),
                max_steps=0,
            )
            return {"ok": True, "resumed": [r.run_id for r in woken]}
        return {"ok": False, "error": f"unknown command type {kind!r}"}

    def _register_listeners(self) -> None:
        """Resolve the workflows of runs waiting on events, so an event reaches every listener."""
        if self.on_unknown_workflow is None:
            return
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT ON (workflow_id) run_id, workflow_id FROM runs "
                "WHERE status = 'waiting' AND wait_reason = 'event'"
            ).fetchall()
        for run_id, workflow_id in rows:
            if self.registry.get(workflow_id) is None:
                self.on_unknown_workflow(workflow_id, self.runs.load(run_id), None)

    def _workflow(
        self, workflow_id: str, run: RunState | None = None, start_vars: dict[str, Any] | None = None
    ) -> Any:
        spec = self.registry.get(workflow_id)
        if spec is None and self.on_unknown_workflow is not None:
            self.on_unknown_workflow(workflow_id, run, start_vars)
            spec = self.registry.get(workflow_id)
        if spec is None:
            raise KeyError(f"workflow {workflow_id!r} is not known to this worker")
        return spec

    def _claim_and_drive(self) -> bool:
        now = datetime.now(timezone.utc)
        params = {
            "now": lease_stamp(now),
            "owner": self.owner,
            "until": lease_stamp(now + timedelta(seconds=self.ttl_s)),
        }
        with self.db.transaction() as conn:
            row = conn.execute(_CLAIM, params).fetchone()
            if row is None:
                return False
            run_id, workflow_id = row
            taken = conn.execute(_TAKE, {**params, "run": run_id}).fetchone()
        if taken is None:
            return True  # another worker's lease came alive meanwhile; look again
        generation = int(taken[0])
        with self._held_lock:
            self._held[run_id] = generation
        self.stats.add("runs_claimed")
        try:
            self._drive(run_id, workflow_id, generation)
        finally:
            with self._held_lock:
                self._held.pop(run_id, None)
        return True

    def _drive(self, run_id: str, workflow_id: str, generation: int) -> None:
        fence = Fence(run_id, self.owner, generation)
        state = None
        try:
            checkpoint = self.runs.load_checkpoint(run_id)  # the one read: steps go on from its copy
            if checkpoint is None:
                return  # deleted since the claim (its lease row went with it)
            spec = self.registry.get(workflow_id) or self._workflow(workflow_id, checkpoint.run)
            runtime = self._runtime_of(checkpoint.run)
            with self.runs.fenced(fence):
                steps = 0
                while steps < self.max_steps and not self._stop.is_set():
                    state = runtime.tick_checkpoint(workflow=spec, checkpoint=checkpoint, max_steps=1)
                    steps += 1
                    if state.status != RunStatus.RUNNING:
                        break
        except LeaseLostError as exc:
            self.stats.add("fenced_out")
            _log.warning("worker %s fenced out of run %s: %s", self.owner, run_id, exc)
            return  # not ours any more: leave the lease alone
        except ConcurrencyError as exc:
            _log.info("run %s moved under worker %s: %s", run_id, self.owner, exc)
        forget = state is not None and state.status != RunStatus.RUNNING
        self.stores.lease_store.release_lease(run_id, owner=self.owner, forget=forget)
        if state is not None and state.status == RunStatus.RUNNING:
            self.db.notify(COMMANDS_CHANNEL, "run")

    # -- helpers ---------------------------------------------------------------------------------
    def _runtime_of(self, run: RunState) -> Runtime:
        return self.runtime if self.runtime_for_run is None else self.runtime_for_run(run)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            with self._held_lock:
                held = list(self._held)
            now = datetime.now(timezone.utc)
            for run_id in held:
                try:
                    self.stores.lease_store.renew_lease(run_id, owner=self.owner, ttl_s=self.ttl_s, now=now)
                except Exception:  # noqa: BLE001 - a lost connection: the fence stops stale writes; retry
                    _log.warning("heartbeat of %s failed", run_id, exc_info=True)

    def _listen(self) -> None:
        import psycopg

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.db.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {COMMANDS_CHANNEL}")
                    backoff = 0.5
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._notify_all()
            except psycopg.Error:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _notify_all(self) -> None:
        with self._wake:
            self._wake.notify_all()
