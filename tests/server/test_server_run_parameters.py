"""Parameters through ``run_job_task`` and ``runs/repair``, with the real ``databricks-sdk``
client over HTTP to a live server. Expectations from the SDK's documented shapes: ``RunJobTask``
fields reach the child run (``Run.job_parameters`` as ``JobParameter``, ``Run.overriding_parameters``
as ``RunParameters``), ``RunOutput.run_job_output.run_id`` names the child, and ``RepairRun``'s
parameters and ``latest_repair_id`` ("not required when repairing a run for the first time, but
must be provided on subsequent requests"; ``rerun_dependent_tasks``: "repair all tasks that depend on
the tasks in rerun_tasks, even if they were previously successful"). ``python_params`` ("passed to
Python file as command-line parameters. If specified upon run-now, it would overwrite the
parameters specified in job setting"; "Using non-ASCII characters returns an error") replace the
positional ``parameters`` of Python file and wheel tasks; a wheel task's ``named_parameters`` ("leave
it empty if parameters is not null") are not positional parameters."""

from __future__ import annotations

import json

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotImplemented  # noqa: A004 (the SDK's name)
from databricks.sdk.service import compute, jobs

from healthmon.jobs import service
from tests.server.conftest import notebook, workspace_file
from tests.server.test_server_sdk_audit import undeclared

ALICE = "alice@example.com"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_run_job_task_parameters_reach_the_child_run(workspace, settings):
    echo = notebook(settings, ALICE, "echo", "dbutils.notebook.exit(dbutils.widgets.get('who'))")
    producer = notebook(settings, ALICE, "producer", "dbutils.jobs.taskValues.set(key='k', value=7)")
    child = workspace.jobs.create(
        name="child", parameters=[jobs.JobParameterDefinition(name="who", default="nobody")],
        tasks=[jobs.Task(task_key="c", notebook_task=jobs.NotebookTask(notebook_path=echo))]).job_id
    legacy = workspace.jobs.create(name="legacy", tasks=[jobs.Task(task_key="c", notebook_task=jobs.NotebookTask(
        notebook_path=echo, base_parameters={"who": "base"}))]).job_id
    after = [jobs.TaskDependency(task_key="produce")]
    parent = workspace.jobs.create(
        name="parent", parameters=[jobs.JobParameterDefinition(name="p", default="a")],
        tasks=[
            jobs.Task(task_key="produce", notebook_task=jobs.NotebookTask(notebook_path=producer)),
            jobs.Task(task_key="call", depends_on=after, run_job_task=jobs.RunJobTask(
                job_id=child, job_parameters={"who": "{{job.parameters.p}}-{{tasks.produce.values.k}}"})),
            jobs.Task(task_key="legacy", depends_on=after, run_job_task=jobs.RunJobTask(
                job_id=legacy, notebook_params={"who": "{{job.run_id}}"}, python_named_params={"n": "1"})),
        ]).job_id
    run = workspace.jobs.run_now(parent, job_parameters={"p": "z"}).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    tasks = {t.task_key: t for t in run.tasks}

    child_run_id = workspace.jobs.get_run_output(tasks["call"].run_id).run_job_output.run_id
    child_run = workspace.jobs.get_run(child_run_id)
    assert child_run.job_id == child and child_run.trigger == jobs.TriggerType.RUN_JOB_TASK
    assert child_run.job_parameters == [jobs.JobParameter(name="who", default="nobody", value="z-7")]
    assert child_run.overriding_parameters is None
    assert workspace.jobs.get_run_output(child_run.tasks[0].run_id).notebook_output.result == "z-7"

    legacy_run = workspace.jobs.get_run(workspace.jobs.get_run_output(tasks["legacy"].run_id).run_job_output.run_id)
    assert legacy_run.overriding_parameters == jobs.RunParameters(notebook_params={"who": str(run.run_id)},
                                                                  python_named_params={"n": "1"})
    assert workspace.jobs.get_run_output(legacy_run.tasks[0].run_id).notebook_output.result == str(run.run_id)


