"""The jobs / runs / secrets CLI, run as the real `healthmon` executable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs_helpers import nb_task
from healthmon.jobs import service

HM = str(Path(sys.executable).parent / "healthmon")

# Each command is a fresh CLI process (interpreter + SQLAlchemy start-up): seconds on a busy machine.
pytestmark = pytest.mark.slow


def hm(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([HM, *args], capture_output=True, text=True, input=input, timeout=120)


def test_run_now_watch_list_get_logs_and_exit_codes(ws):
    good = ws.notebook("good", "print('hello from good', dbutils.widgets.get('who'))")
    bad = ws.notebook("bad", "raise KeyError('missing column x')")
    job = service.create_job({"name": "cli-job", "parameters": [{"name": "who", "default": "a"}],
                              "tasks": [nb_task("good", good)]})
    res = hm("jobs", "run-now", "--job-id", str(job), "--params", "who=zed")
    assert res.returncode == 0, res.stderr
    assert "good" in res.stdout and "SUCCESS" in res.stdout and "Run URL:" in res.stdout

    runs = json.loads(hm("jobs", "list-runs", "--job-id", str(job), "-o", "json").stdout)["runs"]
    assert len(runs) == 1 and runs[0]["state"]["result_state"] == "SUCCESS"
    run_id = runs[0]["run_id"]
    got = json.loads(hm("runs", "get", "--run-id", str(run_id), "-o", "json").stdout)
    assert got["tasks"][0]["task_key"] == "good"
    logs = hm("runs", "logs", "--run-id", str(run_id), "--task", "good")
    assert "hello from good zed" in logs.stdout

    failing = service.create_job({"name": "cli-bad", "tasks": [nb_task("bad", bad)]})
    res = hm("jobs", "run-now", "--job-id", str(failing))
    assert res.returncode == 1
    assert "FAILED" in res.stdout and "KeyError: 'missing column x'" in res.stdout


def test_user_errors_exit_1_without_traceback(ws):
    res = hm("runs", "get", "--run-id", "4242")
    assert res.returncode == 1 and "Run 4242 does not exist" in res.stderr and "Traceback" not in res.stderr
    job = service.create_job({"name": "p", "tasks": [nb_task("t", ws.notebook("t", "pass"))]})
    res = hm("jobs", "run-now", "--job-id", str(job), "--params", "nope=1")
    assert res.returncode == 1 and "has no parameter 'nope'" in res.stderr and "Traceback" not in res.stderr
    for output in ("text", "json"):  # the CLI's errors name its own option (the REST API's: ``only``)
        res = hm("jobs", "run-now", "--job-id", str(job), "--only", "zz", "-o", output)
        assert res.returncode == 1 and "--only names unknown task(s) zz" in res.stderr, res.stderr
    res = hm("runs", "logs", "--run-id", "4242")
    assert res.returncode == 1 and "does not exist" in res.stderr


def test_repair_cancel_and_get_output_cli(ws):
    flag = ws.out / "ok"
    nb = ws.notebook("f", f"import os\nassert os.path.exists({str(flag)!r}), 'flag missing'\ndbutils.notebook.exit('fixed')")
    job = service.create_job({"name": "r", "tasks": [nb_task("f", nb)]})
    run_id = service.run_now(job)
    run = service.wait_for_run(run_id, timeout=60)
    assert run["state"]["result_state"] == "FAILED"
    flag.write_text("1")
    res = hm("runs", "repair", "--run-id", str(run_id), "--rerun-tasks", "zz")
    assert res.returncode == 1 and "--rerun-tasks names unknown task(s) zz" in res.stderr, res.stderr
    res = hm("runs", "repair", "--run-id", str(run_id), "--rerun-tasks", "f")
    assert res.returncode == 0, res.stdout + res.stderr
    task_run = service.get_run(run_id)["tasks"][0]["run_id"]
    out = json.loads(hm("runs", "get-output", "--run-id", str(task_run)).stdout)
    assert out["notebook_output"]["result"] == "fixed"
    res = hm("runs", "get-output", "--run-id", str(run_id))
    assert res.returncode == 1 and f"f (run_id {task_run})" in res.stderr


def test_secrets_cli():
    assert hm("secrets", "create-scope", "team").returncode == 0
    assert hm("secrets", "put-secret", "team", "db_password", "--string-value", "hunter2").returncode == 0
    assert hm("secrets", "put-secret", "team", "from_stdin", input="piped\n").returncode == 0
    listed = hm("secrets", "list-secrets", "team").stdout
    assert "db_password" in listed and "from_stdin" in listed and "hunter2" not in listed
    assert hm("secrets", "delete-secret", "team", "db_password").returncode == 0
    assert "db_password" not in hm("secrets", "list-secrets", "team").stdout
    res = hm("secrets", "create-scope", "team")
    assert res.returncode == 1 and "already exists" in res.stderr
    res = hm("secrets", "put-secret", "nope", "k", "--string-value", "v")
    assert res.returncode == 1 and "Scope nope does not exist" in res.stderr


def test_run_job_task_parameters_and_repair_with_params_cli(ws):
    """A child run shows the parameters its run_job_task gave; runs repair --params re-runs with new
    job parameters; --latest-repair-id is checked."""
    picky = ws.notebook("picky3", "x = dbutils.widgets.get('x')\nassert x != '1', 'x is 1'\ndbutils.notebook.exit(x)")
    child = service.create_job({"name": "child", "parameters": [{"name": "x", "default": "0"}],
                                "tasks": [nb_task("picky", picky)]})
    parent = service.create_job({"name": "parent", "parameters": [{"name": "p", "default": "1"}], "tasks": [
        {"task_key": "call", "run_job_task": {"job_id": child, "job_parameters": {"x": "{{job.parameters.p}}"}}}]})

    res = hm("jobs", "run-now", "--job-id", str(parent), "--params", "p=3", "-o", "json")
    assert res.returncode == 0, res.stderr
    run = json.loads(res.stdout)
    task_run = run["tasks"][0]["run_id"]
    res = hm("runs", "get-output", "--run-id", str(task_run))
    assert res.returncode == 0, res.stderr
    child_run = json.loads(res.stdout)["run_job_output"]["run_id"]
    res = hm("runs", "get", "--run-id", str(child_run), "-o", "json")
    assert json.loads(res.stdout)["job_parameters"] == [{"name": "x", "default": "0", "value": "3"}]
    assert "Parameters: x=3" in hm("runs", "get", "--run-id", str(child_run)).stdout

    # A failing run repaired from the CLI with new job parameters.
    res = hm("jobs", "run-now", "--job-id", str(child), "--params", "x=1", "-o", "json")
    assert res.returncode == 1
    failed = json.loads(res.stdout)["run_id"]
    res = hm("runs", "repair", "--run-id", str(failed), "--rerun-all-failed-tasks", "--params", "x=5",
             "--params", "y=2")
    assert res.returncode == 1 and "no parameter 'y'" in res.stderr and "Traceback" not in res.stderr
    res = hm("runs", "repair", "--run-id", str(failed), "--rerun-all-failed-tasks", "--params", "x=4", "-o", "json")
    assert res.returncode == 0, res.stderr
    repaired = json.loads(res.stdout)
    assert repaired["state"]["result_state"] == "SUCCESS"
    assert repaired["job_parameters"] == [{"name": "x", "default": "0", "value": "4"}]
    res = hm("runs", "repair", "--run-id", str(failed), "--rerun-tasks", "picky", "--latest-repair-id", "999999")
    assert res.returncode == 1 and "not the latest repair" in res.stderr


def test_python_params_cli(ws):
    """``jobs run-now --python-params '["a","b"]'`` (the Databricks CLI's flag, a JSON list)
    replaces a Python file task's positional parameters; ``runs repair --python-params`` replaces
    them for the repaired tasks; a value that is not a JSON list of strings is a clear error."""
    argv = ws.file("argv_cli.py", "import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    job = service.create_job({"name": "positional-cli", "tasks": [
        {"task_key": "file", "spark_python_task": {"python_file": argv, "parameters": ["own"]}}]})

    res = hm("jobs", "run-now", "--job-id", str(job), "--python-params", '["a", "{{job.run_id}}"]', "-o", "json")
    assert res.returncode == 0, res.stderr
    run = json.loads(res.stdout)
    assert run["overriding_parameters"] == {"python_params": ["a", "{{job.run_id}}"]}
    logs = hm("runs", "logs", "--run-id", str(run["run_id"]), "--task", "file").stdout
    assert json.loads(logs.strip().splitlines()[-1]) == ["a", str(run["run_id"])]
    shown = hm("runs", "get", "--run-id", str(run["run_id"])).stdout
    assert 'python_params=["a", "{{job.run_id}}"]' in " ".join(shown.split())

    res = hm("runs", "repair", "--run-id", str(run["run_id"]), "--rerun-tasks", "file",
             "--python-params", '["b"]', "-o", "json")
    assert res.returncode == 0, res.stderr
    repaired = json.loads(res.stdout)
    assert repaired["overriding_parameters"] == {"python_params": ["b"]}
    logs = hm("runs", "logs", "--run-id", str(run["run_id"]), "--task", "file").stdout
    assert json.loads(logs.strip().splitlines()[-1]) == ["b"]
    shown = " ".join(hm("runs", "get", "--run-id", str(run["run_id"])).stdout.split())
    assert f'Repair {repaired["repair_history"][-1]["id"]} given: python_params=["b"]' in shown

    for bad in ('["a", 1]', '{"a": "b"}', '["a"'):
        res = hm("jobs", "run-now", "--job-id", str(job), "--python-params", bad)
        assert res.returncode == 1 and "--python-params" in res.stderr and "Traceback" not in res.stderr, bad
    assert len(service.list_runs(job)["runs"]) == 1  # the refusals started nothing


def test_bracketed_names_print_as_stored(ws):
    # Development mode names jobs "[dev <user>] <name>" (the Databricks CLI's prefix): the tables
    # must show that text, not read it as Rich markup and drop it.
    nb = ws.notebook("ok", "print('ok')")
    job = service.create_job({"name": "[dev root] pj [bold]x", "tasks": [nb_task("ok", nb)]})
    res = hm("jobs", "run-now", "--job-id", str(job))
    assert res.returncode == 0, res.stderr
    assert "of [dev root] pj [bold]x: SUCCESS" in res.stdout
    run_id = json.loads(hm("jobs", "list-runs", "--job-id", str(job), "-o", "json").stdout)["runs"][0]["run_id"]
    for args in (("jobs", "list"), ("jobs", "list-runs", "--job-id", str(job)), ("runs", "get", "--run-id", str(run_id))):
        res = subprocess.run([HM, *args], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "COLUMNS": "200"})
        assert res.returncode == 0, res.stderr
        assert "[dev root] pj [bold]x" in res.stdout, (args, res.stdout)
