"""The job permission matrix (CAN_VIEW < CAN_MANAGE_RUN < CAN_MANAGE < IS_OWNER, for users,
groups and service principals, from the job settings' ``permissions``) through the REST API."""

from __future__ import annotations

import pytest

from healthmon.jobs import service
from healthmon.store.runs import RunRecord
from tests.server.conftest import bearer, workspace_file

SETTINGS = {
    "name": "guarded",
    "tasks": [],
    "permissions": [
        {"level": "CAN_VIEW", "user_name": "carol@example.com"},
        {"level": "CAN_MANAGE_RUN", "group_name": "data-eng"},
        {"level": "CAN_MANAGE", "service_principal_name": "6f1c0b7e-robot"},
    ],
}


@pytest.fixture
def guarded(db, tokens):
    job_id = service.create_job(SETTINGS, user_name="alice@example.com")
    with db.session() as s:
        run = RunRecord(job_id=job_id, run_name="guarded", creator_user_name="alice@example.com",
                        life_cycle_state="TERMINATED", result_state="SUCCESS", start_time=1, end_time=2)
        run.set_j("settings", SETTINGS)
        s.add(run)
        s.flush()
        run_id = run.run_id
    return job_id, run_id


def _dave(db) -> str:
    from healthmon.store import auth

    with db.session() as s:
        return auth.create_token(s, "dave@example.com").token_value


# (action, minimum level). Each action is chosen so that, once permitted, the service answers
# without starting a process: run-now of a job with no tasks and repair of an unknown task are
# 400s from the runtime, which proves the permission check let them through.
ACTIONS = {
    "get": ("GET", "/api/2.2/jobs/get", lambda j, r: {"params": {"job_id": j}}, "CAN_VIEW", 200),
    "runs-list": ("GET", "/api/2.2/jobs/runs/list", lambda j, r: {"params": {"job_id": j}}, "CAN_VIEW", 200),
    "runs-get": ("GET", "/api/2.1/jobs/runs/get", lambda j, r: {"params": {"run_id": r}}, "CAN_VIEW", 200),
    "run-now": ("POST", "/api/2.2/jobs/run-now", lambda j, r: {"json": {"job_id": j}}, "CAN_MANAGE_RUN", 400),
    "cancel": ("POST", "/api/2.2/jobs/runs/cancel", lambda j, r: {"json": {"run_id": r}}, "CAN_MANAGE_RUN", 200),
    "cancel-all": ("POST", "/api/2.2/jobs/runs/cancel-all", lambda j, r: {"json": {"job_id": j}}, "CAN_MANAGE_RUN", 200),
    "repair": ("POST", "/api/2.2/jobs/runs/repair", lambda j, r: {"json": {"run_id": r, "rerun_tasks": ["nope"]}}, "CAN_MANAGE_RUN", 400),
    "reset": ("POST", "/api/2.2/jobs/reset", lambda j, r: {"json": {"job_id": j, "new_settings": SETTINGS}}, "CAN_MANAGE", 200),
}
RANK = {None: 0, "CAN_VIEW": 1, "CAN_MANAGE_RUN": 2, "CAN_MANAGE": 3, "IS_OWNER": 4}
WHO = {  # principal → level they hold on the guarded job
    "alice": "IS_OWNER",  # creator
    "admin": "CAN_MANAGE",  # admins group
    "robot": "CAN_MANAGE",  # service principal entry
    "bob": "CAN_MANAGE_RUN",  # via group data-eng
    "carol": "CAN_VIEW",
    "dave": None,
}


@pytest.mark.parametrize("who", list(WHO))
def test_permission_matrix(client, tokens, db, guarded, who):
    job_id, run_id = guarded
    token = _dave(db) if who == "dave" else getattr(tokens, who)
    for action, (method, path, args, needed, ok_status) in ACTIONS.items():
        resp = client.request(method, path, headers=bearer(token), **args(job_id, run_id))
        allowed = RANK[WHO[who]] >= RANK[needed]
        if allowed:
            assert resp.status_code == ok_status, (who, action, resp.text)
            if ok_status == 400:
                assert resp.json()["error_code"] != "PERMISSION_DENIED"
        else:
            assert resp.status_code == 403, (who, action, resp.text)
            assert resp.json()["error_code"] == "PERMISSION_DENIED"