def test_repair_run_with_parameters_and_latest_repair_id(workspace, settings):
    picky = notebook(settings, ALICE, "picky", "x = dbutils.widgets.get('x')\nassert x != '1', 'x is 1'\n"
                                               "dbutils.notebook.exit(x)")
    echo = notebook(settings, ALICE, "echo_x", "dbutils.notebook.exit(dbutils.widgets.get('x'))")
    job_id = workspace.jobs.create(
        name="repairable", parameters=[jobs.JobParameterDefinition(name="x", default="0")],
        tasks=[jobs.Task(task_key="picky", notebook_task=jobs.NotebookTask(notebook_path=picky)),
               jobs.Task(task_key="after", depends_on=[jobs.TaskDependency(task_key="picky")],
                         run_if=jobs.RunIf.ALL_DONE, notebook_task=jobs.NotebookTask(notebook_path=echo))]).job_id
    run = workspace.jobs.run_now(job_id, job_parameters={"x": "1"}).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS_WITH_FAILURES  # the leaf "after" succeeded
    after_before = {t.task_key: t for t in run.tasks}["after"].run_id

    with pytest.raises(InvalidParameterValue):  # the job defines no parameter y, as run-now checks
        workspace.jobs.repair_run(run.run_id, rerun_all_failed_tasks=True, job_parameters={"y": "2"})
    with pytest.raises(InvalidParameterValue) as combined:
        workspace.jobs.repair_run(run.run_id, rerun_all_failed_tasks=True, notebook_params={"x": "2"})
    assert "cannot be combined" in str(combined.value)
    with pytest.raises(NotImplemented) as refused:
        workspace.jobs.repair_run(run.run_id, rerun_all_failed_tasks=True, sql_params={"x": "2"})
    assert refused.value.error_code == "FEATURE_DISABLED"

    repaired = workspace.jobs.repair_run(run.run_id, rerun_all_failed_tasks=True, job_parameters={"x": "2"}).result()
    assert repaired.state.result_state == jobs.RunResultState.SUCCESS
    assert repaired.job_parameters == [jobs.JobParameter(name="x", default="0", value="2")]
    tasks = {t.task_key: t for t in repaired.tasks}
    assert workspace.jobs.get_run_output(tasks["picky"].run_id).notebook_output.result == "2"
    assert tasks["after"].run_id == after_before  # a dependent that succeeded is kept without rerun_dependent_tasks
    first = repaired.repair_history[-1].id

    with pytest.raises(InvalidParameterValue) as missing:  # a repaired run needs latest_repair_id
        workspace.jobs.repair_run(run.run_id, rerun_tasks=["picky"], job_parameters={"x": "3"})
    assert "latest_repair_id" in str(missing.value)
    with pytest.raises(InvalidParameterValue):
        workspace.jobs.repair_run(run.run_id, rerun_tasks=["picky"], latest_repair_id=first + 1)
    again = workspace.jobs.repair_run(run.run_id, rerun_tasks=["picky"], job_parameters={"x": "3"},
                                      latest_repair_id=first, rerun_dependent_tasks=True).result()
    assert again.job_parameters == [jobs.JobParameter(name="x", default="0", value="3")]
    assert [h.type for h in again.repair_history] == [jobs.RepairHistoryItemType.ORIGINAL,
                                                       jobs.RepairHistoryItemType.REPAIR,
                                                       jobs.RepairHistoryItemType.REPAIR]
    for task in again.tasks:  # both re-ran, with the new value
        assert task.run_id in again.repair_history[-1].task_run_ids
        assert workspace.jobs.get_run_output(task.run_id).notebook_output.result == "3"


# A Python file task that prints the command-line parameters it was given.
ARGV = "import json, sys\nprint(json.dumps(sys.argv[1:]))\n"


def _logs(workspace, task: jobs.RunTask) -> str:
    return workspace.jobs.get_run_output(task.run_id).logs or ""


def _argv(workspace, task: jobs.RunTask) -> list[str]:
    return json.loads(_logs(workspace, task).strip().splitlines()[-1])


