"""The runner: the detached process that executes one job run,
``python -m healthmon.jobs.runner <run_id> [--repair ID]`` (started by ``runner_start.start_runner``).

Lifecycle: reap orphans → claim the run (pid, host, process start time) → wait in the queue if
QUEUED (max_concurrent_runs, FIFO) → RUNNING → execute the DAG → TERMINATED with the result →
notifications. Every step is a short transaction so the run is always readable.

A child run started by one of the run's ``run_job_task``s executes in this same process, on a
thread running this same run loop (``run_in_thread``): no interpreter starts for it. It claims
its row with this process's pid and start time, so recovery treats both runs alike when the
process dies, and the process does not exit before its child runs have ended.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

import psutil
from sqlalchemy import update

from healthmon.jobs import confine, plan
from healthmon.jobs.executor import RunExecutor
from healthmon.jobs.recovery import reap_orphans
from healthmon.settings import Settings
from healthmon.store.db import Database
from healthmon.store.runs import (
    RunRecord,
    count_active_job_runs,
    count_queued_before,
    get_repair,
    get_run,
    latest_task_runs,
    lock_job,
    now_ms,
    task_runs,
)


def _claim(db: Database, run_id: int, repair_id: int | None):
    """Take the run for this runner. None: nothing to run (gone or already over); "queued": it
    waits for a slot of its job first; else it is RUNNING now, in the same transaction (see
    ``_mark_running``)."""
    me = psutil.Process()
    with db.session() as s:
        row = s.get(RunRecord, run_id)
        if row is None or row.is_terminal:
            return None
        row.runner_pid = me.pid
        row.runner_started = int(me.create_time() * 1000)
        row.runner_host = socket.gethostname()
        row.heartbeat = now_ms()
        if row.life_cycle_state == "QUEUED" and repair_id is None:
            return "queued"
        return _mark_running(row, repair_id)


def _mark_running(row: RunRecord, repair_id: int | None) -> tuple[bool, dict, dict]:
    """RUNNING (unless canceled meanwhile); returns (canceled, params, settings snapshot)."""
    canceled = bool(row.cancel_requested)
    if not canceled:
        row.life_cycle_state = "RUNNING"
        row.state_message = ""
        if repair_id is None:
            row.start_time = now_ms()
    return canceled, row.j("params"), row.j("settings")


def _finish(db: Database, run_id: int, life: str, result: str, code: str, ttype: str, message: str,
            repair_id: int | None = None) -> None:
    with db.session() as s:
        row = get_run(s, run_id)
        row.life_cycle_state = life
        row.result_state = result
        row.termination_code = code
        row.termination_type = ttype
        row.state_message = message
        row.end_time = now_ms()
        row.user_cancelled_or_timedout = result in ("CANCELED", "TIMEDOUT")
        if not row.start_time:
            row.start_time = row.end_time
        # Task rows created up front that never ran (canceled while queued, invalid settings):
        # one UPDATE, not an ORM load of every task run of the run.
        s.execute(update(RunRecord).where(
            RunRecord.job_run_id == run_id, RunRecord.life_cycle_state.in_(("PENDING", "BLOCKED", "QUEUED"))
        ).values(life_cycle_state="TERMINATED" if result == "CANCELED" else life,
                 result_state="CANCELED" if result == "CANCELED" else "FAILED",
                 state_message=message, start_time=row.end_time, end_time=row.end_time),
            execution_options={"synchronize_session": False})
        if repair_id is not None:
            _close_repair(s, row, repair_id)


def _wait_in_queue(db: Database, run_id: int) -> bool:
    """False when the run was canceled while queued."""
    while True:
        with db.session() as s:
            row = get_run(s, run_id)
            if row.cancel_requested:
                return False
            if row.life_cycle_state != "QUEUED":
                return True
            lock_job(s, row.job_id)
            settings = row.j("settings")
            max_runs = int(settings.get("max_concurrent_runs") or 1)
            if count_active_job_runs(s, row.job_id) + count_queued_before(s, row.job_id, run_id) < max_runs:
                row.life_cycle_state = "PENDING"
                row.queue_duration = now_ms() - row.created_time
                row.state_message = ""
                return True
            row.heartbeat = now_ms()
        time.sleep(0.2)


def execute(run_id: int, repair_id: int | None = None) -> None:
    t0 = time.time()
    settings = Settings.from_env()
    db = Database.from_settings(settings)
    reap_orphans(db)
    t1 = time.time()
    claimed = _claim(db, run_id, repair_id)
    if claimed is None:
        return
    if claimed == "queued":
        if not _wait_in_queue(db, run_id):
            _finish(db, run_id, "TERMINATED", "CANCELED", "USER_CANCELED", "SUCCESS", "Run canceled while queued.")
            return
        with db.session() as s:
            claimed = _mark_running(get_run(s, run_id), repair_id)
    canceled, params, job_settings = claimed
    print(f"runner {os.getpid()}: {confine.status()}", file=sys.stderr, flush=True)
    # Start-up cost, for whoever reads runner.log wondering where a run's first second went.
    print(f"runner {os.getpid()}: run {run_id} RUNNING at {time.time():.3f} (orphan check {1000 * (t1 - t0):.0f} ms, "
          f"claim and queue {1000 * (time.time() - t1):.0f} ms)", file=sys.stderr, flush=True)
    if canceled:
        _finish(db, run_id, "TERMINATED", "CANCELED", "USER_CANCELED", "SUCCESS", "Run canceled before it started.")
        return

    from healthmon.jobs import notify

    # Notifications read the run back: skipped when the job has none to send.
    notifies = bool(job_settings.get("email_notifications") or job_settings.get("webhook_notifications"))
    if notifies:
        notify.run_event(run_id, "on_start")
    try:
        executor = RunExecutor(db, settings, run_id, run_child=run_in_thread)
    except Exception as exc:  # invalid settings snapshot and the like
        _finish(db, run_id, "INTERNAL_ERROR", "FAILED", "INVALID_RUN_CONFIGURATION", "CLIENT_ERROR", str(exc))
        notify.run_event(run_id, "on_failure")
        return
    prior: dict[str, plan.TaskResult] = {}
    prior_values: dict[str, dict] = {}
    prior_refs: dict[str, str] = {}
    if repair_id is not None:
        with db.session() as s:
            rerun = set(json.loads(get_repair(s, repair_id).rerun_json))
            for key, t in latest_task_runs(s, run_id).items():
                if key in rerun:
                    continue
                out = t.j("output") or {}
                prior[key] = plan.TaskResult(t.result_state or "FAILED", out.get("outcome"))
                values = t.j("values") or {}
                if values:
                    prior_values[key] = values
                    prior_refs.update(
                        {
                            f"tasks.{key}.values.{n}": v if isinstance(v, str) else json.dumps(v)
                            for n, v in values.items()
                        }
                    )
                prior_refs[f"tasks.{key}.run_id"] = str(t.run_id)
        keys = [k for k in executor.by_key if k in rerun]
    else:
        keys = params.get("only") or list(executor.by_key)

    results = executor.execute(keys, prior, prior_values, prior_refs, repair_id)

    if executor.cancel.is_set():
        outcome = ("TERMINATED", "CANCELED", "USER_CANCELED", "SUCCESS", "Run canceled by user.")
    elif executor.timed_out.is_set():
        outcome = ("TERMINATED", "TIMEDOUT", "CANCELED", "CLIENT_ERROR",
                   f"Run timed out after {job_settings.get('timeout_seconds')} seconds (job timeout_seconds).")
    else:
        result, code, message = plan.run_result(executor.by_key, results)
        if result == "FAILED":
            message = _failure_message(db, run_id) or message
        outcome = ("TERMINATED", result, code, "SUCCESS" if result.startswith("SUCCESS") else "CLIENT_ERROR", message)
    _finish(db, run_id, *outcome, repair_id=repair_id)
    if notifies:
        notify.run_event(run_id, "on_success" if outcome[1].startswith("SUCCESS") else "on_failure")


def _failure_message(db: Database, run_id: int) -> str:
    with db.session() as s:
        for key, t in latest_task_runs(s, run_id).items():
            if t.result_state in ("FAILED", "TIMEDOUT"):
                return f"Task {key} failed with message: {t.state_message}"
    return ""


def _close_repair(s, row: RunRecord, repair_id: int) -> None:
    """Completes the repair's history item in the transaction that ends the run."""
    from healthmon.jobs import api

    history = row.j("repair") or []
    ids = sorted(t.run_id for t in task_runs(s, row.run_id) if t.repair_id == repair_id)
    for item in history:
        if item.get("id") == repair_id:
            item.update(
                {"end_time": row.end_time, "state": api.state(row), "status": api.status(row), "task_run_ids": ids}
            )
    row.set_j("repair", history)


