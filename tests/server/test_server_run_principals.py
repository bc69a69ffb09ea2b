"""Every run has a principal: a job run executes as the job's run_as (by default its owner), a
one-time run as its submitter. What the run does as it is checked for that principal: the child
run of a run_job_task (also inside a for_each_task) needs Can Manage Run on the child's job and
is credited to the principal; dbutils.secrets needs READ on the scope. A refusal never names a job
the principal cannot see."""

from __future__ import annotations

import re

import pytest

from healthmon.jobs import service
from tests.server.conftest import bearer, notebook

pytestmark = pytest.mark.timeout(240)

ALICE, BOB = "alice@example.com", "bob@example.com"
DENIED = re.compile(r"run_job_task: job (\d+) does not exist or bob@example\.com \(the principal this run executes as\) "
                    r"does not have Manage Run permissions on it\.")


@pytest.fixture
def private_job(settings):
    """alice's job, private to her: a notebook that prints a marker."""
    path = notebook(settings, ALICE, "private", "print('alice private ran')")
    return service.create_job({"name": "alice-private-payroll", "tasks": [
        {"task_key": "p", "notebook_task": {"notebook_path": path}}]}, user_name=ALICE)


def _runs_of(job_id: int) -> list[dict]:
    return service.list_runs(job_id=job_id, limit=25)["runs"]


def _run(client, token: str, job_id: int) -> dict:
    resp = client.post("/api/2.2/jobs/run-now", headers=bearer(token), json={"job_id": job_id})
    assert resp.status_code == 200, resp.text
    return service.wait_for_run(resp.json()["run_id"], timeout=120)


def _task_error(run: dict, key: str) -> str:
    task = next(t for t in run["tasks"] if t["task_key"] == key)
    return service.get_run_output(task["run_id"]).get("error", "")


def test_run_job_task_refused_without_manage_run_and_names_nothing(client, tokens, private_job):
    missing = 987654
    body = {"name": "bob parent", "tasks": [
        {"task_key": "steal", "run_job_task": {"job_id": private_job}},
        {"task_key": "ghost", "run_job_task": {"job_id": missing}},
    ]}
    parent = client.post("/api/2.2/jobs/create", headers=bearer(tokens.bob), json=body).json()["job_id"]
    run = _run(client, tokens.bob, parent)
    assert run["state"]["result_state"] == "FAILED"
    steal, ghost = _task_error(run, "steal"), _task_error(run, "ghost")
    assert DENIED.search(steal) and DENIED.search(ghost), (steal, ghost)
    # The same words whether the job exists or not, and nothing about alice's job.
    assert DENIED.sub("X", steal) == DENIED.sub("X", ghost)
    for text in (steal, ghost):
        assert "payroll" not in text and ALICE not in text
    assert _runs_of(private_job) == []


def test_one_time_runs_and_for_each_children_are_checked_too(client, tokens, private_job):
    submitted = client.post("/api/2.2/jobs/runs/submit", headers=bearer(tokens.bob), json={
        "run_name": "sneaky", "tasks": [{"task_key": "steal", "run_job_task": {"job_id": private_job}}]})
    assert submitted.status_code == 200, submitted.text
    run = service.wait_for_run(submitted.json()["run_id"], timeout=120)
    assert run["state"]["result_state"] == "FAILED" and DENIED.search(_task_error(run, "steal"))
    loop = {"name": "bob loop", "tasks": [{"task_key": "each", "for_each_task": {
        "inputs": "[1, 2]", "task": {"task_key": "inner", "run_job_task": {"job_id": private_job}}}}]}
    parent = client.post("/api/2.2/jobs/create", headers=bearer(tokens.bob), json=loop).json()["job_id"]
    run = _run(client, tokens.bob, parent)
    assert run["state"]["result_state"] == "FAILED"
    each = next(t for t in run["tasks"] if t["task_key"] == "each")
    iterations = service.get_run(each["run_id"])["iterations"]
    assert len(iterations) == 2
    for iteration in iterations:
        assert DENIED.search(service.get_run_output(iteration["run_id"])["error"])
    assert _runs_of(private_job) == []


def test_allowed_child_runs_are_credited_to_the_run_principal(client, tokens, private_job):
    grant = client.patch(f"/api/2.0/permissions/jobs/{private_job}", headers=bearer(tokens.alice), json={
        "access_control_list": [{"user_name": BOB, "permission_level": "CAN_MANAGE_RUN"}]})
    assert grant.status_code == 200, grant.text
    body = {"name": "bob parent", "tasks": [{"task_key": "child", "run_job_task": {"job_id": private_job}}]}
    parent = client.post("/api/2.2/jobs/create", headers=bearer(tokens.bob), json=body).json()["job_id"]
    run = _run(client, tokens.bob, parent)
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    (child,) = _runs_of(private_job)
    assert child["trigger"] == "RUN_JOB_TASK"
    assert child["creator_user_name"] == BOB  # not the workspace's local admin
    # The child executes as its own job's principal (alice, the owner), as on Databricks.
    from healthmon.settings import Settings
    from healthmon.store import auth
    from healthmon.store.db import Database

    with Database.from_settings(Settings.from_env()).session() as s:
        assert auth.run_principal_name(s, child["run_id"]) == ALICE
        assert auth.run_principal_name(s, run["run_id"]) == BOB


