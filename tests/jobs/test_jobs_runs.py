"""End-to-end runs through the service: runner process, task subprocesses, run storage."""

from __future__ import annotations

import json
import os
import time

import pytest
from databricks.sdk.service.jobs import Run, RunOutput

from jobs_helpers import nb_task
from healthmon.errors import InvalidParameterError, NotFoundError
from healthmon.jobs import service


def run_job(settings: dict, timeout: float = 60, **kw) -> dict:
    job_id = service.create_job(settings)
    run_id = service.run_now(job_id, **kw)
    return service.wait_for_run(run_id, timeout=timeout)


def tasks_by_key(run: dict) -> dict[str, dict]:
    return {t["task_key"]: t for t in run["tasks"]}


def result(task: dict) -> str:
    return task["state"].get("result_state")


def test_dag_parameters_task_values_and_exit(ws):
    a = ws.notebook("a", """
        # MAGIC %md
        # MAGIC ignored
        """, """
        dbutils.widgets.text("catalog", "default_cat")
        cat = dbutils.widgets.get("catalog")
        mode = dbutils.widgets.get("mode")
        dbutils.jobs.taskValues.set("rows", 41 + 1)
        dbutils.notebook.exit(f"{cat}/{mode}")
        """)
    b = ws.notebook("b", """
        rows = dbutils.jobs.taskValues.get("a", "rows")
        print("rows", rows, "ref", dbutils.widgets.get("ref"), "run", dbutils.widgets.get("run"))
        dbutils.notebook.exit(json.dumps(dbutils.widgets.getAll(), sort_keys=True)) if False else None
        import json
        dbutils.notebook.exit(json.dumps({"rows": rows, "ref": dbutils.widgets.get("ref")}))
        """)
    settings = {
        "name": "dag",
        "parameters": [{"name": "catalog", "default": "dev_cat"}],
        "tasks": [
            nb_task("a", a, params={"catalog": "base_cat", "mode": "full"}),
            nb_task("b", b, deps=["a"], params={"ref": "{{tasks.a.values.rows}}", "run": "{{job.run_id}}"}),
        ],
    }
    run = run_job(settings, job_parameters={"catalog": "prod_cat"})
    assert run["state"]["result_state"] == "SUCCESS", run
    # The API shape round-trips through the SDK dataclass.
    assert Run.from_dict(run).as_dict()["tasks"][0]["task_key"] in ("a", "b")
    parsed = Run.from_dict(run)
    assert parsed.state.result_state.value == "SUCCESS" and parsed.status.state.value == "TERMINATED"
    assert run["number_in_job"] == run["run_id"] and run["trigger"] == "ONE_TIME" and run["run_type"] == "JOB_RUN"
    assert {p["name"]: p["value"] for p in run["job_parameters"]} == {"catalog": "prod_cat"}
    t = tasks_by_key(run)
    assert t["a"]["start_time"] <= t["b"]["start_time"] and t["a"]["end_time"] <= t["b"]["start_time"]
    out_a = service.get_run_output(t["a"]["run_id"])
    RunOutput.from_dict(out_a)
    # A job parameter wins over the base parameter of the same name.
    assert out_a["notebook_output"] == {"result": "prod_cat/full", "truncated": False}
    out_b = json.loads(service.get_run_output(t["b"]["run_id"])["notebook_output"]["result"])
    assert out_b == {"rows": 42, "ref": "42"}