def execute_or_fail(run_id: int, repair_id: int | None = None) -> bool:
    """``execute``; a runtime failure ends the run INTERNAL_ERROR instead of leaving it active."""
    try:
        execute(run_id, repair_id)
    except Exception as exc:
        import traceback

        traceback.print_exc()
        try:
            db = Database.from_settings(Settings.from_env())
            _finish(db, run_id, "INTERNAL_ERROR", "FAILED", "INTERNAL_ERROR", "INTERNAL_ERROR",
                    f"The runner failed: {type(exc).__name__}: {exc}")
        except Exception:
            pass
        return False
    return True


def run_in_thread(run_id: int) -> threading.Thread:
    """Execute ``run_id`` (a child run of a run of this process) on a new thread of this runner.

    Not a daemon thread: the interpreter waits for it at exit, so a child run whose parent
    stopped waiting for it still ends properly. Its lines go to this process's ``runner.log``;
    the child's own ``runner.log`` says where it runs."""
    log_dir = Settings.from_env().runs_root / str(run_id)
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "runner.log", "a") as log:
        print(f"run {run_id} executes in the runner process {os.getpid()} of its parent run (see its runner.log)",
              file=log)
    thread = threading.Thread(target=execute_or_fail, args=(run_id,), name=f"run-{run_id}")
    thread.start()
    return thread


def main(argv: list[str]) -> int:
    run_id = int(argv[0])
    repair_id = int(argv[2]) if len(argv) > 2 and argv[1] == "--repair" else None
    return 0 if execute_or_fail(run_id, repair_id) else 1



if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