def test_secrets_are_read_as_the_run_principal(client, tokens, settings):
    value = "alice-Secret-4242"
    assert client.post("/api/2.0/secrets/scopes/create", headers=bearer(tokens.alice), json={"scope": "alice-scope"}).status_code == 200
    assert client.post("/api/2.0/secrets/put", headers=bearer(tokens.alice),
                       json={"scope": "alice-scope", "key": "k", "string_value": value}).status_code == 200
    path = notebook(settings, BOB, "reader", "v = dbutils.secrets.get('alice-scope', 'k')\nprint('got', v)\n"
                                             "dbutils.notebook.exit(v)")
    job = client.post("/api/2.2/jobs/create", headers=bearer(tokens.bob), json={
        "name": "reader", "tasks": [{"task_key": "r", "notebook_task": {"notebook_path": path}}]}).json()["job_id"]
    run = _run(client, tokens.bob, job)
    assert run["state"]["result_state"] == "FAILED"
    assert "bob@example.com does not have READ permission on scope alice-scope" in _task_error(run, "r")
    assert client.post("/api/2.0/secrets/acls/put", headers=bearer(tokens.alice), json={
        "scope": "alice-scope", "principal": BOB, "permission": "READ"}).status_code == 200
    run = _run(client, tokens.bob, job)
    assert run["state"]["result_state"] == "SUCCESS", _task_error(run, "r")
    out = client.get("/api/2.2/jobs/runs/get-output", headers=bearer(tokens.bob),
                     params={"run_id": run["tasks"][0]["run_id"]}).json()
    assert out["notebook_output"]["result"] == "[REDACTED]" and value not in str(out)


def _sdk(live_server, token: str):
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient(host=live_server.url, token=token)


def test_runs_submit_with_run_job_task_through_the_sdk(workspace, live_server, tokens, private_job):
    """runs/submit is checked like a job's task: refused for a job bob may not run (the same words as
    for a missing job), allowed once alice grants Can Manage Run, and the child credited to bob."""
    from databricks.sdk.service.jobs import JobAccessControlRequest, JobPermissionLevel, RunJobTask, SubmitTask

    bob = _sdk(live_server, tokens.bob)
    task = [SubmitTask(task_key="child", run_job_task=RunJobTask(job_id=private_job))]
    run = bob.jobs.submit(run_name="bob one-time", tasks=task).result()  # the SDK waits for TERMINATED
    assert run.state.result_state.value == "FAILED"
    error = bob.jobs.get_run_output(run.tasks[0].run_id).error or ""
    assert DENIED.search(error), error
    assert "payroll" not in error and ALICE not in error
    assert _runs_of(private_job) == []

    workspace.jobs.update_permissions(str(private_job), access_control_list=[  # workspace = alice
        JobAccessControlRequest(user_name=BOB, permission_level=JobPermissionLevel.CAN_MANAGE_RUN)])
    done = bob.jobs.submit(run_name="bob one-time", tasks=task).result()
    assert done.state.result_state.value == "SUCCESS"
    (child,) = list(workspace.jobs.list_runs(job_id=private_job))
    assert child.trigger.value == "RUN_JOB_TASK"
    assert child.creator_user_name == BOB  # credited to the caller, not to the workspace's local admin


def test_a_child_is_checked_for_the_run_principal_not_for_who_pressed_run_now(client, tokens, private_job):
    """bob's job runs as bob even when alice (who may run it) starts it: its run_job_task to alice's
    private job is refused, so Can Manage Run on bob's job lends alice's rights to nobody; and the
    other way round, bob starting alice's job runs its child as alice, credited to her."""
    body = {"name": "bob parent", "tasks": [{"task_key": "child", "run_job_task": {"job_id": private_job}}],
            "access_control_list": [{"user_name": ALICE, "permission_level": "CAN_MANAGE_RUN"}]}
    bobs = client.post("/api/2.2/jobs/create", headers=bearer(tokens.bob), json=body).json()["job_id"]
    run = _run(client, tokens.alice, bobs)
    assert run["state"]["result_state"] == "FAILED"
    assert DENIED.search(_task_error(run, "child"))
    assert _runs_of(private_job) == []

    alices = client.post("/api/2.2/jobs/create", headers=bearer(tokens.alice), json={
        "name": "alice parent", "tasks": [{"task_key": "child", "run_job_task": {"job_id": private_job}}],
        "access_control_list": [{"user_name": BOB, "permission_level": "CAN_MANAGE_RUN"}]}).json()["job_id"]
    run = _run(client, tokens.bob, alices)
    assert run["state"]["result_state"] == "SUCCESS", run["state"]
    assert run["creator_user_name"] == BOB
    (child,) = _runs_of(private_job)
    assert child["creator_user_name"] == ALICE  # the parent run executes as alice, its owner
    refused = client.post("/api/2.2/jobs/run-now", headers=bearer(tokens.bob), json={"job_id": private_job})
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
