"""Task types and dbutils inside real task processes: fs, display, exit truncation, %run, .ipynb,
wheels, environments."""

from __future__ import annotations

import json
import sys

import pytest

from jobs_helpers import nb_task
from healthmon.jobs import service


def outputs(run: dict) -> dict[str, dict]:
    return {t["task_key"]: service.get_run_output(t["run_id"]) for t in run["tasks"]}


def test_dbutils_fs_display_exit_truncation_run_magic_and_ipynb(ws):
    (ws.root / "helpers.py").write_text("# Databricks notebook source\ndef double(x):\n    return 2 * x\n")
    fs = ws.notebook("fs", """
        dbutils.fs.put("/Volumes/main/raw/files/a.txt", "hello volume")
        dbutils.fs.cp("/Volumes/main/raw/files/a.txt", "dbfs:/tmp/b.txt")
        names = sorted(f.name for f in dbutils.fs.ls("/Volumes/main/raw/files"))
        head = dbutils.fs.head("dbfs:/tmp/b.txt", 5)
        dbutils.fs.rm("dbfs:/tmp/b.txt")
        gone = "b.txt" not in [f.name for f in dbutils.fs.ls("dbfs:/tmp")]
        import json
        dbutils.notebook.exit(json.dumps({"names": names, "head": head, "gone": gone}))
        """)
    show = ws.notebook("show", """
        import pandas as pd
        display(pd.DataFrame({"workspace": ["w1", "w2"], "cost": [1.5, 2.25]}))
        display([{"a": 1, "b": "x"}])
        """)
    big = ws.notebook("big", "dbutils.notebook.exit('é' * (3 * 1024 * 1024))")
    uses_run = ws.notebook("uses_run", "# MAGIC %run ./helpers", "dbutils.notebook.exit(str(double(21)))")
    ipynb = ws.root / "nb.ipynb"
    ipynb.write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": ["v = dbutils.widgets.get('v')\n"]},
        {"cell_type": "code", "source": ["dbutils.notebook.exit('ipynb ' + v)"]},
    ]}))
    settings = {"name": "kinds", "tasks": [
        nb_task("fs", fs), nb_task("show", show), nb_task("big", big), nb_task("uses_run", uses_run),
        nb_task("ipynb", ws.workspace_path(ws.root / "nb"), params={"v": "7"}),
    ]}
    run = service.wait_for_run(service.run_now(service.create_job(settings)), timeout=60)
    assert run["state"]["result_state"] == "SUCCESS", [(t["task_key"], t["state"]) for t in run["tasks"]]
    out = outputs(run)
    assert json.loads(out["fs"]["notebook_output"]["result"]) == {"names": ["a.txt"], "head": "hello", "gone": True}
    from healthmon.settings import Settings

    assert (Settings.from_env().home / "volumes/main/raw/files/a.txt").read_text() == "hello volume"
    big_out = out["big"]["notebook_output"]
    assert big_out["truncated"] is True and len(big_out["result"].encode()) <= 5 * 1024 * 1024
    assert len(big_out["result"].encode()) > 5 * 1024 * 1024 - 2
    assert out["uses_run"]["notebook_output"]["result"] == "42"
    assert out["ipynb"]["notebook_output"]["result"] == "ipynb 7"
    logs = __import__("subprocess").run([str(__import__("pathlib").Path(sys.executable).parent / "healthmon"), "runs", "logs",
                                         "--run-id", str(run["run_id"]), "--task", "show"], capture_output=True, text=True).stdout
    assert "workspace" in logs and "w2" in logs and "2.25" in logs and "a | b" in logs


def test_python_wheel_task_entry_point_and_notebook_import_error(ws):
    broken = ws.notebook("broken", "import definitely_not_a_module_xyz")
    # As on Databricks, the wheel is a dependency of the task's environment (here satisfied by
    # the installed healthmon, as in the Health Monitor bundle).
    env = [{"environment_key": "default", "spec": {"client": "1", "dependencies": ["healthmon>=0.1.0"]}}]
    settings = {"name": "wheel", "environments": env, "tasks": [
        {"task_key": "wheel", "environment_key": "default",
         "python_wheel_task": {"package_name": "healthmon", "entry_point": "healthmon", "parameters": ["--help"]}},
        {"task_key": "wheel_bad", "environment_key": "default",
         "python_wheel_task": {"package_name": "healthmon", "entry_point": "nope"}},
        nb_task("broken", broken),
    ]}
    run = service.wait_for_run(service.run_now(service.create_job(settings)), timeout=60)
    states = {t["task_key"]: t["state"]["result_state"] for t in run["tasks"]}
    assert states == {"wheel": "SUCCESS", "wheel_bad": "FAILED", "broken": "FAILED"}
    out = outputs(run)
    assert "has no entry point 'nope'" in out["wheel_bad"]["error"]
    assert out["broken"]["error"] == "ModuleNotFoundError: No module named 'definitely_not_a_module_xyz'"
    assert "broken.py\", line 2" in out["broken"]["error_trace"]


def test_environment_satisfied_uses_current_interpreter(ws):
    nb = ws.notebook("which", "import sys\ndbutils.notebook.exit(sys.executable)")
    settings = {"name": "env", "environments": [{"environment_key": "default", "spec": {"client": "1", "dependencies": [
        # The seed's training environment; xgboost is provided by the installed xgboost-cpu.
        "scikit-learn>=1.3.0", "xgboost>=2.0.0", "pandas>=2.0.0", "numpy>=1.24.0"]}}],
                "tasks": [nb_task("which", nb, environment_key="default")]}
    run = service.wait_for_run(service.run_now(service.create_job(settings)), timeout=60)
    assert outputs(run)["which"]["notebook_output"]["result"] == sys.executable


def test_unknown_environment_key_fails_the_task(ws):
    nb = ws.notebook("n", "pass")
    settings = {"name": "env2", "tasks": [nb_task("n", nb, environment_key="missing")]}
    run = service.wait_for_run(service.run_now(service.create_job(settings)), timeout=60)
    assert "environment_key 'missing' is not defined" in run["tasks"][0]["state"]["state_message"]


@pytest.mark.slow
def test_uninstallable_dependency_fails_with_dependencies_not_found(ws, tmp_path):
    nb = ws.notebook("n", "pass")
    missing = str(tmp_path / "not_there-1.0-py3-none-any.whl")
    settings = {"name": "env3", "environments": [{"environment_key": "e", "spec": {"dependencies": [missing]}}],
                "tasks": [nb_task("n", nb, environment_key="e")]}
    run = service.wait_for_run(service.run_now(service.create_job(settings)), timeout=180)
    msg = run["tasks"][0]["state"]["state_message"]
    assert run["tasks"][0]["state"]["result_state"] == "FAILED"
    assert msg.startswith("Dependencies not found:") and "not_there-1.0-py3-none-any.whl" in msg
