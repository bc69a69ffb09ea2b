"""Values of the wrong type in a bundle, at every depth, in a target and after interpolation:
each is the CLI's Normalize warning and is dropped. Nothing dropped may make ``bundle deploy``,
``jobs run-now`` or the scheduler crash; a drop that leaves a job the Jobs API refuses (a
``schedule`` without ``quartz_cron_expression``, a ``run_job_task`` without ``job_id``) fails the
deploy with the job, task and field named, as Databricks' API refuses it, and deploys nothing."""

from __future__ import annotations

import json
import textwrap

import pytest

NOTEBOOK = "# Databricks notebook source\nprint('ok')\n"


def _bundle(root, jobs: str, targets: str = ""):
    (root / "src").mkdir(parents=True)
    (root / "src/nb.py").write_text(NOTEBOOK)
    (root / "databricks.yml").write_text(
        "bundle: {name: dropped}\nvariables:\n  lots: {default: many}\n  upstream: {default: a}\n"
        "resources:\n  jobs:\n" + textwrap.indent(textwrap.dedent(jobs), "    ")
        + ("targets:\n" + textwrap.indent(textwrap.dedent(targets), "  ") if targets else ""))
    return root


def _job_settings(cli, job_id: int) -> dict:
    code, text = cli("jobs", "get", "--job-id", job_id, "-o", "json")
    assert code == 0, text
    return json.loads(text)["settings"]


@pytest.mark.timeout(300)
def test_everything_dropped_still_deploys_runs_and_schedules(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(_bundle(tmp_path / "b", """\
        no_tasks:
          name: no_tasks
          tasks: "x"
          job_clusters: 5
        odd:
          name: odd
          max_concurrent_runs: ${var.lots}
          timeout_seconds: "x"
          parameters: {a: b}
          email_notifications: "x"
          tags: [a]
          trigger: [1]
          schedule: {quartz_cron_expression: "0 0 3 * * ?", timezone_id: UTC}
          tasks:
            - task_key: a
              notebook_task: {notebook_path: ./src/nb.py, base_parameters: [1]}
              max_retries: lots
              email_notifications: {on_failure: "me@example.com"}
              libraries: {a: 1}
            - task_key: b
              depends_on: ${var.upstream}
              run_job_task: {job_id: "${resources.jobs.no_tasks.id}", job_parameters: [x]}
        """, """\
        dev:
          default: true
          resources:
            jobs:
              odd:
                schedule: {quartz_cron_expression: [1]}
                tasks: {a: 1}
        """))
    code, text = cli("bundle", "deploy")
    assert code == 0, text
    for warning in ('expected sequence, found string\n  at resources.jobs.no_tasks.tasks',
                    'cannot parse "many" as an integer\n  at resources.jobs.odd.max_concurrent_runs',
                    "expected sequence, found string\n  at resources.jobs.odd.tasks[0].email_notifications.on_failure",
                    "expected sequence, found string\n  at resources.jobs.odd.tasks[1].depends_on",
                    "expected map, found sequence\n  at resources.jobs.odd.tasks[1].run_job_task.job_parameters",
                    "expected string, found sequence\n"
                    "  at targets.dev.resources.jobs.odd.schedule.quartz_cron_expression",
                    "expected sequence, found map\n  at targets.dev.resources.jobs.odd.tasks"):
        assert f"Warning: {warning}" in text, warning
    ids = dict(line.split(": created, id ") for line in text.splitlines() if ": created, id " in line)
    no_tasks, odd = (int(ids[f"  job {k}"].split()[0]) for k in ("no_tasks", "odd"))

    settings = _job_settings(cli, odd)
    assert settings["schedule"]["quartz_cron_expression"] == "0 0 3 * * ?"  # the target's drop keeps the base
    assert settings["max_concurrent_runs"] == 1 and "parameters" not in settings and "trigger" not in settings
    assert [t["task_key"] for t in settings["tasks"]] == ["a", "b"]
    assert settings["tasks"][1]["run_job_task"] == {"job_id": no_tasks}

    code, text = cli("jobs", "run-now", "--job-id", no_tasks)
    assert code == 1 and f"Job 'no_tasks' (id {no_tasks}) has no tasks to run." in text
    code, text = cli("jobs", "run-now", "--job-id", odd)
    assert code == 1 and "Task b" in text and "has no tasks to run" in text  # a, then b calls the empty job
    assert cli("scheduler", "--once")[0] == 0


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ("""\
         name: s
         schedule: {quartz_cron_expression: [1], timezone_id: UTC}
         tasks: [{task_key: a, notebook_task: {notebook_path: ./src/nb.py}}]
         """, "cannot deploy resources.jobs.j: Job 's': schedule.quartz_cron_expression is required."),
        ("""\
         name: r
         tasks: [{task_key: call, run_job_task: {job_id: abc}}]
         """, "cannot deploy resources.jobs.j: Job 'r', task 'call': run_job_task.job_id is required"),
        # The Jobs API requires a for_each_task's `inputs` (a string) and `task`: a dropped
        # `inputs` must not deploy a loop that runs zero iterations.
        ("""\
         name: f
         tasks: [{task_key: loop, for_each_task: {inputs: [1, 2], task: {task_key: i, run_job_task: {job_id: 1}}}}]
         """, "cannot deploy resources.jobs.j: Job 'f', task 'loop': for_each_task.inputs is required"),
        ("""\
         name: f
         tasks: [{task_key: loop, for_each_task: {inputs: "[1]"}}]
         """, "cannot deploy resources.jobs.j: Job 'f', task 'loop': for_each_task.task is required"),
        ("""\
         name: f
         tasks: [{task_key: loop, for_each_task: {inputs: "[1]", task: {task_key: i, run_job_task: {job_id: x}}}}]
         """, "cannot deploy resources.jobs.j: Job 'f', task 'loop': run_job_task.job_id is required"),
        # A task type or an environment's spec that is not an object (a null, an unresolved
        # `${resources...}` reference, which the CLI leaves as written) is refused like the API does.
        ("""\
         name: n
         tasks: [{task_key: a, notebook_task: null}]
         """, "cannot deploy resources.jobs.j: Job 'n', task 'a': notebook_task must be a JSON object, got None."),
        ("""\
         name: e
         environments: [{environment_key: d, spec: "${resources.jobs.nope}"}]
         tasks: [{task_key: a, environment_key: d, notebook_task: {notebook_path: ./src/nb.py}}]
         """, "cannot deploy resources.jobs.j: Job 'e': environments[0].spec must be a JSON object, "
              "got '${resources.jobs.nope}'."),
    ],
)
def test_a_drop_that_leaves_a_job_the_api_refuses_fails_the_deploy_and_deploys_nothing(cli, tmp_path, monkeypatch,
                                                                                        job, message):
    monkeypatch.chdir(_bundle(tmp_path / "b", "j:\n" + textwrap.indent(textwrap.dedent(job), "  ")))
    code, text = cli("bundle", "deploy")
    assert code == 1 and f"Error: databricks.yml:8:7: {message}" in text, text  # the job, at its first key
    code, text = cli("jobs", "list", "-o", "json")
    assert json.loads(text)["jobs"] == []
