"""Parameters through ``run_job_task`` and ``runs repair`` (Jobs API ``RunJobTask``, ``RepairRun``).

Expectations from the Jobs API docs (databricks-sdk ``service/jobs.py``): a ``run_job_task``
triggers the child job as run-now would with the task's ``job_parameters`` / ``notebook_params``
/ ``python_named_params`` (dynamic value references resolved in the parent), visible on the
child run's ``job_parameters`` (``JobParameter`` {name, default, value}) and
``overriding_parameters`` (``RunParameters``); the task's output carries
``run_job_output.run_id``. A repair's parameters are used for the repaired tasks; job
parameters and task parameters cannot be combined; ``latest_repair_id`` names the latest repair.
"""

from __future__ import annotations

import pytest

from jobs_helpers import nb_task
from healthmon.errors import InvalidParameterError
from healthmon.jobs import service


def _tasks(run: dict) -> dict[str, dict]:
    return {t["task_key"]: t for t in run["tasks"]}


def _result(task: dict) -> str | None:
    return task["state"].get("result_state")


def _error(task: dict) -> str:
    return service.get_run_output(task["run_id"]).get("error") or ""


def test_run_job_task_passes_its_parameters_to_the_child_run(ws):
    echo = ws.notebook("echo", "dbutils.notebook.exit(dbutils.widgets.get('who'))")
    with_params = service.create_job({"name": "with-params", "max_concurrent_runs": 5,
                                      "parameters": [{"name": "who", "default": "nobody"}],
                                      "tasks": [nb_task("c", echo)]})
    legacy = service.create_job({"name": "legacy", "max_concurrent_runs": 5,
                                 "tasks": [nb_task("c", echo, params={"who": "base"})]})
    producer = ws.notebook("producer", "dbutils.jobs.taskValues.set(key='k', value=7)")
    after = [{"task_key": "produce"}]
    parent = service.create_job({"name": "parent", "parameters": [{"name": "name", "default": "alice"}], "tasks": [
        nb_task("produce", producer),
        {"task_key": "to_params", "depends_on": after, "run_job_task": {
            "job_id": with_params, "job_parameters": {"who": "{{job.parameters.name}}-{{tasks.produce.values.k}}"}}},
        {"task_key": "to_legacy", "depends_on": after, "run_job_task": {
            "job_id": legacy, "notebook_params": {"who": "run {{job.run_id}}"}, "python_named_params": {"n": "1"}}},
        {"task_key": "mixed", "run_job_task": {"job_id": with_params, "notebook_params": {"who": "x"}}},
        {"task_key": "undefined", "run_job_task": {"job_id": with_params, "job_parameters": {"nope": "1"}}},
        {"task_key": "jar", "run_job_task": {"job_id": legacy, "jar_params": ["a"]}},
    ]})
    run = service.wait_for_run(service.run_now(parent, job_parameters={"name": "bob"}), timeout=120)
    t = _tasks(run)

    assert _result(t["to_params"]) == "SUCCESS"
    child_id = service.get_run_output(t["to_params"]["run_id"])["run_job_output"]["run_id"]
    child = service.get_run(child_id)
    assert child["job_id"] == with_params and child["trigger"] == "RUN_JOB_TASK"
    assert child["job_parameters"] == [{"name": "who", "default": "nobody", "value": "bob-7"}]
    assert "overriding_parameters" not in child
    assert service.get_run_output(child["tasks"][0]["run_id"])["notebook_output"]["result"] == "bob-7"

    assert _result(t["to_legacy"]) == "SUCCESS"
    legacy_run = service.get_run(service.get_run_output(t["to_legacy"]["run_id"])["run_job_output"]["run_id"])
    assert legacy_run["overriding_parameters"] == {"notebook_params": {"who": f"run {run['run_id']}"},
                                                   "python_named_params": {"n": "1"}}
    out = service.get_run_output(legacy_run["tasks"][0]["run_id"])
    assert out["notebook_output"]["result"] == f"run {run['run_id']}"  # over the task's base parameter

    # The checks of run-now: the task fails naming the problem, and no child run is created.
    assert _result(t["mixed"]) == "FAILED"
    assert "cannot be combined" in _error(t["mixed"]) and "run_job_task" in _error(t["mixed"])
    assert _result(t["undefined"]) == "FAILED" and "no parameter 'nope'" in _error(t["undefined"])
    assert _result(t["jar"]) == "FAILED" and "jar_params is not supported" in _error(t["jar"])
    for key in ("mixed", "undefined", "jar"):
        assert "run_job_output" not in service.get_run_output(t[key]["run_id"])
    children = service.list_runs(with_params)["runs"] + service.list_runs(legacy)["runs"]
    assert sorted(r["run_id"] for r in children) == sorted([child_id, legacy_run["run_id"]])


