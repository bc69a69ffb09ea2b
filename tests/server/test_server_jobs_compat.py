"""Jobs API behaviours reproduced as Databricks documents them (Jobs API 2.2 reference), each
driven by the real ``databricks-sdk`` over HTTP to a live server running real runs (or by the
``healthmon`` CLI where the path is the CLI's): ``max_concurrent_runs: 0``, deleting a job with
active runs, one settings check for the CLI and the REST API, and error messages naming the
request field the caller used."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from databricks.sdk.errors import InvalidParameterValue, ResourceDoesNotExist
from databricks.sdk.service import jobs

from tests.server.conftest import workspace_file

ALICE = "alice@example.com"
HM = str(Path(sys.executable).parent / "healthmon")


def _python_task(settings, key: str, source: str) -> jobs.Task:
    path = workspace_file(settings, ALICE, f"{key}.py", source)
    return jobs.Task(task_key=key, spark_python_task=jobs.SparkPythonTask(python_file=path))


def _wait_for_state(workspace, run_id: int, wanted: jobs.RunLifeCycleState, timeout: float = 60) -> jobs.Run:
    deadline = time.monotonic() + timeout
    while True:
        run = workspace.jobs.get_run(run_id)
        if run.state.life_cycle_state == wanted:
            return run
        assert time.monotonic() < deadline, f"run {run_id} is {run.state.life_cycle_state}, never {wanted}"
        time.sleep(0.1)


def test_max_concurrent_runs_zero_skips_every_new_run(workspace, settings):
    """Jobs API: "Setting this value to 0 causes all new runs to be skipped" (queue or not)."""
    for queue in (False, True):
        job_id = workspace.jobs.create(name=f"paused-{queue}", max_concurrent_runs=0,
                                       queue=jobs.QueueSettings(enabled=queue),
                                       tasks=[_python_task(settings, "main", "print(1)\n")]).job_id
        assert workspace.jobs.get(job_id).settings.max_concurrent_runs == 0
        run = workspace.jobs.run_now(job_id).result()
        assert run.state.life_cycle_state == jobs.RunLifeCycleState.SKIPPED
        assert "max_concurrent_runs is 0" in run.state.state_message
        assert run.status.termination_details.code == jobs.TerminationCodeCode.MAX_CONCURRENT_RUNS_EXCEEDED
        assert not run.tasks  # nothing ran


@pytest.mark.timeout(180)
def test_deleting_a_job_cancels_its_active_runs(workspace, settings):
    """Jobs API jobs/delete: the job's active runs (running and queued) are cancelled, and end."""
    job_id = workspace.jobs.create(name="doomed", queue=jobs.QueueSettings(enabled=True), tasks=[
        _python_task(settings, "slow", "import time\ntime.sleep(120)\n")]).job_id
    running = workspace.jobs.run_now(job_id).run_id
    _wait_for_state(workspace, running, jobs.RunLifeCycleState.RUNNING)
    queued = workspace.jobs.run_now(job_id).run_id
    assert workspace.jobs.get_run(queued).state.life_cycle_state == jobs.RunLifeCycleState.QUEUED

    workspace.jobs.delete(job_id)
    with pytest.raises(ResourceDoesNotExist):
        workspace.jobs.get(job_id)
    for run_id in (running, queued):
        run = workspace.jobs.wait_get_run_job_terminated_or_skipped(run_id)
        assert run.state.result_state == jobs.RunResultState.CANCELED, (run_id, run.state)
    (task,) = workspace.jobs.get_run(running).tasks
    assert task.state.result_state == jobs.RunResultState.CANCELED


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HM, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # a CLI process per bad setting
def test_cli_and_rest_refuse_the_same_job_settings_with_the_same_message(workspace):
    bad_settings = [
        {"name": "nightly", "schedule": {"quartz_cron_expression": "0 0 6 * *", "timezone_id": "UTC"}},
        {"name": "nightly", "parameters": {"x": "1"}},
        {"name": "nightly", "parameters": [{"default": "1"}]},
        {"name": "nightly", "max_concurrent_runs": 1001},
    ]
    job_id = workspace.jobs.create(name="kept").job_id
    for i, bad in enumerate(bad_settings):
        with pytest.raises(InvalidParameterValue) as refused:
            workspace.api_client.do("POST", "/api/2.2/jobs/create", body=bad)
        message = str(refused.value)
        cli = _cli("jobs", "create", "--json", json.dumps(bad))
        assert cli.returncode != 0 and "Traceback" not in cli.stderr
        assert message in " ".join((cli.stdout + cli.stderr).split()), (message, cli.stderr)
        if i == 0:  # reset takes the same path: the Jobs API's reset body, as the CLI accepts it
            cli = _cli("jobs", "reset", "--job-id", str(job_id), "--json", json.dumps({"new_settings": bad}))
            assert cli.returncode != 0 and message in " ".join(cli.stderr.split()), cli.stderr
    assert [j.settings.name for j in workspace.jobs.list()] == ["kept"]


def test_unknown_task_errors_name_the_field_the_caller_used(workspace, settings):
    job_id = workspace.jobs.create(name="two", tasks=[_python_task(settings, "a", "print(1)\n")]).job_id
    with pytest.raises(InvalidParameterValue) as refused:
        workspace.jobs.run_now(job_id, only=["nope"])
    assert "only names unknown task(s) nope" in str(refused.value) and "--only" not in str(refused.value)

    run = workspace.jobs.run_now(job_id).result()
    with pytest.raises(InvalidParameterValue) as refused:
        workspace.jobs.repair_run(run.run_id, rerun_tasks=["nope"])
    assert "rerun_tasks names unknown task(s) nope" in str(refused.value)
    assert [r.run_id for r in workspace.jobs.list_runs(job_id=job_id)] == [run.run_id]


def test_a_run_with_job_parameters_has_the_sdk_run_shape(workspace, settings):
    """runs/get of a run given job parameters: ``job_parameters`` is the SDK's list of
    ``JobParameter {name, default, value}`` (strings), and no ``overriding_parameters`` (the
    SDK's ``RunParameters`` holds task parameters only) nor ``format``."""
    from tests.server.test_server_sdk_audit import undeclared

    job_id = workspace.api_client.do("POST", "/api/2.2/jobs/create", body={
        "name": "params", "parameters": [{"name": "x", "default": "a"}, {"name": "n", "default": 3}],
        "tasks": [{"task_key": "main", "spark_python_task": {
            "python_file": workspace_file(settings, ALICE, "p.py", "import sys\nprint(sys.argv)\n")}}]})["job_id"]
    run = workspace.jobs.run_now(job_id, job_parameters={"x": "b"}).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    raw = workspace.api_client.do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run.run_id})
    assert undeclared(raw, jobs.Run) == []
    assert raw["job_parameters"] == [{"name": "x", "default": "a", "value": "b"},
                                     {"name": "n", "default": "3", "value": "3"}]
    assert "overriding_parameters" not in raw and "format" not in raw