def test_failures_upstream_failed_all_done_and_missing_widget(ws):
    boom = ws.notebook("boom", "x = 1", "def f():\n    raise ValueError('bad input 7')\nf()")
    ok = ws.notebook("ok", "print('fine')")
    widget = ws.notebook("widget", "dbutils.widgets.get('threshold')")
    settings = {"name": "failing", "tasks": [
        nb_task("boom", boom),
        nb_task("after", ok, deps=["boom"]),
        nb_task("cleanup", ok, deps=["after"], run_if="ALL_DONE"),
        nb_task("widget", widget, params={"alpha": "1"}),
    ]}
    run = run_job(settings)
    t = tasks_by_key(run)
    assert [result(t[k]) for k in ("boom", "after", "cleanup", "widget")] == ["FAILED", "UPSTREAM_FAILED", "SUCCESS", "FAILED"]
    assert run["state"]["result_state"] == "FAILED"
    assert t["after"]["state"]["life_cycle_state"] == "SKIPPED"
    out = service.get_run_output(t["boom"]["run_id"])
    assert out["error"] == "ValueError: bad input 7"
    assert "boom.py\", line 7" in out["error_trace"] and "raise ValueError" in out["error_trace"]
    werr = service.get_run_output(t["widget"]["run_id"])["error"]
    assert "'threshold'" in werr and "task 'widget'" in werr and "alpha='1'" in werr
    # A multi-task job run cannot answer get-output; the message names its task runs.
    with pytest.raises(InvalidParameterError, match=rf"boom \(run_id {t['boom']['run_id']}\)"):
        service.get_run_output(run["run_id"])


def test_retries_record_each_attempt(ws):
    counter = ws.out / "count"
    flaky = ws.notebook("flaky", f"""
        from pathlib import Path
        p = Path({str(counter)!r})
        n = int(p.read_text()) if p.exists() else 0
        p.write_text(str(n + 1))
        if n < 2:
            raise RuntimeError(f"attempt {{n}} fails")
        dbutils.notebook.exit(f"ok after {{n}}")
        """)
    run = run_job({"name": "retry", "tasks": [nb_task("flaky", flaky, max_retries=3, min_retry_interval_millis=50)]})
    assert run["state"]["result_state"] == "SUCCESS"
    (task,) = run["tasks"]
    assert task["attempt_number"] == 2
    history = service.get_run(run["run_id"], include_history=True)["tasks"]
    assert [(h["attempt_number"], result(h)) for h in history] == [(0, "FAILED"), (1, "FAILED"), (2, "SUCCESS")]
    assert service.get_run_output(history[0]["run_id"])["error"] == "RuntimeError: attempt 0 fails"
    assert service.get_run_output(history[2]["run_id"])["notebook_output"]["result"] == "ok after 2"


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_timeout_kills_process_tree_and_forked_children_are_cleaned(ws):
    hang = ws.notebook("hang", f"""
        import subprocess, time
        child = subprocess.Popen(["sleep", "60"])
        open({str(ws.out / 'hang.pid')!r}, "w").write(str(child.pid))
        time.sleep(60)
        """)
    leave = ws.notebook("leave", f"""
        import subprocess
        child = subprocess.Popen(["sleep", "60"])
        open({str(ws.out / 'leave.pid')!r}, "w").write(str(child.pid))
        """)
    run = run_job({"name": "timeouts", "tasks": [nb_task("hang", hang, timeout_seconds=1), nb_task("leave", leave)]})
    t = tasks_by_key(run)
    assert result(t["hang"]) == "TIMEDOUT" and result(t["leave"]) == "SUCCESS"
    assert "timed out after 1 seconds" in t["hang"]["state"]["state_message"]
    assert run["state"]["result_state"] == "FAILED"
    for name in ("hang", "leave"):
        pid = int((ws.out / f"{name}.pid").read_text())
        deadline = time.time() + 5
        while _alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), f"{name}: child {pid} survived its task"


