"""``dbutils.notebook.run`` and the lazy ``spark`` global, through real job runs."""

from __future__ import annotations

import time

import psutil
import pytest

from jobs_helpers import nb_task
from healthmon.jobs import service


def run_one(nb: str, timeout: float = 60) -> tuple[dict, dict]:
    job_id = service.create_job({"name": "nbrun", "tasks": [nb_task("main", nb)]})
    run = service.wait_for_run(service.run_now(job_id), timeout=timeout)
    task = run["tasks"][0]
    return task, service.get_run_output(task["run_id"])


def logs_of(task: dict) -> str:
    from healthmon.jobs.logs import read_logs
    from healthmon.settings import Settings
    from healthmon.store.db import Database
    from healthmon.store.runs import RunRecord

    with Database.from_settings(Settings.from_env()).session() as s:
        return read_logs(s.get(RunRecord, task["run_id"]).log_dir)[0]


def test_notebook_run_passes_arguments_and_returns_the_exit_value(ws):
    ws.notebook("child", "print('child says hi')\n"
                         "dbutils.notebook.exit('got ' + dbutils.widgets.get('x') + ' ' + dbutils.widgets.get('n'))")
    ws.notebook("silent", "y = 1")
    parent = ws.notebook("parent", """
        a = dbutils.notebook.run("./child", 60, {"x": "apple", "n": 3})
        b = dbutils.notebook.run("child", 0, {"x": "pear", "n": "4"})
        c = dbutils.notebook.run("silent", 60)
        dbutils.notebook.exit(f"{a}|{b}|{c}")
        """)
    task, out = run_one(parent)
    assert task["state"]["result_state"] == "SUCCESS", task["state"]
    assert out["notebook_output"]["result"] == "got apple 3|got pear 4|None"
    assert logs_of(task).count("child says hi") == 2


def test_notebook_run_raises_when_the_child_fails_or_is_missing(ws):
    ws.notebook("broken", "raise KeyError('no such thing')")
    parent = ws.notebook("parent", """
        messages = []
        for path in ("./broken", "./absent"):
            try:
                dbutils.notebook.run(path, 30)
            except Exception as exc:
                messages.append(type(exc).__name__ + ": " + str(exc))
        dbutils.notebook.exit(" || ".join(messages))
        """)
    task, out = run_one(parent)
    failed, missing = out["notebook_output"]["result"].split(" || ")
    assert failed.startswith("WorkflowException: Notebook ./broken failed: KeyError")
    assert "no such thing" in failed
    assert missing.startswith("WorkflowException: dbutils.notebook.run ./absent: notebook not found")


def test_an_uncaught_child_failure_fails_the_task(ws):
    ws.notebook("bad", "1 / 0")
    parent = ws.notebook("parent", "dbutils.notebook.run('./bad', 30)")
    task, out = run_one(parent)
    assert task["state"]["result_state"] == "FAILED"
    assert out["error"].startswith("WorkflowException: Notebook ./bad failed: ZeroDivisionError")


def test_notebook_run_timeout_kills_the_child(ws):
    pid_file = ws.out / "child.pid.txt"
    ws.notebook("slow", f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)")
    parent = ws.notebook("parent", """
        try:
            dbutils.notebook.run("./slow", 1)
        except Exception as exc:
            dbutils.notebook.exit(str(exc))
        """)
    started = time.time()
    task, out = run_one(parent)
    assert out["notebook_output"]["result"] == "Notebook ./slow timed out after 1 seconds."
    assert time.time() - started < 30
    pid = int(pid_file.read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_spark_global_costs_nothing_until_used(ws):
    nb = ws.notebook("nospark", """
        import sys
        dbutils.notebook.exit(f"{'pyspark' in sys.modules} {spark!r}")
        """)
    task, out = run_one(nb)
    assert out["notebook_output"]["result"] == "False <spark: local SparkSession (created on first use)>"


@pytest.mark.slow
def test_spark_global_is_a_real_local_session_on_first_use(ws):
    pytest.importorskip("pyspark")
    nb = ws.notebook("withspark", """
        df = spark.range(5).selectExpr("id * 2 AS twice")
        total = df.groupBy().sum("twice").collect()[0][0]
        dbutils.notebook.exit(f"{total} {spark.version} {spark!r}")
        """)
    task, out = run_one(nb, timeout=240)
    assert task["state"]["result_state"] == "SUCCESS", out.get("error_trace") or out.get("error")
    total, version, rest = out["notebook_output"]["result"].split(" ", 2)
    import pyspark

    assert total == "20" and version == pyspark.__version__ and rest == "<spark: local SparkSession (created)>"


def test_notebook_run_with_arguments_of_the_wrong_type_is_a_clear_error(ws):
    # run(path: String, timeoutSeconds: int, arguments: Map[String, String]): a wrong type is the
    # caller's error, named, before any child notebook process starts.
    ws.notebook("child", "dbutils.notebook.exit('ran')")
    parent = ws.notebook("parent", """
        messages = []
        for args in (("./child", "abc"), ("./child", -1), ("./child", True), ("./child", 5, ["a"]), (5, 5)):
            try:
                dbutils.notebook.run(*args)
            except TypeError as exc:
                messages.append(str(exc))
        assert dbutils.notebook.run("./child", 30) == "ran"
        dbutils.notebook.exit(" || ".join(messages))
        """)
    task, out = run_one(parent)
    assert task["state"]["result_state"] == "SUCCESS", task["state"]
    messages = out["notebook_output"]["result"].split(" || ")
    assert len(messages) == 5, messages
    assert all(m.startswith("dbutils.notebook.run: ") for m in messages), messages
    assert "timeout_seconds must be a number of seconds >= 0" in messages[0] and "'abc'" in messages[0]
    assert "arguments must be a dict" in messages[3] and "path must be a string" in messages[4]
