"""Task process supervision: the fork server, descendant cleanup, cold (exec) attempts."""

from __future__ import annotations

import os
import socket
import time

import psutil
import pytest

from jobs_helpers import nb_task
from healthmon.jobs import service, zygote


@pytest.fixture(params=["c", "python"])
def loop(request, monkeypatch):
    """The zygote's request loop: the C one (``_forkloop``, when built) and the Python one behave
    the same; the supervision tests below run against both."""
    if request.param == "c" and not zygote.use_c_loop():
        pytest.skip("the C request loop is not built here")
    monkeypatch.setenv("HEALTHMON_ZYGOTE_LOOP", request.param)
    return request.param


def test_the_c_loop_is_built_and_chosen_by_default(monkeypatch):
    import shutil

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the package installs without the C loop")
    monkeypatch.delenv("HEALTHMON_ZYGOTE_LOOP", raising=False)
    assert zygote.use_c_loop()
    monkeypatch.setenv("HEALTHMON_ZYGOTE_LOOP", "python")
    assert not zygote.use_c_loop()


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


def test_descendants_that_escape_the_process_group_are_killed_when_the_task_exits(ws, tmp_path, loop):
    pids = tmp_path / "pids.txt"
    nb = ws.notebook("escape", ESCAPE.format(pids=str(pids), tail="print('leaving')"))
    run = run_job({"name": "escape", "tasks": [nb_task("escape", nb)]})
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    escaped = _pids(pids)
    assert len(escaped) == 2
    for pid in escaped:
        assert _gone_soon(pid), f"descendant {pid} outlived its task"


def test_descendants_that_escape_are_killed_on_timeout(ws, tmp_path, loop):
    pids = tmp_path / "pids.txt"
    nb = ws.notebook("escape_hang", ESCAPE.format(pids=str(pids), tail="time.sleep(60)"))
    started = time.time()
    run = run_job({"name": "escape-timeout", "tasks": [nb_task("hang", nb, timeout_seconds=2)]})
    assert run["tasks"][0]["state"]["result_state"] == "TIMEDOUT"
    assert time.time() - started < 30
    for pid in _pids(pids):
        assert _gone_soon(pid), f"descendant {pid} outlived its timed-out task"


def test_a_running_task_keeps_its_background_helpers(ws, tmp_path, loop):
    """Cleanup happens when the task ends, not before: an orphaned helper of a running task lives."""
    pids = tmp_path / "pids.txt"
    check = tmp_path / "check.txt"
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


def test_each_attempt_is_its_own_process_in_its_own_session(ws, tmp_path, loop):
    out = tmp_path / "ids.txt"
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


def test_state_does_not_leak_between_attempts_forked_from_one_server(ws, tmp_path, loop):
    """A module-level change made by one task is invisible to the next (each is a fresh fork)."""
    nb_a = ws.notebook("a", "import json\njson.LEAK = 'from a'\nimport healthmon.jobs.dbutils as d\nd.MAX_EXIT_BYTES = 1")
    nb_b = ws.notebook("b", "import json\nimport healthmon.jobs.dbutils as d\n"
                             "dbutils.notebook.exit(f\"{getattr(json, 'LEAK', 'clean')} {d.MAX_EXIT_BYTES}\")")
    run = run_job({"name": "leak", "tasks": [nb_task("a", nb_a), nb_task("b", nb_b, deps=["a"])]})
    b = next(t for t in run["tasks"] if t["task_key"] == "b")
    assert service.get_run_output(b["run_id"])["notebook_output"]["result"] == f"clean {5 * 1024 * 1024}"


def test_cold_exec_mode_runs_the_same_tasks(ws, tmp_path, monkeypatch, loop):
    monkeypatch.setenv("HEALTHMON_FORK_SERVER", "0")
    nb = ws.notebook("cold", "import sys\nprint('cold start', len(sys.modules))\ndbutils.notebook.exit('ok')")
    bad = ws.notebook("bad", "raise ValueError('cold failure')")
    run = run_job({"name": "cold", "tasks": [nb_task("ok", nb), nb_task("bad", bad)]})
    by_key = {t["task_key"]: t for t in run["tasks"]}
    assert service.get_run_output(by_key["ok"]["run_id"])["notebook_output"]["result"] == "ok"
    out = service.get_run_output(by_key["bad"]["run_id"])
    assert by_key["bad"]["state"]["result_state"] == "FAILED" and out["error"] == "ValueError: cold failure"


