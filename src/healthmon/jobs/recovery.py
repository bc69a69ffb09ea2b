"""Orphaned runs: runs left active by a runner that died (SIGKILL, OOM, reboot).

Policy: terminate, not resume. An orphaned run and its unfinished task runs end in
INTERNAL_ERROR (result FAILED, termination code INTERNAL_ERROR) with a message naming the dead
runner; task processes it left behind are killed (their process groups). Resuming would re-run
side-effecting notebooks whose partial effects are unknown; child runs it started
(``run_job_task``) are canceled; the user decides with
``healthmon runs repair --rerun-all-failed-tasks``, which re-runs exactly the unfinished tasks.

A run is orphaned when its runner pid (on this host) is gone or is a different process
(start-time check), when its heartbeat is older than ``STALE_SECONDS``, or when no runner
claimed it within ``STALE_SECONDS`` of its creation/repair.
"""

from __future__ import annotations

import os
import socket

import psutil

from healthmon.settings import Settings, env_number
from healthmon.store.db import Database
from healthmon.store.runs import (
    ACTIVE_STATES,
    RunRecord,
    active_child_runs,
    active_job_runs,
    now_ms,
    task_runs,
)

STALE_SECONDS = float(env_number("HEALTHMON_RUNNER_STALE_SECONDS") or 60)


def process_alive(pid: int | None, started_ms: int | None) -> bool:
    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        if started_ms and abs(int(p.create_time() * 1000) - started_ms) > 1000:
            return False  # pid reused by another process
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _orphan_reason(row: RunRecord, now: int) -> str | None:
    host = socket.gethostname()
    stale_ms = STALE_SECONDS * 1000
    if row.runner_pid is None:
        if now - row.created_time > stale_ms:
            return f"no runner picked the run up within {STALE_SECONDS:.0f} s"
        return None
    if row.runner_host == host:
        if not process_alive(row.runner_pid, row.runner_started):
            return f"its runner process (pid {row.runner_pid}) is gone"
        return None
    if now - (row.heartbeat or row.created_time) > stale_ms:
        return f"its runner on {row.runner_host} stopped heartbeating"
    return None


def reap_orphans(db: Database | None = None, run_ids: list[int] | None = None) -> list[int]:
    """Terminate every orphaned active job run; returns their ids."""
    db = db or Database.from_settings(Settings.from_env())
    now = now_ms()
    reaped: list[int] = []
    with db.session() as s:
        for row in active_job_runs(s):
            if run_ids is not None and row.run_id not in run_ids:
                continue
            reason = _orphan_reason(row, now)
            if reason is None:
                continue
            message = f"Run terminated by recovery: {reason} while the run was {row.life_cycle_state}."
            for t in _descendants(s, row.run_id):
                if t.life_cycle_state in ACTIVE_STATES:
                    _kill_task_group(t.runner_pid)
                    _mark(t, now, message)
            _mark(row, now, message)
            reaped.append(row.run_id)
            # Its run_job_task children would run on unobserved: canceled, as Databricks does.
            cancel_child_runs(s, row.run_id)
    return reaped


def cancel_child_runs(s, run_id: int) -> list[int]:
    """Flag every active run started by ``run_id`` (and theirs, down the tree) for cancellation;
    their runners stop them within a second. Returns their ids."""
    flagged: list[int] = []
    parents = [run_id]
    while parents:
        children = [r for p in parents for r in active_child_runs(s, p)]
        for child in children:
            child.cancel_requested = True
            flagged.append(child.run_id)
        parents = [c.run_id for c in children]
    return flagged


def _kill_task_group(pid: int | None) -> None:
    """A task process leads its own process group; kill the group only if that still holds."""
    if not pid:
        return
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, 9)
    except (ProcessLookupError, PermissionError):
        pass


def _descendants(s, run_id: int) -> list[RunRecord]:
    out = []
    for t in task_runs(s, run_id):
        out.append(t)
        out.extend(task_runs(s, t.run_id))  # for_each iterations
    return out


def _mark(row: RunRecord, now: int, message: str) -> None:
    row.life_cycle_state = "INTERNAL_ERROR"
    row.result_state = "FAILED"
    row.termination_code = "INTERNAL_ERROR"
    row.termination_type = "INTERNAL_ERROR"
    row.state_message = message
    row.end_time = now
    if not row.start_time:
        row.start_time = now
