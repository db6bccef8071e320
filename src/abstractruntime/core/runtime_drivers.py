"""Driver APIs of the ``Runtime``, as a mixin: for kernel drivers that keep runs loaded between steps.

``tick_many`` keeps each run's working copy between its turns (:attr:`RuntimeDrivers.step_loop`); event
delivery resumes listeners from the checkpoints it listed them with and goes on from the copy each wake
committed (:meth:`RuntimeDrivers.resume_checkpoint`, :meth:`RuntimeDrivers.tick_checkpoint`).  Every
commit still checks the run's revision, so a copy another writer has overtaken is refused.
"""

from __future__ import annotations

from typing import Any

from .engine.loop import StepLoop
from .engine.resume import Resumer
from .engine.store_access import WorkingRun
from .models import RunState
from .ports import Checkpoint
from .spec import WorkflowSpec

__all__ = ["RuntimeDrivers"]


class RuntimeDrivers:
    """Resume and tick runs the caller already holds with their revisions."""

    _loop: StepLoop
    _resumer: Resumer

    @property
    def step_loop(self) -> StepLoop:
        """The engine's step loop: ``load(run_id)`` a working copy, ``advance(workflow, work, steps)``
        it.  For kernel drivers that keep runs loaded between steps (``core.tick_many``)."""
        return self._loop

    def resume_checkpoint(
        self,
        *,
        workflow: WorkflowSpec,
        checkpoint: Checkpoint,
        wait_key: str | None,
        payload: Any,
        max_steps: int = 100,
    ) -> RunState:
        """:meth:`resume` for a run the caller has just read with its revision (``load_checkpoint``,
        ``list_checkpoints``): the run is not loaded again.

        ``checkpoint.run`` becomes the engine's working copy; on return ``checkpoint`` holds it with the
        revision last committed (for :meth:`tick_checkpoint`).  The revision check still applies: if the
        run changed since it was read, nothing is written.

        Raises:
            RunPausedError, RunNotWaitingError, WaitKeyMismatchError (all ValueError).
            ConcurrencyError: the run changed since the checkpoint was read; this resume was not applied.
        """
        work = WorkingRun(checkpoint.run, checkpoint.revision)
        run_id = checkpoint.run.run_id
        try:
            return self._resumer.resume(workflow, run_id, wait_key, payload, max_steps, loaded=work)
        finally:
            checkpoint.run, checkpoint.revision = work.run, work.revision or 0

    def tick_checkpoint(
        self, *, workflow: WorkflowSpec, checkpoint: Checkpoint, max_steps: int = 100
    ) -> RunState:
        """:meth:`tick` for a run the caller holds with its revision (a checkpoint that
        :meth:`resume_checkpoint` or this method left as committed): the run is not loaded again.

        On return ``checkpoint`` holds the working copy and the revision last committed, so a driver can
        go on from it.

        Raises:
            as :meth:`tick`; ConcurrencyError: the run changed since the checkpoint's revision.
        """
        work = WorkingRun(checkpoint.run, checkpoint.revision)
        try:
            return self._loop.advance(workflow, work, max_steps)
        finally:
            checkpoint.run, checkpoint.revision = work.run, work.revision or 0