def test_condition_for_each_and_run_job_task(ws):
    child_nb = ws.notebook("child", "dbutils.notebook.exit('child got ' + dbutils.widgets.get('who'))")
    child_job = service.create_job({"name": "child", "parameters": [{"name": "who", "default": "nobody"}],
                                    "tasks": [nb_task("c", child_nb)]})
    item = ws.notebook("item", "v = int(dbutils.widgets.get('v'))\nassert v != 3, 'three is not allowed'\nprint('item', v)")
    settings = {"name": "control", "parameters": [{"name": "go", "default": "yes"}], "tasks": [
        {"task_key": "check", "condition_task": {"op": "EQUAL_TO", "left": "{{job.parameters.go}}", "right": "yes"}},
        {"task_key": "when_yes", "depends_on": [{"task_key": "check", "outcome": "true"}],
         "run_job_task": {"job_id": child_job, "job_parameters": {"who": "parent {{job.run_id}}"}}},
        {"task_key": "when_no", "depends_on": [{"task_key": "check", "outcome": "false"}],
         "run_job_task": {"job_id": child_job}},
        {"task_key": "loop", "depends_on": [{"task_key": "when_yes"}],
         "for_each_task": {"inputs": "[1, 2, 3, 4]", "concurrency": 2,
                           "task": nb_task("loop_item", item, params={"v": "{{input}}"})}},
    ]}
    run = run_job(settings)
    t = tasks_by_key(run)
    assert result(t["check"]) == "SUCCESS" and t["check"]["condition_task"]["outcome"] == "true"
    assert result(t["when_no"]) == "EXCLUDED"
    assert result(t["when_yes"]) == "SUCCESS"
    child_run_id = service.get_run_output(t["when_yes"]["run_id"])["run_job_output"]["run_id"]
    child = service.get_run(child_run_id)
    assert child["job_id"] == child_job and child["trigger"] == "RUN_JOB_TASK"
    child_out = service.get_run_output(child["tasks"][0]["run_id"])
    assert child_out["notebook_output"]["result"] == f"child got parent {run['run_id']}"
    # One iteration of four fails: the for_each task fails and says so.
    assert result(t["loop"]) == "FAILED"
    stats = t["loop"]["for_each_task"]["stats"]["task_run_stats"]
    assert stats["total_iterations"] == 4 and stats["failed_iterations"] == 1 and stats["succeeded_iterations"] == 3
    iters = service.get_run(t["loop"]["run_id"])["iterations"]
    bad = [i for i in iters if result(i) == "FAILED"]
    assert len(bad) == 1 and "three is not allowed" in service.get_run_output(bad[0]["run_id"])["error"]


def test_secrets_redacted_in_logs_and_outputs(ws):
    from healthmon.settings import Settings
    from healthmon.store import secrets
    from healthmon.store.db import Database

    with Database.from_settings(Settings.from_env()).session() as s:
        secrets.create_scope(s, "prod")
        secrets.put_secret(s, "prod", "token", "s3cr3t-value-123")
    nb = ws.notebook("sec", """
        tok = dbutils.secrets.get("prod", "token")
        assert [m.key for m in dbutils.secrets.list("prod")] == ["token"]
        print("token is", tok)
        dbutils.notebook.exit("exit " + tok)
        """)
    bad = ws.notebook("secbad", "raise RuntimeError('leaked ' + dbutils.secrets.get('prod', 'token'))")
    run = run_job({"name": "sec", "tasks": [nb_task("sec", nb), nb_task("bad", bad)]})
    t = tasks_by_key(run)
    assert result(t["sec"]) == "SUCCESS"
    assert service.get_run_output(t["sec"]["run_id"])["notebook_output"]["result"] == "exit [REDACTED]"
    err = service.get_run_output(t["bad"]["run_id"])
    assert err["error"] == "RuntimeError: leaked [REDACTED]" and "s3cr3t" not in err["error_trace"]
    from healthmon.jobs.logs import read_logs
    from healthmon.store.runs import RunRecord

    with Database.from_settings(Settings.from_env()).session() as s:
        log_dir = s.get(RunRecord, t["sec"]["run_id"]).log_dir
    text, _ = read_logs(log_dir)
    assert "token is [REDACTED]" in text and "s3cr3t" not in text


