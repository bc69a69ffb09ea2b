"""Hostile ``run_job_task`` settings and ``runs/repair`` requests over REST. The Jobs API types
``RunJobTask.job_id`` as a required int64 and its parameter fields as maps (``databricks-sdk``'s
``jobs.RunJobTask``), so a request breaking that is a 400 with Databricks' error shape
(``error_code``, ``message``) naming the job, task and field — never a stored job whose runs end
in an internal error, and never a 500."""

from __future__ import annotations

import json

import pytest

from healthmon.jobs import service
from healthmon.settings import Settings
from healthmon.store import auth
from healthmon.store.db import Database
from healthmon.store.jobs import JobRecord, now_ms

ALICE = "alice@example.com"


class Rest:
    """The REST API as alice, through the real app (errors answered, never raised)."""

    def __init__(self, client, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: dict):
        return self.client.post(f"/api/2.2/jobs/{path}", headers=self.headers, json=body)

    def get(self, path: str, **params):
        return self.client.get(f"/api/2.2/jobs/{path}", headers=self.headers, params=params)


@pytest.fixture
def rest(healthmon_home):
    from fastapi.testclient import TestClient

    from healthmon.server.app import create_app

    settings = Settings.from_env()
    with Database.from_settings(settings).session() as s:
        token = auth.create_token(s, ALICE).token_value
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Rest(client, token)


def _create(rest, task: dict):
    return rest.post("create", {"name": "rj", "tasks": [task]})


@pytest.mark.parametrize(
    ("run_job_task", "message"),
    [
        ({}, "Job 'rj', task 'r': run_job_task.job_id is required: the id of the job to run."),
        ({"job_id": "abc"}, "Job 'rj', task 'r': run_job_task.job_id must be a job id (an integer), got 'abc'."),
        ({"job_id": 1.5}, "run_job_task.job_id must be a job id (an integer), got 1.5."),
        ({"job_id": True}, "run_job_task.job_id must be a job id (an integer), got True."),
        ({"job_id": 10**30}, f"run_job_task.job_id must be a job id (an integer), got {10**30}."),
        ({"job_id": -1}, "run_job_task.job_id must be a job id (an integer), got -1."),
        ([1], "Job 'rj', task 'r': run_job_task must be a JSON object, got [1]."),
        ({"job_id": 1, "job_parameters": ["a"]},
         "Job 'rj', task 'r': run_job_task.job_parameters must be a map of names to strings, got ['a']."),
        ({"job_id": 1, "notebook_params": "x=1"}, "run_job_task.notebook_params must be a map of names to strings"),
        ({"job_id": 1, "python_named_params": 5}, "run_job_task.python_named_params must be a map of names to strings"),
    ],
)
def test_a_malformed_run_job_task_is_refused_at_create_and_reset(rest, run_job_task, message):
    created = _create(rest, {"task_key": "r", "run_job_task": run_job_task})
    assert created.status_code == 400, created.text
    assert created.json()["error_code"] == "INVALID_PARAMETER_VALUE" and message in created.json()["message"]

    good = _create(rest, {"task_key": "r", "run_job_task": {"job_id": 1}}).json()["job_id"]
    reset = rest.post("reset", {
        "job_id": good, "new_settings": {"name": "rj", "tasks": [{"task_key": "r", "run_job_task": run_job_task}]}})
    assert reset.status_code == 400 and message in reset.json()["message"]


def test_cli_jobs_create_with_a_run_job_task_without_job_id_is_a_clear_error(cli, tmp_path):
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"name": "rj", "tasks": [{"task_key": "r", "run_job_task": {"job_id": "7"}}]}))
    code, text = cli("jobs", "create", "--json", f"@{spec}")
    assert code == 1 and "Job 'rj', task 'r': run_job_task.job_id must be a job id (an integer), got '7'." in text


def _stored_job(settings_json: dict) -> int:
    """A job written without the API's check, as an older workspace database may hold one."""
    with Database.from_settings(Settings.from_env()).session() as s:
        row = JobRecord(creator_user_name=ALICE, run_as_user_name=ALICE, created_time=now_ms())
        row.settings = settings_json
        s.add(row)
        s.flush()
        return row.job_id


@pytest.mark.timeout(180)
@pytest.mark.parametrize("run_job_task", [{}, [1], {"job_id": "abc"}])
def test_a_stored_malformed_run_job_task_fails_its_run_clearly_and_runs_get_still_answers(
        rest, run_job_task):
    job_id = _stored_job({"name": "old", "tasks": [{"task_key": "r", "run_job_task": run_job_task}]})
    run = service.wait_for_run(service.run_now(job_id, user_name=ALICE), timeout=120)
    assert run["state"]["result_state"] == "FAILED"
    assert "Internal error" not in run["state"]["state_message"]
    assert "Job 'old', task 'r': run_job_task" in run["state"]["state_message"]
    got = rest.get("runs/get", run_id=run["run_id"])
    assert got.status_code == 200 and got.json()["tasks"][0]["run_job_task"] == run_job_task


