"""Parameters through ``run_job_task`` and ``runs/repair``, with the real ``databricks-sdk``
client over HTTP to a live server. Expectations from the SDK's documented shapes: ``RunJobTask``
fields reach the child run (``Run.job_parameters`` as ``JobParameter``, ``Run.overriding_parameters``
as ``RunParameters``), ``RunOutput.run_job_output.run_id`` names the child, and ``RepairRun``'s
parameters and ``latest_repair_id`` ("not required when repairing a run for the first time, but
must be provided on subsequent requests"; ``rerun_dependent_tasks``: "repair all tasks that depend on
the tasks in rerun_tasks, even if they were previously successful")."""

from __future__ import annotations

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotImplemented  # noqa: A004 (the SDK's name)
from databricks.sdk.service import jobs

from tests.server.conftest import notebook

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
        workspace.jobs.repair_run(run.run_id, rerun_all_failed_tasks=True, python_params=["2"])
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
