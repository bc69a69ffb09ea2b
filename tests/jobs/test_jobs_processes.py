"""Task processes: each attempt its own process and session, every descendant killed when it
ends (even one that escaped with setsid), isolation between attempts, a silent early close."""

from __future__ import annotations

import os
import time

import psutil

from jobs_helpers import nb_task
from healthmon.jobs import service


def run_job(settings: dict, timeout: float = 60) -> dict:
    job_id = service.create_job(settings)
    return service.wait_for_run(service.run_now(job_id), timeout=timeout)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _gone_soon(pid: int, seconds: float = 5) -> bool:
    deadline = time.time() + seconds
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


ESCAPE = """
import os, subprocess, sys, time
# 1. a child in a new session (setsid: outside the task's process group)
child = subprocess.Popen(["sleep", "60"], start_new_session=True)
# 2. a classic daemon: fork, setsid, fork again, the middle process exits at once
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, str(os.getpid()).encode())
        os.close(w)
        time.sleep(60)
        os._exit(0)
    os._exit(0)
os.close(w)
daemon = int(os.read(r, 32))
open({pids!r}, "w").write(f"{{child.pid}} {{daemon}}")
{tail}
"""


def _pids(path) -> list[int]:
    return [int(p) for p in path.read_text().split()]


def test_descendants_that_escape_the_process_group_are_killed_when_the_task_exits(ws):
    pids = ws.out / "pids.txt"
    nb = ws.notebook("escape", ESCAPE.format(pids=str(pids), tail="print('leaving')"))
    run = run_job({"name": "escape", "tasks": [nb_task("escape", nb)]})
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    escaped = _pids(pids)
    assert len(escaped) == 2
    for pid in escaped:
        assert _gone_soon(pid), f"descendant {pid} outlived its task"


def test_descendants_that_escape_are_killed_on_timeout(ws):
    pids = ws.out / "pids.txt"
    nb = ws.notebook("escape_hang", ESCAPE.format(pids=str(pids), tail="time.sleep(60)"))
    started = time.time()
    run = run_job({"name": "escape-timeout", "tasks": [nb_task("hang", nb, timeout_seconds=2)]})
    assert run["tasks"][0]["state"]["result_state"] == "TIMEDOUT"
    assert time.time() - started < 30
    for pid in _pids(pids):
        assert _gone_soon(pid), f"descendant {pid} outlived its timed-out task"


def test_a_running_task_keeps_its_background_helpers(ws):
    """Cleanup happens when the task ends, not before: an orphaned helper of a running task lives."""
    pids = ws.out / "pids.txt"
    check = ws.out / "check.txt"
    tail = f"""
time.sleep(0.5)
alive = []
for p in (child.pid, daemon):
    try:
        os.kill(p, 0)
        alive.append(p)
    except ProcessLookupError:
        pass
open({str(check)!r}, "w").write(str(len(alive)))
"""
    nb = ws.notebook("keep", ESCAPE.format(pids=str(pids), tail=tail))
    run = run_job({"name": "keep", "tasks": [nb_task("keep", nb)]})
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    assert check.read_text() == "2"
    for pid in _pids(pids):
        assert _gone_soon(pid)


def test_each_attempt_is_its_own_process_in_its_own_session(ws):
    out = ws.out / "ids.txt"
    nb = ws.notebook("ids", f"""
        import os
        with open({str(out)!r}, "a") as f:
            f.write(f"{{os.getpid()}} {{os.getsid(0)}} {{os.getpgrp()}}\\n")
        """)
    run = run_job({"name": "ids", "tasks": [nb_task(f"t{i}", nb) for i in range(6)]})
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    rows = [tuple(map(int, line.split())) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and len({r[0] for r in rows}) == 6
    assert all(pid == sid == pgrp for pid, sid, pgrp in rows)
    assert os.getpid() not in {r[0] for r in rows}


def test_state_does_not_leak_between_attempts(ws):
    """A module-level change made by one task is invisible to the next (each is a fresh fork)."""
    nb_a = ws.notebook("a", "import json\njson.LEAK = 'from a'\nimport healthmon.jobs.dbutils as d\nd.MAX_EXIT_BYTES = 1")
    nb_b = ws.notebook("b", "import json\nimport healthmon.jobs.dbutils as d\n"
                             "dbutils.notebook.exit(f\"{getattr(json, 'LEAK', 'clean')} {d.MAX_EXIT_BYTES}\")")
    run = run_job({"name": "leak", "tasks": [nb_task("a", nb_a), nb_task("b", nb_b, deps=["a"])]})
    b = next(t for t in run["tasks"] if t["task_key"] == "b")
    assert service.get_run_output(b["run_id"])["notebook_output"]["result"] == f"clean {5 * 1024 * 1024}"


def test_a_task_that_closes_its_stdout_early_is_still_waited_for(ws):
    """EOF on the output pipe is not the end of the task: without a result yet, the runner waits."""
    nb = ws.notebook("closer", """
        import os, sys, time
        print("before closing")
        sys.stdout.flush()
        os.close(1)
        os.close(2)
        time.sleep(1.0)
        dbutils.jobs.taskValues.set("late", 42)
        dbutils.notebook.exit("finished after closing stdout")
        """)
    reader = ws.notebook("reader", "dbutils.notebook.exit(str(dbutils.jobs.taskValues.get('closer', 'late')))")
    run = run_job({"name": "closer", "tasks": [nb_task("closer", nb), nb_task("reader", reader, deps=["closer"])]})
    by_key = {t["task_key"]: t for t in run["tasks"]}
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    out = service.get_run_output(by_key["closer"]["run_id"])
    assert out["notebook_output"]["result"] == "finished after closing stdout"
    assert by_key["closer"]["execution_duration"] >= 1000
    assert service.get_run_output(by_key["reader"]["run_id"])["notebook_output"]["result"] == "42"