def test_repair_with_job_parameters_reruns_with_the_new_values(ws):
    picky = ws.notebook("picky", "x = dbutils.widgets.get('x')\nassert x != '1', 'x is 1'\ndbutils.notebook.exit(x)")
    other = ws.notebook("other", "dbutils.notebook.exit(dbutils.widgets.get('y') + ' ' + dbutils.widgets.get('n'))")
    job = service.create_job({"name": "repairable", "parameters": [{"name": "x", "default": "0"},
                                                                  {"name": "y", "default": "0"}],
                              "tasks": [nb_task("picky", picky),
                                        nb_task("other", other, params={"n": "{{job.repair_count}}"})]})
    run_id = service.run_now(job, job_parameters={"x": "1", "y": "5"})
    run = service.wait_for_run(run_id, timeout=60)
    assert _result(_tasks(run)["picky"]) == "FAILED"
    other_before = _tasks(run)["other"]["run_id"]

    with pytest.raises(InvalidParameterError, match="no parameter 'z'"):
        service.repair_run(run_id, rerun_all_failed_tasks=True, job_parameters={"z": "1"})
    with pytest.raises(InvalidParameterError, match="cannot be combined"):
        service.repair_run(run_id, rerun_all_failed_tasks=True, notebook_params={"x": "2"})
    with pytest.raises(InvalidParameterError, match="never been repaired"):
        service.repair_run(run_id, rerun_all_failed_tasks=True, latest_repair_id=1)
    assert "repair_history" not in service.get_run(run_id)  # the refusals changed nothing

    repair_id = service.repair_run(run_id, rerun_all_failed_tasks=True, job_parameters={"x": "2"})
    run = service.wait_for_run(run_id, timeout=60)
    assert run["state"]["result_state"] == "SUCCESS"
    t = _tasks(run)
    assert service.get_run_output(t["picky"]["run_id"])["notebook_output"]["result"] == "2"
    assert t["other"]["run_id"] == other_before  # not repaired: its result stays
    values = {p["name"]: p["value"] for p in run["job_parameters"]}
    assert values == {"x": "2", "y": "5"}  # a name not given keeps the run's value

    with pytest.raises(InvalidParameterError, match="not the latest repair"):
        service.repair_run(run_id, rerun_tasks=["other"], latest_repair_id=repair_id + 1)
    with pytest.raises(InvalidParameterError, match="give latest_repair_id"):
        service.repair_run(run_id, rerun_tasks=["other"], latest_repair_id_required=True)
    second = service.repair_run(run_id, rerun_tasks=["other"], job_parameters={"y": "6"}, latest_repair_id=repair_id,
                                latest_repair_id_required=True)
    run = service.wait_for_run(run_id, timeout=60)
    # {{job.repair_count}}: "the number of repair attempts on the current job run".
    assert service.get_run_output(_tasks(run)["other"]["run_id"])["notebook_output"]["result"] == "6 2"
    assert [h.get("id") for h in run["repair_history"]][1:] == [repair_id, second]


def test_repair_with_notebook_params_on_a_job_without_job_parameters(ws):
    picky = ws.notebook("picky2", "x = dbutils.widgets.get('x')\nassert x != 'bad', 'bad x'\ndbutils.notebook.exit(x)")
    job = service.create_job({"name": "legacy-repair", "tasks": [nb_task("picky", picky, params={"x": "bad"})]})
    run_id = service.run_now(job, notebook_params={"other": "kept"})
    assert service.wait_for_run(run_id, timeout=60)["state"]["result_state"] == "FAILED"
    with pytest.raises(InvalidParameterError, match="no parameter 'x'"):  # the job defines no job parameters
        service.repair_run(run_id, rerun_all_failed_tasks=True, job_parameters={"x": "good"})
    service.repair_run(run_id, rerun_all_failed_tasks=True, notebook_params={"x": "good"})
    run = service.wait_for_run(run_id, timeout=60)
    assert run["state"]["result_state"] == "SUCCESS"
    assert run["overriding_parameters"] == {"notebook_params": {"other": "kept", "x": "good"}}
    assert service.get_run_output(run["tasks"][0]["run_id"])["notebook_output"]["result"] == "good"
