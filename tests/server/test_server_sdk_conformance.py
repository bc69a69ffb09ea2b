"""Conformance with the real ``databricks-sdk`` client, unchanged, over HTTP to a real uvicorn
server: the seed's monitoring snippet, run_now(...).result(), get_run_output, repair_run,
and jobs.list paging through 250 jobs."""

from __future__ import annotations

import pytest

from healthmon.jobs import service
from tests.server.conftest import workspace_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _python_job(settings, name: str, body: str, **extra) -> dict:
    script = workspace_file(settings, "alice@example.com", f"{name}.py", body)
    return {"name": name, "tasks": [{"task_key": "main", "spark_python_task": {"python_file": script}}], **extra}


def test_current_user_is_the_token_owner(workspace):
    assert workspace.current_user.me().user_name == "alice@example.com"


def test_jobs_list_pages_through_250_jobs(workspace):
    created = {service.create_job({"name": f"job-{i:03d}", "tasks": []}, user_name="alice@example.com") for i in range(250)}
    seen = [j.job_id for j in workspace.jobs.list()]  # default page size 20 → 13 pages
    assert len(seen) == 250 and set(seen) == created
    by_100 = [j.job_id for j in workspace.jobs.list(limit=100)]
    assert by_100 == seen
    named = list(workspace.jobs.list(name="JOB-042"))  # exact, case-insensitive
    assert [j.settings.name for j in named] == ["job-042"]


def test_run_now_result_output_and_monitoring_snippet(workspace, settings, capsys):
    job_id = workspace.jobs.create(**_sdk_settings(_python_job(settings, "hello", "print('hello from the task')\n"))).job_id
    run = workspace.jobs.run_now(job_id=job_id).result()
    assert run.state.life_cycle_state.value == "TERMINATED"
    assert run.state.result_state.value == "SUCCESS"
    assert run.creator_user_name == "alice@example.com"
    (task,) = run.tasks
    out = workspace.jobs.get_run_output(task.run_id)
    assert "hello from the task" in out.logs
    assert out.metadata.run_id == task.run_id

    # More runs while one is active are skipped at once (max_concurrent_runs=1), which gives
    # the monitoring loop 12 runs, i.e. two pages of 10.
    blocker = _python_job(settings, "slow", "import time; time.sleep(30)\n", max_concurrent_runs=1)
    slow_id = service.create_job(blocker, user_name="alice@example.com")
    first = service.run_now(slow_id, user_name="alice@example.com")
    for _ in range(11):
        service.run_now(slow_id, user_name="alice@example.com")
    # The seed's monitoring snippet, verbatim in spirit:
    for r in workspace.jobs.list_runs(job_id=slow_id, limit=10):
        print(r.run_id, r.state.result_state)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 12
    assert sum("MAXIMUM_CONCURRENT_RUNS_REACHED" in line for line in lines) == 11
    assert int(lines[-1].split()[0]) == first  # most recent first
    workspace.jobs.cancel_run(first).result()
    assert service.get_run(first)["state"]["result_state"] == "CANCELED"


def test_repair_run_reruns_the_failed_task(workspace, settings):
    flag = settings.home / "workspace" / "Users" / "alice@example.com" / "fixed"  # beside the task's code
    body = f"import pathlib, sys\nif not pathlib.Path({str(flag)!r}).exists():\n    sys.exit('not fixed yet')\nprint('fixed')\n"
    job_id = workspace.jobs.create(**_sdk_settings(_python_job(settings, "flaky", body))).job_id
    from databricks.sdk.errors import OperationFailed

    try:
        run = workspace.jobs.run_now(job_id=job_id).result()
    except OperationFailed:  # older SDKs raise on FAILED
        run = None
    run = workspace.jobs.get_run(run.run_id if run else max(r.run_id for r in workspace.jobs.list_runs(job_id=job_id)))
    assert run.state.result_state.value == "FAILED"
    flag.write_text("ok")
    repaired = workspace.jobs.repair_run(run_id=run.run_id, rerun_all_failed_tasks=True).result()
    assert repaired.run_id == run.run_id
    assert repaired.state.result_state.value == "SUCCESS"
    again = workspace.jobs.get_run(run.run_id, include_history=True)
    assert [h.type.value for h in again.repair_history] == ["ORIGINAL", "REPAIR"]


def _sdk_settings(settings: dict) -> dict:
    """JSON job settings → keyword arguments of ``w.jobs.create`` (SDK dataclasses)."""
    from databricks.sdk.service import jobs

    kwargs = {}
    if "name" in settings:
        kwargs["name"] = settings["name"]
    if "tasks" in settings:
        kwargs["tasks"] = [jobs.Task.from_dict(t) for t in settings["tasks"]]
    if "max_concurrent_runs" in settings:
        kwargs["max_concurrent_runs"] = settings["max_concurrent_runs"]
    return kwargs