def test_a_task_that_closes_its_stdout_early_is_still_waited_for(ws, tmp_path, loop):
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


# -- the zygote template (runner server) ---------------------------------------------------------

def _spec(tmp_path, code: str) -> dict:
    path = tmp_path / "nb.py"
    path.write_text(code)
    return {"task_key": "t", "run_id": 1, "job_run_id": 1, "job_id": 1, "home": str(tmp_path),
            "result_file": str(tmp_path / "r" / "result.bin"), "redact": [], "task_values": {},
            "kind": "notebook", "path": str(path), "cwd": str(tmp_path), "cells": [(code, str(path), 1)], "widgets": {}}


def _run_attempt(server, spec: dict) -> tuple[str, dict | None]:
    from healthmon.jobs.task_main import drain, parse_result

    attempt = server.start(spec)
    out = b""
    while chunk := os.read(attempt.read_fd, 65536):
        out += chunk
    os.close(attempt.read_fd)
    attempt.wait()
    result = parse_result(drain(attempt.result_fd), spec["result_file"])
    os.close(attempt.result_fd)
    return out.decode(), result


def test_a_template_forks_ready_zygotes_that_run_attempts_and_exit_with_their_runner(tmp_path, monkeypatch, loop):
    import sys

    from healthmon.jobs import procs
    from healthmon.jobs.environments import task_env

    template = procs.start_template(dict(os.environ))
    monkeypatch.setattr(procs, "TEMPLATE", template)
    try:
        env = task_env({**os.environ, "HM_SEEN_BY_TASK": "from the runner"})
        server = procs.ForkServer(sys.executable, env)
        assert server.proc is None  # forked by the template, not started by us
        zygote = psutil.Process(server.pid)
        assert zygote.parent().name() == "hm-zygote-tpl" and zygote.name() == "hm-zygote"
        out, result = _run_attempt(server, _spec(tmp_path, "import os\nprint(os.environ['HM_SEEN_BY_TASK'], os.getppid())"))
        assert result == {"status": "SUCCESS", "task_values": {}}
        assert out.split()[:3] == ["from", "the", "runner"] and int(out.split()[3]) == server.pid
        server.close()
        assert _gone_soon(server.pid)
    finally:
        template.close()


def test_a_runner_whose_interpreter_settings_differ_gets_a_zygote_of_its_own(tmp_path, monkeypatch):
    """PYTHON* variables act at interpreter start: a fork of the template cannot honour new ones."""
    import sys

    from healthmon.jobs import procs
    from healthmon.jobs.environments import task_env

    template = procs.start_template(dict(os.environ))
    monkeypatch.setattr(procs, "TEMPLATE", template)
    try:
        server = procs.ForkServer(sys.executable, task_env({**os.environ, "PYTHONHASHSEED": "123"}))
        assert server.proc is not None  # started cold, with the runner's environment
        out, result = _run_attempt(server, _spec(tmp_path, "import sys\nprint(sys.flags.hash_randomization)"))
        assert result["status"] == "SUCCESS" and out.strip() == "1"
        server.close()
    finally:
        template.close()


def test_a_template_that_is_gone_means_a_cold_zygote(tmp_path, monkeypatch):
    import sys

    from healthmon.jobs import procs
    from healthmon.jobs.environments import task_env

    template = procs.start_template(dict(os.environ))
    template.close()  # the template sees EOF and exits; our end is closed
    monkeypatch.setattr(procs, "TEMPLATE", template)
    server = procs.ForkServer(sys.executable, task_env())
    assert server.proc is not None
    _, result = _run_attempt(server, _spec(tmp_path, "pass"))
    assert result["status"] == "SUCCESS"
    server.close()


