"""Native one-time runs (runs/submit): run_type SUBMIT_RUN, no job behind them, and runs/get,
get-output, cancel and runs/list on them, through the real databricks-sdk over HTTP."""

from __future__ import annotations

import pytest

from healthmon.jobs import service
from tests.server.conftest import bearer, workspace_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _task(settings, key: str, body: str, **extra):
    from databricks.sdk.service import jobs

    script = workspace_file(settings, "alice@example.com", f"{key}.py", body)
    return jobs.SubmitTask.from_dict({"task_key": key, "spark_python_task": {"python_file": script}, **extra})


def test_submit_runs_once_without_a_job(workspace, client, tokens, settings):
    jobs_before = list(workspace.jobs.list())
    run = workspace.jobs.submit(
        run_name="adhoc",
        tasks=[_task(settings, "a", "print('one-time A')\n"),
               _task(settings, "b", "print('one-time B')\n", depends_on=[{"task_key": "a"}])],
    ).result()
    assert run.run_type.value == "SUBMIT_RUN" and run.run_name == "adhoc"
    assert run.state.result_state.value == "SUCCESS"
    assert run.creator_user_name == "alice@example.com"
    assert [t.task_key for t in run.tasks] == ["a", "b"]
    assert list(workspace.jobs.list()) == jobs_before  # no job, hidden or not

    raw = client.get(f"/api/2.2/jobs/runs/get?run_id={run.run_id}", headers=bearer(tokens.alice)).json()
    assert "job_id" not in raw and raw["run_type"] == "SUBMIT_RUN"
    out = workspace.jobs.get_run_output(run.tasks[1].run_id)
    assert "one-time B" in out.logs
    # Listed among the caller's runs, filterable by type; invisible to another user.
    from databricks.sdk.service.jobs import RunType

    listed = [r.run_id for r in workspace.jobs.list_runs(run_type=RunType.SUBMIT_RUN)]
    assert listed == [run.run_id]
    assert run.run_id not in [r["run_id"] for r in client.get(
        "/api/2.2/jobs/runs/list", headers=bearer(tokens.bob)).json().get("runs", [])]
    denied = client.get(f"/api/2.2/jobs/runs/get?run_id={run.run_id}", headers=bearer(tokens.bob))
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    from tests.server.test_server_ui_http import login

    login(client, tokens.alice)
    page = client.get(f"/jobs/0/runs/{run.run_id}")
    assert page.status_code == 200 and "adhoc" in page.text


def test_submit_run_can_be_canceled(workspace, settings):
    waiter = workspace.jobs.submit(run_name="slow", tasks=[_task(settings, "s", "import time; time.sleep(60)\n")])
    run_id = waiter.run_id
    workspace.jobs.cancel_run(run_id).result()
    run = workspace.jobs.get_run(run_id)
    assert run.state.result_state.value == "CANCELED"
    assert service.get_run(run_id)["run_type"] == "SUBMIT_RUN"


def test_submit_rejects_bad_tasks_without_recording_a_run(client, tokens):
    r = client.post("/api/2.2/jobs/runs/submit", headers=bearer(tokens.alice),
                    json={"run_name": "bad", "tasks": [{"task_key": "x", "depends_on": [{"task_key": "nope"}],
                                                         "spark_python_task": {"python_file": "/x.py"}}]})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert service.list_runs()["runs"] == []