def _notebook_params_of(size: int) -> dict[str, str]:
    """``notebook_params`` whose JSON ``{"notebook_params":{"p":"xx…"}}`` is ``size`` bytes."""
    overhead = len('{"notebook_params":{"p":""}}')
    return {"p": "x" * (size - overhead)}


@pytest.mark.timeout(180)
def test_notebook_params_over_10000_bytes_are_refused_by_run_now_and_run_job_task(rest):
    job_id = rest.post("create", {"name": "nb", "tasks": [
        {"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/missing"}}]}).json()["job_id"]
    refused = rest.post("run-now", {"job_id": job_id, "notebook_params": _notebook_params_of(10_001)})
    assert refused.status_code == 400 and refused.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "run-now: the JSON representation of notebook_params is 10001 bytes; it cannot exceed 10,000 bytes."}
    at_limit = rest.post("run-now", {"job_id": job_id, "notebook_params": _notebook_params_of(10_000)})
    assert at_limit.status_code == 200, at_limit.text
    service.wait_for_run(at_limit.json()["run_id"], timeout=120)

    caller = rest.post("create", {"name": "caller", "tasks": [{"task_key": "call", "run_job_task": {
        "job_id": job_id, "notebook_params": _notebook_params_of(20_000)}}]}).json()["job_id"]
    run = service.wait_for_run(rest.post("run-now", {"job_id": caller}).json()["run_id"], timeout=120)
    assert run["state"]["result_state"] == "FAILED"
    assert "notebook_params is 20000 bytes; it cannot exceed 10,000 bytes" in run["state"]["state_message"]


def _python_job(rest, name: str, source: str) -> int:
    settings = Settings.from_env()
    local = settings.home / "workspace" / "Users" / ALICE / f"{name}.py"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(source)
    path = f"/Workspace/Users/{ALICE}/{name}.py"
    return rest.post("create", {"name": name, "tasks": [
        {"task_key": "t", "spark_python_task": {"python_file": path}}]}).json()["job_id"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_hostile_repairs_are_400s_with_the_jobs_api_error_shape(rest):
    failing = _python_job(rest, "failing", "raise SystemExit(3)\n")
    first, second = (service.wait_for_run(rest.post("run-now", {"job_id": failing}).json()["run_id"], timeout=120)
                     for _ in range(2))
    repair = rest.post("runs/repair", {"run_id": first["run_id"], "rerun_all_failed_tasks": True}).json()["repair_id"]
    service.wait_for_run(first["run_id"], timeout=120)

    def refused(body: dict, message: str) -> None:
        answer = rest.post("runs/repair", body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE" and message in answer.json()["message"]

    run_id = second["run_id"]
    refused({"run_id": run_id, "rerun_all_failed_tasks": True, "latest_repair_id": repair},
            f"Run {run_id} has never been repaired, so latest_repair_id {repair} does not match")
    refused({"run_id": first["run_id"], "rerun_all_failed_tasks": True},
            f"Run {first['run_id']} has been repaired before: give latest_repair_id")
    refused({"run_id": run_id, "rerun_tasks": ["nope"]}, "rerun_tasks names unknown task(s) nope")
    refused({"run_id": run_id, "rerun_tasks": {"t": True}}, "rerun_tasks: Input should be a valid list")
    refused({"run_id": run_id, "rerun_all_failed_tasks": True, "job_parameters": ["x"]},
            "job_parameters: Input should be a valid dictionary")
    refused({"run_id": run_id, "rerun_all_failed_tasks": True, "notebook_params": {"x": None}},
            "notebook_params.x: Input should be a valid string")
    refused({"run_id": run_id, "rerun_all_failed_tasks": True, "latest_repair_id": 2**64},
            "latest_repair_id: Input should be less than or equal to 9223372036854775807")

    sleeper = _python_job(rest, "sleeper", "import time\ntime.sleep(600)\n")
    running = rest.post("run-now", {"job_id": sleeper}).json()["run_id"]
    try:
        answer = rest.post("runs/repair", {"run_id": running, "rerun_all_failed_tasks": True})
        assert answer.status_code == 400 and "only a finished run can be repaired" in answer.json()["message"]
    finally:
        service.cancel_run(running)
        service.wait_for_run(running, timeout=120)