def test_huge_output_is_capped_and_rotated(ws, monkeypatch):
    monkeypatch.setenv("HEALTHMON_LOG_MAX_BYTES", "200000")
    nb = ws.notebook("loud", """
        import sys
        line = "x" * 99 + "\\n"
        for _ in range(20000):
            sys.stdout.write(line)
        print("THE END")
        """)
    run = run_job({"name": "loud", "tasks": [nb_task("loud", nb)]})
    assert run["state"]["result_state"] == "SUCCESS"
    from healthmon.settings import Settings
    from healthmon.store.db import Database
    from healthmon.store.runs import RunRecord

    with Database.from_settings(Settings.from_env()).session() as s:
        log_dir = s.get(RunRecord, run["tasks"][0]["run_id"]).log_dir
    files = sorted(os.listdir(log_dir))
    assert "output.log" in files and "output.log.1" in files
    for f in ("output.log", "output.log.1"):
        assert os.path.getsize(os.path.join(log_dir, f)) <= 200000
    assert open(os.path.join(log_dir, "output.log")).read().rstrip().endswith("THE END")


def test_cancel_kills_running_tasks(ws):
    nb = ws.notebook("sleepy", f"open({str(ws.out / 'pid')!r}, 'w').write(str(__import__('os').getpid()))\nimport time\ntime.sleep(60)")
    after = ws.notebook("after", "print('never')")
    job_id = service.create_job({"name": "cancel", "tasks": [nb_task("sleepy", nb), nb_task("after", after, deps=["sleepy"])]})
    run_id = service.run_now(job_id)
    deadline = time.time() + 20
    while not (ws.out / "pid").exists() and time.time() < deadline:
        time.sleep(0.05)
    service.cancel_run(run_id)
    run = service.wait_for_run(run_id, timeout=20)
    assert run["state"]["result_state"] == "CANCELED" and run["status"]["termination_details"]["code"] == "USER_CANCELED"
    t = tasks_by_key(run)
    assert result(t["sleepy"]) == "CANCELED" and result(t["after"]) in ("CANCELED", "UPSTREAM_CANCELED")
    pid = int((ws.out / "pid").read_text())
    time.sleep(0.2)
    assert not _alive(pid)


def test_repair_reruns_failed_tasks_and_dependents(ws):
    flag = ws.out / "fixed"
    first = ws.notebook("first", f"open({str(ws.out / 'first_runs')!r}, 'a').write('x')")
    fragile = ws.notebook("fragile", f"import os\nassert os.path.exists({str(flag)!r}), 'not fixed yet'")
    last = ws.notebook("last", "print('last')")
    settings = {"name": "repairable", "tasks": [nb_task("first", first), nb_task("fragile", fragile, deps=["first"]),
                                                nb_task("last", last, deps=["fragile"])]}
    run = run_job(settings)
    assert run["state"]["result_state"] == "FAILED"
    before = tasks_by_key(run)
    flag.write_text("yes")
    repair_id = service.repair_run(run["run_id"], rerun_all_failed_tasks=True)
    run2 = service.wait_for_run(run["run_id"], timeout=60)
    assert run2["state"]["result_state"] == "SUCCESS"
    after = tasks_by_key(run2)
    assert after["first"]["run_id"] == before["first"]["run_id"]  # kept, not re-run
    assert after["fragile"]["run_id"] != before["fragile"]["run_id"] and result(after["last"]) == "SUCCESS"
    assert (ws.out / "first_runs").read_text() == "x"
    history = run2["repair_history"]
    assert [h["type"] for h in history] == ["ORIGINAL", "REPAIR"] and history[1]["id"] == repair_id
    assert sorted(history[1]["task_run_ids"]) == sorted([after["fragile"]["run_id"], after["last"]["run_id"]])
    Run.from_dict(run2)


