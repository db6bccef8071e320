"""Helpers of the worker tests: spawn worker processes, enqueue runs, answer their waits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from abstractruntime.storage.commands import CommandRecord

WORKER_MAIN = Path(__file__).with_name("worker_main.py")


def spawn_worker(
    url: str, log: Path, *, concurrency: int = 1, ttl_s: float = 2.0, name: str = "worker"
) -> subprocess.Popen[bytes]:
    """Start ``worker_main.py``; its stderr goes to ``<log dir>/<name>.<n>.err``."""
    index = len(list(log.parent.glob(f"{name}.*.err")))
    with open(log.parent / f"{name}.{index}.err", "ab") as err:
        return subprocess.Popen(
            [sys.executable, str(WORKER_MAIN), url, str(log), str(concurrency), str(ttl_s)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def enqueue_runs(inbox: Any, count: int) -> None:
    """``count`` start commands for the ``mixed`` workflow (even: event wait, odd: user wait)."""
    for i in range(count):
        mode = "event" if i % 2 == 0 else "user"
        payload = {"workflow_id": "mixed", "vars": {"mode": mode, "i": i}, "session_id": f"s-{i}"}
        inbox.append(CommandRecord(f"start-{i}", "-", "start", payload, ""))


def answer_waits(stores: Any) -> int:
    """Send one idempotent command per run waiting on an event or a user; returns how many runs wait."""
    with stores.database.connection() as conn:
        rows = conn.execute(
            "SELECT run_id, wait_reason, session_id FROM runs WHERE status = 'waiting' "
            "AND wait_reason IN ('event', 'user')"
        ).fetchall()
    for run_id, reason, session in rows:
        if reason == "event":
            payload = {"name": "go", "scope": "session", "session_id": session, "payload": {"n": 1}}
            stores.command_store.append(CommandRecord(f"emit-{run_id}", run_id, "emit_event", payload, ""))
        else:
            payload = {"wait_key": None, "payload": {"text": "yes"}}
            stores.command_store.append(CommandRecord(f"answer-{run_id}", run_id, "resume", payload, ""))
    return len(rows)


def status_counts(stores: Any) -> dict[str, int]:
    """``{status: count}`` over every run."""
    with stores.database.connection() as conn:
        rows = conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
    return {str(s): int(n) for s, n in rows}
