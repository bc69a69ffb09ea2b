"""Databricks' job ownership rules through the REST API: exactly one IS_OWNER, a user or service
principal (never a group), changed by admins only, the previous owner keeps CAN_MANAGE; invalid
levels refused naming the level; the Permissions API (GET, PUT, PATCH, permissionLevels);
jobs/create, jobs/reset and jobs/update under the same rules; run_as changes by admins only.

Expectations are Databricks' documented job ACL behaviour (docs: "Job ACLs": a job cannot have
more than one owner, a group cannot be an owner, only workspace admins change the owner)."""

from __future__ import annotations

import pytest

from healthmon.jobs import service
from tests.server.conftest import bearer

ALICE, BOB, CAROL, ROBOT, ADMIN = ("alice@example.com", "bob@example.com", "carol@example.com", "6f1c0b7e-robot",
                                   "tester@example.com")


@pytest.fixture
def job_id(client, tokens):
    """alice's job (created through the API), bob CAN_MANAGE, carol CAN_VIEW."""
    body = {"name": "owned", "tasks": [], "access_control_list": [
        {"user_name": BOB, "permission_level": "CAN_MANAGE"},
        {"user_name": CAROL, "permission_level": "CAN_VIEW"},
    ]}
    resp = client.post("/api/2.2/jobs/create", headers=bearer(tokens.alice), json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()["job_id"]


def levels(client, token, job_id) -> dict[str, str]:
    resp = client.get(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(token))
    assert resp.status_code == 200, resp.text
    out = {}
    for entry in resp.json()["access_control_list"]:
        name = entry.get("user_name") or entry.get("group_name") or entry.get("service_principal_name")
        direct = [p["permission_level"] for p in entry["all_permissions"] if not p.get("inherited")]
        if direct:
            assert len(direct) == 1, entry
            out[name] = direct[0]
    return out


def owners(client, token, job_id) -> list[str]:
    return [name for name, level in levels(client, token, job_id).items() if level == "IS_OWNER"]


def error(resp) -> tuple[int, str, str]:
    body = resp.json()
    assert set(body) == {"error_code", "message"}, body
    return resp.status_code, body["error_code"], body["message"]


def test_a_manager_cannot_take_ownership_by_reset(client, tokens, job_id):
    settings = {"name": "owned", "tasks": [], "access_control_list": [{"user_name": BOB, "permission_level": "IS_OWNER"}]}
    status, code, message = error(client.post("/api/2.2/jobs/reset", headers=bearer(tokens.bob),
                                              json={"job_id": job_id, "new_settings": settings}))
    assert (status, code) == (403, "PERMISSION_DENIED") and "admins" in message
    assert owners(client, tokens.alice, job_id) == [ALICE]  # the creator is not locked out
    assert client.get("/api/2.2/jobs/get", headers=bearer(tokens.alice), params={"job_id": job_id}).status_code == 200
    # Nor through the bundle form, which cannot grant ownership at all.
    bundle_form = {"name": "owned", "tasks": [], "permissions": [{"level": "IS_OWNER", "user_name": BOB}]}
    status, code, _ = error(client.post("/api/2.2/jobs/reset", headers=bearer(tokens.bob),
                                        json={"job_id": job_id, "new_settings": bundle_form}))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    assert owners(client, tokens.alice, job_id) == [ALICE]


def test_a_reset_without_acl_keeps_the_permissions(client, tokens, job_id):
    resp = client.post("/api/2.2/jobs/reset", headers=bearer(tokens.bob),
                       json={"job_id": job_id, "new_settings": {"name": "renamed", "tasks": []}})
    assert resp.status_code == 200, resp.text
    assert levels(client, tokens.carol, job_id) == {ALICE: "IS_OWNER", BOB: "CAN_MANAGE", CAROL: "CAN_VIEW"}


@pytest.mark.parametrize("entry, status, fragment", [
    ({"group_name": "users", "permission_level": "IS_OWNER"}, 400, "Group users cannot own"),
    ({"user_name": CAROL, "permission_level": "CAN_DANCE"}, 400, "Permission level CAN_DANCE is not valid"),
    ({"user_name": CAROL, "permission_level": "can_view"}, 400, "Permission level can_view is not valid"),
    ({"user_name": CAROL, "group_name": "users", "permission_level": "CAN_VIEW"}, 400, "exactly one of"),
    ({"permission_level": "CAN_VIEW"}, 400, "exactly one of"),
])
def test_invalid_entries_are_refused_everywhere(client, tokens, job_id, entry, status, fragment):
    acl = [entry]
    attempts = [
        client.post("/api/2.2/jobs/create", headers=bearer(tokens.admin),
                    json={"name": "x", "tasks": [], "access_control_list": acl}),
        client.post("/api/2.2/jobs/reset", headers=bearer(tokens.admin),
                    json={"job_id": job_id, "new_settings": {"name": "x", "tasks": [], "access_control_list": acl}}),
        client.post("/api/2.2/jobs/update", headers=bearer(tokens.admin),
                    json={"job_id": job_id, "new_settings": {"access_control_list": acl}}),
        client.put(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(tokens.admin), json={"access_control_list": acl}),
        client.patch(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(tokens.admin), json={"access_control_list": acl}),
    ]
    for resp in attempts:
        got_status, code, message = error(resp)
        assert (got_status, code) == (status, "INVALID_PARAMETER_VALUE") and fragment in message, message
    assert levels(client, tokens.alice, job_id) == {ALICE: "IS_OWNER", BOB: "CAN_MANAGE", CAROL: "CAN_VIEW"}


def test_two_owners_are_refused(client, tokens, job_id):
    acl = [{"user_name": BOB, "permission_level": "IS_OWNER"}, {"service_principal_name": ROBOT, "permission_level": "IS_OWNER"}]
    status, code, message = error(client.put(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(tokens.admin),
                                             json={"access_control_list": acl}))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and "only one owner" in message


def test_an_admin_transfers_ownership_and_the_previous_owner_keeps_can_manage(client, tokens, job_id):
    resp = client.patch(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(tokens.admin),
                        json={"access_control_list": [{"service_principal_name": ROBOT, "permission_level": "IS_OWNER"}]})
    assert resp.status_code == 200, resp.text
    assert levels(client, tokens.alice, job_id) == {ROBOT: "IS_OWNER", ALICE: "CAN_MANAGE", BOB: "CAN_MANAGE",
                                                   CAROL: "CAN_VIEW"}
    job = client.get("/api/2.2/jobs/get", headers=bearer(tokens.robot), params={"job_id": job_id}).json()
    assert job["run_as_user_name"] == ROBOT  # runs execute as the owner
    # The new owner is a non-admin: it cannot hand ownership on either.
    status, code, _ = error(client.patch(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(tokens.robot),
                                         json={"access_control_list": [{"user_name": BOB, "permission_level": "IS_OWNER"}]}))
    assert (status, code) == (403, "PERMISSION_DENIED")


def test_put_replaces_direct_permissions_but_keeps_the_owner(client, tokens, job_id):
    resp = client.put(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(tokens.bob),
                      json={"access_control_list": [{"group_name": "data-eng", "permission_level": "CAN_MANAGE_RUN"}]})
    assert resp.status_code == 200, resp.text
    assert levels(client, tokens.alice, job_id) == {ALICE: "IS_OWNER", "data-eng": "CAN_MANAGE_RUN"}
    # bob is in data-eng: he can still run it, no longer manage it.
    denied = client.put(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(tokens.bob), json={"access_control_list": []})
    assert denied.status_code == 403
    assert client.put(f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(tokens.alice),
                      json={"access_control_list": []}).status_code == 200
    assert levels(client, tokens.alice, job_id) == {ALICE: "IS_OWNER"}


def test_permission_changes_need_can_manage(client, tokens, job_id):
    for token in (tokens.carol, tokens.robot):
        for method in ("PUT", "PATCH"):
            resp = client.request(method, f"/api/2.0/permissions/jobs/{job_id}", headers=bearer(token),
                                  json={"access_control_list": [{"user_name": CAROL, "permission_level": "CAN_MANAGE"}]})
            assert resp.status_code == 403, resp.text


def test_permission_levels(client, tokens, job_id):
    resp = client.get(f"/api/2.0/permissions/jobs/{job_id}/permissionLevels", headers=bearer(tokens.carol))
    assert resp.status_code == 200
    assert [p["permission_level"] for p in resp.json()["permission_levels"]] == ["CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE",
                                                                                "IS_OWNER"]
    assert client.get(f"/api/2.0/permissions/jobs/{job_id}/permissionLevels",
                      headers=bearer(tokens.robot)).status_code == 403


def test_update_merges_and_removing_the_acl_keeps_the_owner(client, tokens, job_id):
    resp = client.post("/api/2.2/jobs/update", headers=bearer(tokens.bob), json={
        "job_id": job_id, "new_settings": {"access_control_list": [{"user_name": CAROL, "permission_level": "CAN_MANAGE_RUN"}]}})
    assert resp.status_code == 200, resp.text
    assert levels(client, tokens.alice, job_id) == {ALICE: "IS_OWNER", BOB: "CAN_MANAGE", CAROL: "CAN_MANAGE_RUN"}
    resp = client.post("/api/2.2/jobs/update", headers=bearer(tokens.bob),
                       json={"job_id": job_id, "fields_to_remove": ["access_control_list"]})
    assert resp.status_code == 200, resp.text
    assert levels(client, tokens.alice, job_id) == {ALICE: "IS_OWNER"}


def test_run_as_another_principal_is_for_admins(client, tokens, job_id):
    other = {"name": "as robot", "tasks": [], "run_as": {"service_principal_name": ROBOT}}
    status, code, _ = error(client.post("/api/2.2/jobs/create", headers=bearer(tokens.alice), json=other))
    assert (status, code) == (403, "PERMISSION_DENIED")
    status, code, _ = error(client.post("/api/2.2/jobs/update", headers=bearer(tokens.bob), json={
        "job_id": job_id, "new_settings": {"run_as": {"user_name": CAROL}}}))
    assert (status, code) == (403, "PERMISSION_DENIED")
    # A manager may make a job run as themselves (Databricks: run_as the caller, or a service
    # principal the caller may use).
    assert client.post("/api/2.2/jobs/update", headers=bearer(tokens.bob), json={
        "job_id": job_id, "new_settings": {"run_as": {"user_name": BOB}}}).status_code == 200
    assert client.get("/api/2.2/jobs/get", headers=bearer(tokens.bob), params={"job_id": job_id}).json()["run_as_user_name"] == BOB
    created = client.post("/api/2.2/jobs/create", headers=bearer(tokens.admin), json=other)
    assert created.status_code == 200
    robot_job = created.json()["job_id"]
    job = client.get("/api/2.2/jobs/get", headers=bearer(tokens.admin), params={"job_id": robot_job}).json()
    assert job["run_as_user_name"] == ROBOT and job["creator_user_name"] == ADMIN
    bad = {"name": "as group", "tasks": [], "run_as": {"group_name": "users"}}
    status, code, _ = error(client.post("/api/2.2/jobs/create", headers=bearer(tokens.admin), json=bad))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    # A manager may edit a job that runs as someone else, as long as run_as stays.
    kept = client.post("/api/2.2/jobs/update", headers=bearer(tokens.admin), json={
        "job_id": robot_job, "new_settings": {"access_control_list": [{"user_name": BOB, "permission_level": "CAN_MANAGE"}]}})
    assert kept.status_code == 200
    assert client.post("/api/2.2/jobs/update", headers=bearer(tokens.bob), json={
        "job_id": robot_job, "new_settings": {"max_concurrent_runs": 2}}).status_code == 200
    status, code, _ = error(client.post("/api/2.2/jobs/update", headers=bearer(tokens.bob), json={
        "job_id": robot_job, "fields_to_remove": ["run_as"]}))  # would run as the owner (admin) instead
    assert (status, code) == (403, "PERMISSION_DENIED")


def test_jobs_update_is_a_partial_update(client, tokens):
    tasks = [{"task_key": "a", "spark_python_task": {"python_file": "/a.py"}},
             {"task_key": "b", "depends_on": [{"task_key": "a"}], "spark_python_task": {"python_file": "/b.py"}}]
    job_id = client.post("/api/2.2/jobs/create", headers=bearer(tokens.alice),
                         json={"name": "partial", "tasks": tasks, "tags": {"team": "ml"}, "max_concurrent_runs": 3}).json()["job_id"]
    resp = client.post("/api/2.2/jobs/update", headers=bearer(tokens.alice), json={
        "job_id": job_id, "fields_to_remove": ["tags"],
        "new_settings": {"name": "partial v2", "tasks": [{"task_key": "b", "spark_python_task": {"python_file": "/b2.py"}},
                                                          {"task_key": "c", "spark_python_task": {"python_file": "/c.py"}}]}})
    assert resp.status_code == 200, resp.text
    settings = client.get("/api/2.2/jobs/get", headers=bearer(tokens.alice), params={"job_id": job_id}).json()["settings"]
    assert settings["name"] == "partial v2" and settings["max_concurrent_runs"] == 3 and "tags" not in settings
    assert [(t["task_key"], t["spark_python_task"]["python_file"]) for t in settings["tasks"]] == [
        ("a", "/a.py"), ("b", "/b2.py"), ("c", "/c.py")]
    resp = client.post("/api/2.2/jobs/update", headers=bearer(tokens.alice),
                       json={"job_id": job_id, "fields_to_remove": ["tasks/c"]})
    assert resp.status_code == 200
    settings = client.get("/api/2.2/jobs/get", headers=bearer(tokens.alice), params={"job_id": job_id}).json()["settings"]
    assert [t["task_key"] for t in settings["tasks"]] == ["a", "b"]
    for removal in (["tasks/nope"], ["settings/name"]):
        status, code, _ = error(client.post("/api/2.2/jobs/update", headers=bearer(tokens.alice),
                                            json={"job_id": job_id, "fields_to_remove": removal}))
        assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    denied = client.post("/api/2.2/jobs/update", headers=bearer(tokens.carol), json={"job_id": job_id, "new_settings": {"name": "x"}})
    assert denied.status_code == 403


def test_stored_acls_that_break_the_rules_grant_no_more_than_can_manage(client, tokens):
    """A job stored by an older version with a group owner and two owners: one owner (the first
    user), everyone else at most CAN_MANAGE."""
    job_id = service.create_job({"name": "legacy", "tasks": [], "access_control_list": [
        {"group_name": "users", "permission_level": "IS_OWNER"},
        {"user_name": BOB, "permission_level": "IS_OWNER"},
        {"user_name": CAROL, "permission_level": "IS_OWNER"},
    ]}, user_name=ALICE)
    assert levels(client, tokens.bob, job_id) == {BOB: "IS_OWNER", "users": "CAN_MANAGE", CAROL: "CAN_MANAGE"}
    assert owners(client, tokens.alice, job_id) == [BOB]


def test_sdk_permissions_calls(workspace, tokens, db):
    """The real databricks-sdk: get/set/update permissions and permission levels."""
    from databricks.sdk.errors import PermissionDenied
    from databricks.sdk.service.jobs import JobAccessControlRequest, JobPermissionLevel, JobSettings

    job_id = workspace.jobs.create(name="sdk owned").job_id  # as alice
    levels_resp = workspace.jobs.get_permission_levels(str(job_id))
    assert {p.permission_level for p in levels_resp.permission_levels} == set(JobPermissionLevel)
    perms = workspace.jobs.update_permissions(str(job_id), access_control_list=[
        JobAccessControlRequest(user_name=CAROL, permission_level=JobPermissionLevel.CAN_VIEW)])
    direct = {(a.user_name or a.group_name): a.all_permissions[0].permission_level for a in perms.access_control_list
              if not a.all_permissions[0].inherited}
    assert direct == {ALICE: JobPermissionLevel.IS_OWNER, CAROL: JobPermissionLevel.CAN_VIEW}
    perms = workspace.jobs.set_permissions(str(job_id), access_control_list=[
        JobAccessControlRequest(group_name="data-eng", permission_level=JobPermissionLevel.CAN_MANAGE_RUN)])
    direct = {(a.user_name or a.group_name): a.all_permissions[0].permission_level for a in perms.access_control_list
              if not a.all_permissions[0].inherited}
    assert direct == {ALICE: JobPermissionLevel.IS_OWNER, "data-eng": JobPermissionLevel.CAN_MANAGE_RUN}
    with pytest.raises(PermissionDenied):
        workspace.jobs.set_permissions(str(job_id), access_control_list=[
            JobAccessControlRequest(user_name=BOB, permission_level=JobPermissionLevel.IS_OWNER)])
    workspace.jobs.update(job_id, new_settings=JobSettings(max_concurrent_runs=4))
    assert workspace.jobs.get(job_id).settings.max_concurrent_runs == 4