def test_max_concurrent_runs_skip_and_queue(ws):
    nb = ws.notebook("slow", "import time\ntime.sleep(1.0)")
    skip_job = service.create_job({"name": "noqueue", "max_concurrent_runs": 1, "tasks": [nb_task("s", nb)]})
    r1 = service.run_now(skip_job)
    r2 = service.run_now(skip_job)
    second = service.get_run(r2)
    assert second["state"]["life_cycle_state"] == "SKIPPED"
    assert second["state"]["result_state"] == "MAXIMUM_CONCURRENT_RUNS_REACHED"
    queue_job = service.create_job({"name": "queued", "max_concurrent_runs": 1, "queue": {"enabled": True},
                                    "tasks": [nb_task("s", nb)]})
    q1 = service.run_now(queue_job)
    q2 = service.run_now(queue_job)
    assert service.get_run(q2)["state"]["life_cycle_state"] == "QUEUED"
    a, b = service.wait_for_run(q1, timeout=60), service.wait_for_run(q2, timeout=60)
    assert a["state"]["result_state"] == b["state"]["result_state"] == "SUCCESS"
    assert b["start_time"] >= a["end_time"] and b["queue_duration"] > 0
    service.wait_for_run(r1, timeout=60)


def test_bad_input_errors():
    with pytest.raises(NotFoundError, match="Job 999 does not exist"):
        service.run_now(999)
    with pytest.raises(NotFoundError, match="Run 12345 does not exist"):
        service.get_run(12345)
    job = service.create_job({"name": "p", "parameters": [{"name": "a", "default": "1"}],
                              "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/nope"}}]})
    with pytest.raises(InvalidParameterError, match="has no parameter 'b' \\(defined parameters: a\\)"):
        service.run_now(job, job_parameters={"b": "2"})
    with pytest.raises(InvalidParameterError, match="unknown task\\(s\\) zz"):
        service.run_now(job, only=["zz"])
    run = service.wait_for_run(service.run_now(job), timeout=30)
    assert run["tasks"][0]["state"]["result_state"] == "FAILED"
    assert "Notebook not found: /Workspace/nope" in run["tasks"][0]["state"]["state_message"]


def test_python_file_and_job_timeout(ws):
    script = ws.file("script.py", """
        import sys
        print("argv", sys.argv[1:])
        if sys.argv[1] != "--date=2024":
            sys.exit(3)
        """)
    run = run_job({"name": "py", "tasks": [
        {"task_key": "ok", "spark_python_task": {"python_file": script, "parameters": ["--date=2024"]}},
        {"task_key": "bad", "spark_python_task": {"python_file": script, "parameters": ["--date=1999"]}},
    ]})
    t = tasks_by_key(run)
    assert result(t["ok"]) == "SUCCESS" and result(t["bad"]) == "FAILED"
    ok_out = service.get_run_output(t["ok"]["run_id"])
    assert "argv ['--date=2024']" in ok_out["logs"]
    assert service.get_run_output(t["bad"]["run_id"])["error"] == "SystemExit: 3"
    slow = ws.notebook("slow2", "import time\ntime.sleep(30)")
    timed = run_job({"name": "jt", "timeout_seconds": 1, "tasks": [nb_task("s", slow)]})
    assert timed["state"]["result_state"] == "TIMEDOUT"
    assert result(timed["tasks"][0]) == "TIMEDOUT"


def test_waiting_for_a_run_wakes_when_its_runner_exits_not_at_the_next_poll(ws):
    """wait_for_run sleeps on the local runner's exit (pidfd): a 60 s poll interval does not
    delay the answer for a run that ends after about a second."""
    nb = ws.notebook("short", "import time\ntime.sleep(1)")
    job = service.create_job({"name": "short", "tasks": [nb_task("t", nb)]})
    run_id = service.run_now(job)
    deadline = time.time() + 30
    while not service.get_run(run_id, include_tasks=False).get("start_time") and time.time() < deadline:
        time.sleep(0.05)  # the runner has claimed the run (its pid is on the run row)
    t0 = time.monotonic()
    run = service.wait_for_run(run_id, timeout=120, poll=60)
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    assert time.monotonic() - t0 < 30
