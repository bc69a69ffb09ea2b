"""A runner killed with SIGKILL mid-run: its run is terminated by recovery, not left RUNNING."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

from jobs_helpers import nb_task
from healthmon.jobs import service
from healthmon.jobs.recovery import reap_orphans
from healthmon.settings import Settings
from healthmon.store.db import Database
from healthmon.store.runs import RunRecord


def _row(run_id: int) -> RunRecord:
    with Database.from_settings(Settings.from_env()).session() as s:
        return s.get(RunRecord, run_id)


def test_sigkilled_runner_is_reaped_and_its_tasks_killed(ws):
    pid_file = ws.out / "task.pid"
    nb = ws.notebook("long", f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)")
    job = service.create_job({"name": "orphan", "tasks": [nb_task("long", nb), nb_task("next", nb, deps=["long"])]})
    run_id = service.run_now(job)
    deadline = time.time() + 20
    while not pid_file.exists() and time.time() < deadline:
        time.sleep(0.05)
    runner_pid = _row(run_id).runner_pid
    assert runner_pid and service.get_run(run_id)["state"]["life_cycle_state"] == "RUNNING"
    os.kill(runner_pid, signal.SIGKILL)
    deadline = time.time() + 5
    while time.time() < deadline and not reap_orphans():
        time.sleep(0.1)
    run = service.get_run(run_id)
    assert run["state"]["life_cycle_state"] == "INTERNAL_ERROR" and run["state"]["result_state"] == "FAILED"
    assert f"pid {runner_pid}" in run["state"]["state_message"]
    assert run["status"] == {"state": "TERMINATED", "termination_details": {
        "code": "INTERNAL_ERROR", "type": "INTERNAL_ERROR", "message": run["state"]["state_message"]}}
    assert {t["state"]["life_cycle_state"] for t in run["tasks"]} == {"INTERNAL_ERROR"}
    task_pid = int(pid_file.read_text())
    time.sleep(0.2)
    try:
        os.kill(task_pid, 0)
        import psutil

        assert psutil.Process(task_pid).status() == psutil.STATUS_ZOMBIE
    except ProcessLookupError:
        pass
    # Not reaped twice, ids never reused, database intact.
    assert reap_orphans() == []
    next_run = service.run_now(job)
    assert next_run > max(t["run_id"] for t in run["tasks"])
    service.cancel_run(next_run)
    service.wait_for_run(next_run, timeout=30)
    con = sqlite3.connect(Settings.from_env().home / "workspace.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_repair_after_recovery_reruns_unfinished_tasks(ws):
    """The documented way forward after an orphaned run: repair --rerun-all-failed-tasks."""
    marker = ws.out / "go"
    nb = ws.notebook("wait", f"import os, time\nwhile not os.path.exists({str(marker)!r}):\n    time.sleep(0.05)")
    job = service.create_job({"name": "orphan2", "tasks": [nb_task("w", nb)]})
    run_id = service.run_now(job)
    deadline = time.time() + 20
    while service.get_run(run_id)["tasks"][0]["state"]["life_cycle_state"] != "RUNNING" and time.time() < deadline:
        time.sleep(0.05)
    os.kill(_row(run_id).runner_pid, signal.SIGKILL)
    deadline = time.time() + 5
    while time.time() < deadline and not reap_orphans():
        time.sleep(0.1)
    marker.write_text("1")
    service.repair_run(run_id, rerun_all_failed_tasks=True)
    run = service.wait_for_run(run_id, timeout=30)
    assert run["state"]["result_state"] == "SUCCESS"