def test_jobs_list_and_runs_list_show_only_viewable(client, tokens, db, guarded):
    job_id, run_id = guarded
    hidden = service.create_job({"name": "private", "tasks": []}, user_name="carol@example.com")
    ids = lambda tok: [j["job_id"] for j in client.get("/api/2.2/jobs/list", headers=bearer(tok)).json().get("jobs", [])]  # noqa: E731
    assert ids(tokens.carol) == [hidden, job_id]
    assert ids(tokens.bob) == [job_id]
    assert ids(_dave(db)) == []
    assert set(ids(tokens.admin)) == {hidden, job_id}
    runs = lambda tok: [r["run_id"] for r in client.get("/api/2.2/jobs/runs/list", headers=bearer(tok)).json().get("runs", [])]  # noqa: E731
    assert runs(tokens.bob) == [run_id]
    assert runs(_dave(db)) == []


def test_only_managers_delete(client, tokens, guarded):
    job_id, _ = guarded
    assert client.post("/api/2.2/jobs/delete", headers=bearer(tokens.bob), json={"job_id": job_id}).status_code == 403
    assert client.post("/api/2.2/jobs/delete", headers=bearer(tokens.robot), json={"job_id": job_id}).status_code == 200
    gone = client.get("/api/2.2/jobs/get", headers=bearer(tokens.admin), params={"job_id": job_id})
    assert (gone.status_code, gone.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_acl_from_api_create_and_owner_override(client, tokens):
    body = {"name": "api job", "tasks": [], "access_control_list": [
        {"user_name": "carol@example.com", "permission_level": "IS_OWNER"},
    ]}
    # Only admins change a job's owner, at creation too.
    refused = client.post("/api/2.2/jobs/create", headers=bearer(tokens.alice), json=body)
    assert (refused.status_code, refused.json()["error_code"]) == (403, "PERMISSION_DENIED")
    job_id = client.post("/api/2.2/jobs/create", headers=bearer(tokens.admin), json=body).json()["job_id"]
    got = client.get("/api/2.2/jobs/get", headers=bearer(tokens.carol), params={"job_id": job_id})
    assert got.status_code == 200 and got.json()["creator_user_name"] == "tester@example.com"
    assert got.json()["run_as_user_name"] == "carol@example.com"  # runs execute as the owner
    assert client.get("/api/2.2/jobs/get", headers=bearer(tokens.alice), params={"job_id": job_id}).status_code == 403


def test_run_is_attributed_to_the_caller(client, tokens, settings):
    script = workspace_file(settings, "alice@example.com", "t.py", "print('ok')\n")
    settings = {"name": "shared", "tasks": [{"task_key": "t", "spark_python_task": {"python_file": script}}],
                "permissions": [{"level": "CAN_MANAGE_RUN", "group_name": "data-eng"}]}
    job_id = service.create_job(settings, user_name="alice@example.com")
    run_id = client.post("/api/2.2/jobs/run-now", headers=bearer(tokens.bob), json={"job_id": job_id}).json()["run_id"]
    run = service.wait_for_run(run_id, timeout=60)
    assert run["creator_user_name"] == "bob@example.com"
    got = client.get("/api/2.2/jobs/runs/get", headers=bearer(tokens.bob), params={"run_id": run_id}).json()
    assert got["creator_user_name"] == "bob@example.com"


def test_permissions_api_through_the_sdk_shape(client, tokens, db, guarded):
    from databricks.sdk.service.jobs import JobPermissions

    job_id, _ = guarded
    resp = client.get(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(tokens.carol))
    assert resp.status_code == 200
    perms = JobPermissions.from_dict(resp.json())
    levels = {(a.user_name or a.group_name or a.service_principal_name): {p.permission_level.value for p in a.all_permissions}
              for a in perms.access_control_list}
    assert levels == {"alice@example.com": {"IS_OWNER"}, "carol@example.com": {"CAN_VIEW"}, "data-eng": {"CAN_MANAGE_RUN"},
                      "6f1c0b7e-robot": {"CAN_MANAGE"}, "admins": {"CAN_MANAGE"}}
    assert client.get(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(tokens.alice)).status_code == 200
    outsider = client.get(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(_dave(db)))
    assert (outsider.status_code, outsider.json()["error_code"]) == (403, "PERMISSION_DENIED")