def test_python_params_replace_the_positional_parameters_of_python_tasks(workspace, settings):
    argv = workspace_file(settings, ALICE, "argv.py", ARGV)
    workspace_file(settings, ALICE, "own.txt", "own 1\n")
    workspace_file(settings, ALICE, "given.txt", "given 2\n")
    home = settings.home / "workspace" / "Users" / ALICE  # the files as the task processes see them
    given = str(home / "given.txt")
    # tabulate's console script tabulates the files it is given, or its (empty) standard input.
    env = [jobs.JobEnvironment(environment_key="default", spec=compute.Environment(
        environment_version="1", dependencies=["tabulate"]))]
    job_id = workspace.jobs.create(name="positional", environments=env, tasks=[
        jobs.Task(task_key="file", spark_python_task=jobs.SparkPythonTask(python_file=argv, parameters=["own"])),
        jobs.Task(task_key="wheel", environment_key="default", python_wheel_task=jobs.PythonWheelTask(
            package_name="tabulate", entry_point="tabulate", parameters=[str(home / "own.txt")])),
        jobs.Task(task_key="named", environment_key="default", python_wheel_task=jobs.PythonWheelTask(
            package_name="tabulate", entry_point="tabulate", named_parameters={"format": "plain"})),
    ]).job_id

    run = workspace.jobs.run_now(job_id, python_params=[given]).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.overriding_parameters == jobs.RunParameters(python_params=[given])
    tasks = {t.task_key: t for t in run.tasks}
    assert _argv(workspace, tasks["file"]) == [given]
    assert "given" in _logs(workspace, tasks["wheel"]) and "own" not in _logs(workspace, tasks["wheel"])
    assert _logs(workspace, tasks["named"]).strip() == ""  # its named parameters only: no file to tabulate

    # Dynamic value references resolve as in the task's own parameters.
    refs = workspace.jobs.run_now(job_id, python_params=["{{job.run_id}}", "{{task.name}}"], only=["file"]).result()
    assert _argv(workspace, refs.tasks[0]) == [str(refs.run_id), "file"]
    assert refs.overriding_parameters.python_params == ["{{job.run_id}}", "{{task.name}}"]

    plain = workspace.jobs.run_now(job_id, only=["file"]).result()  # without python_params: the task's own
    assert _argv(workspace, plain.tasks[0]) == ["own"] and plain.overriding_parameters is None

    # The repair's python_params replace the run's for the repaired tasks. The run's record keeps
    # what the repair was given; RepairHistoryItem has no field for it, so the body has none.
    repaired = workspace.jobs.repair_run(refs.run_id, rerun_tasks=["file"], python_params=["again"]).result()
    assert repaired.overriding_parameters == jobs.RunParameters(python_params=["again"])
    assert _argv(workspace, {t.task_key: t for t in repaired.tasks}["file"]) == ["again"]
    raw = workspace.api_client.do("GET", "/api/2.2/jobs/runs/get", query={"run_id": refs.run_id})
    assert undeclared(raw, jobs.Run) == []
    assert service.repair_parameters(refs.run_id) == {repaired.repair_history[-1].id: {"python_params": ["again"]}}

    with pytest.raises(InvalidParameterValue) as ascii_only:
        workspace.jobs.run_now(job_id, python_params=["caf\u00e9"])
    assert "ASCII" in str(ascii_only.value)
    with pytest.raises(InvalidParameterValue) as too_long:  # "cannot exceed 10,000 bytes"
        workspace.jobs.run_now(job_id, python_params=["x" * 10_000])
    assert "cannot exceed 10,000 bytes" in str(too_long.value)
    with_params = workspace.jobs.create(
        name="with-params", parameters=[jobs.JobParameterDefinition(name="p", default="a")],
        tasks=[jobs.Task(task_key="file", spark_python_task=jobs.SparkPythonTask(python_file=argv))]).job_id
    with pytest.raises(InvalidParameterValue) as combined:
        workspace.jobs.run_now(with_params, python_params=["a"])
    assert "cannot be combined" in str(combined.value)
    assert list(workspace.jobs.list_runs(job_id=with_params)) == []


def test_run_job_task_python_params_reach_the_child_run(workspace, settings):
    argv = workspace_file(settings, ALICE, "argv.py", ARGV)
    child = workspace.jobs.create(name="child", tasks=[
        jobs.Task(task_key="file", spark_python_task=jobs.SparkPythonTask(python_file=argv, parameters=["own"]))]).job_id
    parent = workspace.jobs.create(name="parent", tasks=[jobs.Task(task_key="call", run_job_task=jobs.RunJobTask(
        job_id=child, python_params=["from {{job.run_id}}", "b"]))]).job_id
    run = workspace.jobs.run_now(parent).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    child_run = workspace.jobs.get_run(workspace.jobs.get_run_output(run.tasks[0].run_id).run_job_output.run_id)
    assert child_run.trigger == jobs.TriggerType.RUN_JOB_TASK
    # References resolve in the parent run, as for the task's other parameters.
    assert child_run.overriding_parameters == jobs.RunParameters(python_params=[f"from {run.run_id}", "b"])
    assert _argv(workspace, child_run.tasks[0]) == [f"from {run.run_id}", "b"]
