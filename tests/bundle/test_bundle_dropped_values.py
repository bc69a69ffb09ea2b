"""A value of the wrong type is the CLI's warning and is dropped (``convert.Normalize``), for
deploy as for validate: the job deploys without it and runs."""

from __future__ import annotations

from healthmon.bundle import load_bundle
from healthmon.bundle.deploy import deploy
from healthmon.jobs import service

BUNDLE = """\
bundle: {name: dropped}
variables:
  upstream: {default: load}
resources:
  jobs:
    j:
      name: j
      tasks:
        - task_key: load
          max_retries: lots
          notebook_task: {notebook_path: ./src/nb.py}
        - task_key: report
          depends_on: ${var.upstream}
          notebook_task: {notebook_path: ./src/nb.py}
"""


def test_a_deployed_job_whose_depends_on_was_dropped_runs(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/nb.py").write_text("# Databricks notebook source\nprint('ok')\n")
    (tmp_path / "databricks.yml").write_text(BUNDLE)
    b = load_bundle(tmp_path)
    assert [(d.severity, d.summary, d.path) for d in b.diagnostics] == [
        ("warning", 'cannot parse "lots" as an integer', "resources.jobs.j.tasks[0].max_retries"),
        ("warning", "expected sequence, found string", "resources.jobs.j.tasks[1].depends_on"),
    ]
    job_id = deploy(b).job_ids["j"]
    settings = service.get_job(job_id)["settings"]
    assert [sorted(t) for t in settings["tasks"]] == [["notebook_task", "task_key"]] * 2
    run = service.wait_for_run(service.run_now(job_id), timeout=120)
    assert run["state"]["result_state"] == "SUCCESS"
    assert {t["task_key"]: t["state"]["result_state"] for t in run["tasks"]} == {"load": "SUCCESS",
                                                                                 "report": "SUCCESS"}
