"""``run_job_task`` child runs execute on a thread of their parent's runner process (no
interpreter starts for them), yet each is a normal run: its own row, runner identity and log
note, its own retries; canceled with its parent; canceled when the task times out; reaped with
its parent when that process is killed. A child with a runner process of its own (started by
``service`` without a parent's runner) is canceled by recovery when its parent's runner dies, as
Databricks cancels the child runs of a terminated run."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from jobs_helpers import nb_task
from healthmon.jobs import service
from healthmon.jobs.recovery import reap_orphans
from healthmon.settings import Settings
from healthmon.store.db import Database
from healthmon.store.runs import RunRecord


def _row(run_id: int) -> RunRecord:
    with Database.from_settings().session() as s:
        row = s.get(RunRecord, run_id)
        s.expunge(row)
        return row


def _child_of(parent_run_id: int) -> int | None:
    with Database.from_settings().session() as s:
        row = s.query(RunRecord).filter(RunRecord.parent_run_id == parent_run_id).first()
        return row.run_id if row else None


def _until(what: str, check, seconds: float = 30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} within {seconds} s")


def _running_child(parent: int) -> int:
    def check():
        child = _child_of(parent)
        return child if child and _row(child).life_cycle_state == "RUNNING" else None

    return _until("the child run is RUNNING", check)


def _attempt_pid(run_id: int) -> int:
    """The pid of the (only) task attempt of ``run_id`` once it runs."""
    def check():
        with Database.from_settings().session() as s:
            task = s.query(RunRecord).filter(RunRecord.job_run_id == run_id).first()
            return task.runner_pid if task and task.life_cycle_state == "RUNNING" else None

    return _until(f"a task of run {run_id} is RUNNING", check)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def jobs(ws) -> dict[str, int]:
    slow = ws.notebook("slow", "import time\ntime.sleep(60)")
    child = service.create_job({"name": "child", "max_concurrent_runs": 5, "tasks": [nb_task("slow", slow)]})
    parent = service.create_job({"name": "parent", "max_concurrent_runs": 5,
                                 "tasks": [{"task_key": "call", "run_job_task": {"job_id": child}}]})
    plain = service.create_job({"name": "plain", "max_concurrent_runs": 5, "tasks": [nb_task("slow", slow)]})
    return {"child": child, "parent": parent, "plain": plain}


def test_a_child_run_executes_in_its_parents_runner_and_is_canceled_with_it(jobs):
    parent = service.run_now(jobs["parent"])
    child = _running_child(parent)
    attempt = _attempt_pid(child)
    p_row, c_row = _row(parent), _row(child)
    assert (c_row.runner_pid, c_row.runner_started) == (p_row.runner_pid, p_row.runner_started)
    assert c_row.trigger == "RUN_JOB_TASK" and c_row.parent_run_id == parent
    log = (Settings.from_env().runs_root / str(child) / "runner.log").read_text()
    assert f"runner process {p_row.runner_pid} of its parent run" in log

    service.cancel_run(parent)
    assert service.wait_for_run(child, timeout=30)["state"]["result_state"] == "CANCELED"
    run = service.wait_for_run(parent, timeout=30)
    assert run["state"]["result_state"] == "CANCELED"
    assert run["tasks"][0]["state"]["result_state"] == "CANCELED"
    _until("the child's task process is gone", lambda: not _alive(attempt), 10)
    # The parent's runner has nothing left to wait for: it exits.
    _until("the runner exits", lambda: not _alive(p_row.runner_pid), 10)


def test_the_run_job_tasks_timeout_cancels_its_child(jobs):
    job = service.create_job({"name": "impatient", "tasks": [
        {"task_key": "call", "timeout_seconds": 2, "run_job_task": {"job_id": jobs["child"]}}]})
    run = service.wait_for_run(service.run_now(job), timeout=60)
    task = run["tasks"][0]
    assert task["state"]["result_state"] == "TIMEDOUT"
    assert run["state"]["result_state"] == "FAILED"  # the leaf rule: a timed-out leaf fails the run
    child = service.get_run_output(task["run_id"])["run_job_output"]["run_id"]
    assert service.get_run(child)["state"]["result_state"] == "CANCELED"


def test_kill_9_of_the_runner_reaps_the_parent_and_its_in_process_child(jobs):
    parent = service.run_now(jobs["parent"])
    child = _running_child(parent)
    attempt = _attempt_pid(child)
    runner_pid = _row(parent).runner_pid
    os.kill(runner_pid, signal.SIGKILL)
    reaped: set[int] = set()
    _until("recovery reaps both runs", lambda: reaped.update(reap_orphans()) or {parent, child} <= reaped, 10)
    for run_id in (parent, child):
        state = service.get_run(run_id)["state"]
        assert state["life_cycle_state"] == "INTERNAL_ERROR", state
        assert f"its runner process (pid {runner_pid}) is gone" in state["state_message"]
    assert service.get_run(child)["tasks"][0]["state"]["life_cycle_state"] == "INTERNAL_ERROR"
    # The child's launcher saw its runner's socket close and killed the attempt.
    _until("the child's task process is gone", lambda: not _alive(attempt), 10)


def test_recovery_cancels_a_child_run_that_has_its_own_runner(jobs):
    parent = service.run_now(jobs["plain"])
    _attempt_pid(parent)
    child = service.start_child_run(parent, jobs["child"], {})  # no runner to share: its own process
    _attempt_pid(child)
    runner_pid = _row(parent).runner_pid
    assert _row(child).runner_pid != runner_pid
    os.kill(runner_pid, signal.SIGKILL)
    _until("recovery reaps the parent", lambda: parent in reap_orphans(), 10)
    assert service.get_run(parent)["state"]["life_cycle_state"] == "INTERNAL_ERROR"
    started = time.time()
    assert service.wait_for_run(child, timeout=30)["state"]["result_state"] == "CANCELED"
    assert time.time() - started < 20


def test_a_child_runs_retries_and_failure_reach_its_parent(ws):
    bad = ws.notebook("bad", "raise ValueError('the child says no')")
    child_job = service.create_job({"name": "flaky", "tasks": [nb_task("bad", bad, max_retries=1)]})
    caller = service.create_job({"name": "caller",
                                 "tasks": [{"task_key": "call", "run_job_task": {"job_id": child_job}}]})
    run = service.wait_for_run(service.run_now(caller), timeout=60)
    task = run["tasks"][0]
    assert task["state"]["result_state"] == "FAILED"
    assert "the child says no" in task["state"]["state_message"]
    child = service.get_run_output(task["run_id"])["run_job_output"]["run_id"]
    attempts = service.get_run(child, include_history=True)["tasks"]
    assert [(t["attempt_number"], t["state"]["result_state"]) for t in attempts] == [(0, "FAILED"), (1, "FAILED")]