def test_runs_started_through_the_runner_server_use_its_template(ws, tmp_path):
    from healthmon.jobs import runner_server

    out = tmp_path / "parents.txt"
    nb = ws.notebook("parents", f"""
        import os
        zygote = os.getppid()
        with open(f"/proc/{{zygote}}/stat") as f:
            template = int(f.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{{template}}/comm") as f:
            open({str(out)!r}, "w").write(f.read().strip())
        """)
    # A runner server started earlier (by another test, with other PYTHON* settings) would
    # rightly refuse its template to us: start from a server of our own environment.
    for proc in psutil.process_iter(["name", "cmdline", "uids"]):
        if proc.info["name"] == "hm-runner-srv" and proc.info["uids"] and proc.info["uids"].real == os.getuid():
            proc.terminate()
            proc.wait(10)
    job = {"name": "parents", "tasks": [nb_task("p", nb)]}
    run_job(job)  # cold: this runner starts a fresh server
    deadline = time.time() + 30
    while time.time() < deadline:  # until the new server listens (a killed one leaves its socket file)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(runner_server.address())
            break
        except OSError:
            time.sleep(0.1)
        finally:
            probe.close()
    run = run_job(job)
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    assert out.read_text() == "hm-zygote-tpl"


def test_the_zygote_warm_up_runs_an_attempt_without_leaving_a_trace(tmp_path, monkeypatch):
    """``task_main.warm_up`` (run by every zygote before it serves) executes the attempt's code
    path in-process: the process keeps its directory, import path, streams and descriptors."""
    import sys

    from healthmon.jobs import task_main

    monkeypatch.chdir(tmp_path)
    path, stdout, stderr = list(sys.path), sys.stdout, sys.stderr
    fds = set(os.listdir("/proc/self/fd"))
    task_main.warm_up(rounds=3)
    assert os.getcwd() == str(tmp_path)
    assert sys.path == path and sys.stdout is stdout and sys.stderr is stderr
    assert set(os.listdir("/proc/self/fd")) == fds
    assert not list(tmp_path.iterdir())  # the result went through the pipe: no file


def test_the_runner_server_prepares_a_workspace_database_without_holding_it_open(tmp_path):
    """The server runs a runner's start-up queries on the caller's database (so the runners it
    forks inherit a connected-once engine with compiled statements), then closes its connections;
    it keeps a few databases prepared, the oldest dropped first."""
    from healthmon.jobs import runner_server
    from healthmon.settings import Settings
    from healthmon.store import db as store_db

    prepared: list[str] = []
    runner_server._prepare_database({"HEALTHMON_HOME": str(tmp_path / "none")}, prepared)
    assert prepared == [] and not (tmp_path / "none").exists()  # no database is created here
    homes = [tmp_path / f"home{i}" for i in range(runner_server.PREPARED_DATABASES + 1)]
    for home in homes:
        environ = {"HEALTHMON_HOME": str(home)}
        store_db.Database.from_url(Settings.from_env(environ=environ).database_url).create_all()  # its client's
        runner_server._prepare_database(environ, prepared)
        runner_server._prepare_database(environ, prepared)  # once per database
        url = Settings.from_env(environ=environ).database_url
        db = store_db.Database.from_url(url)
        assert db.engine.pool.checkedout() == 0 and db.engine.pool.checkedin() == 0  # nothing held open
        assert (home / "workspace.db").exists()
    assert prepared == [Settings.from_env(environ={"HEALTHMON_HOME": str(h)}).database_url for h in homes[1:]]
    assert Settings.from_env(environ={"HEALTHMON_HOME": str(homes[0])}).database_url not in store_db._databases
    for url in prepared:
        store_db.forget(url)


def test_the_zygote_warm_up_is_skipped_in_a_deleted_directory(tmp_path, monkeypatch):
    from healthmon.jobs import task_main

    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    task_main.warm_up(rounds=1)  # no exception: the zygote still starts


def test_without_the_extension_the_zygote_falls_back_to_ctypes_and_the_python_loop(tmp_path):
    """Where no C compiler built ``_forkloop``: prctl and malloc_trim through ctypes, the Python loop."""
    import subprocess
    import sys

    code = """
import sys
sys.modules["healthmon.jobs._forkloop"] = None  # as if it had not been built
from healthmon.jobs import zygote
assert zygote._forkloop is None and not zygote.use_c_loop()
assert zygote.set_subreaper()
zygote.name_process("hm-fallback-test")
zygote.trim_heap()
print(open("/proc/self/comm").read().strip(), "ctypes" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["hm-fallback-tes", "True"]  # comm holds 15 bytes
