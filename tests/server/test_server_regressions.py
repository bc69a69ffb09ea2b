"""Regression tests for the small holes found in the workspace server, each against Databricks'
documented behaviour: /runs/{id} checks permissions, deeply nested settings are a 400 (and a
stored one never a 500), token lifetimes are numbers, host metadata never reflects the Host
header, run output logs need Can Manage Run; API 2.0 get-output of a one-task job run; runs/export."""

from __future__ import annotations

import pytest

from healthmon.jobs import service
from healthmon.store import auth
from tests.server.conftest import bearer, notebook, workspace_file
from tests.server.test_server_ui_http import login

ALICE = "alice@example.com"


def test_run_redirect_checks_permissions(client, tokens, db):
    job_id = service.create_job({"name": "secret-project", "tasks": []}, user_name=ALICE)
    from healthmon.store.runs import RunRecord

    with db.session() as s:
        run = RunRecord(job_id=job_id, run_name="secret-project", creator_user_name=ALICE, life_cycle_state="TERMINATED",
                        result_state="SUCCESS", start_time=1, end_time=2)
        s.add(run)
        s.flush()
        run_id = run.run_id
    login(client, tokens.carol)
    resp = client.get(f"/runs/{run_id}", follow_redirects=False)
    assert resp.status_code == 404
    assert f"/jobs/{job_id}" not in resp.text and "secret-project" not in resp.text
    missing = client.get("/runs/999999", follow_redirects=False)
    assert missing.status_code == 404  # the same answer as for a run that does not exist
    login(client, tokens.alice)
    assert client.get(f"/runs/{run_id}", follow_redirects=False).headers["location"] == f"/jobs/{job_id}/runs/{run_id}"


def _nested(depth: int) -> dict:
    value: object = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value  # type: ignore[return-value]


def test_deeply_nested_settings(client, tokens):
    body = '{"name": "deep", "tasks": [], "tags": ' + '{"a":' * 900 + '"x"' + "}" * 900 + "}"
    resp = client.post("/api/2.2/jobs/create", headers={**bearer(tokens.alice), "content-type": "application/json"}, content=body)
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "deeper than 64 levels" in resp.json()["message"]
    # A job stored that deep by other means still shows, in the API and the UI.
    job_id = service.create_job({"name": "deep", "tasks": [], "deployment": _nested(900)}, user_name=ALICE)
    assert client.get("/api/2.2/jobs/get", headers=bearer(tokens.alice), params={"job_id": job_id}).status_code == 200
    login(client, tokens.alice)
    page = client.get(f"/jobs/{job_id}")
    assert page.status_code == 200 and "deep" in page.text


@pytest.mark.parametrize("lifetime", [False, True, 0, -5, "600", 1.5])
def test_token_lifetime_must_be_a_positive_number(client, tokens, lifetime):
    resp = client.post("/api/2.0/token/create", headers=bearer(tokens.alice), json={"lifetime_seconds": lifetime})
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "lifetime_seconds" in resp.json()["message"]


def test_token_without_lifetime_lasts_two_years(client, tokens):
    """The token API: "If the lifetime is not specified, this token remains valid for 2 years"."""
    info = client.post("/api/2.0/token/create", headers=bearer(tokens.alice), json={"comment": "x"}).json()["token_info"]
    assert info["expiry_time"] - info["creation_time"] == 2 * 365 * 24 * 3600 * 1000
    info = client.post("/api/2.0/token/create", headers=bearer(tokens.alice), json={"lifetime_seconds": 60}).json()["token_info"]
    assert info["expiry_time"] - info["creation_time"] == 60_000


def test_host_metadata_never_reflects_the_host_header(client, monkeypatch):
    monkeypatch.delenv("HEALTHMON_SERVER_URL", raising=False)
    meta = client.get("/.well-known/databricks-config", headers={"Host": "evil.example:666"}).json()
    assert "evil" not in meta["oidc_endpoint"]
    monkeypatch.setenv("HEALTHMON_SERVER_URL", "http://127.0.0.1:8080")
    meta = client.get("/.well-known/databricks-config", headers={"Host": "evil.example"}).json()
    assert meta["oidc_endpoint"] == "http://127.0.0.1:8080/oidc"


def _run_alices_job(name: str, task: dict) -> dict:
    """One run, finished, of alice's one-task job ``name``; carol CAN_VIEW on it, bob (via
    data-eng) CAN_MANAGE_RUN."""
    job_id = service.create_job({"name": name, "tasks": [{"task_key": "t", **task}], "access_control_list": [
        {"user_name": "carol@example.com", "permission_level": "CAN_VIEW"},
        {"group_name": "data-eng", "permission_level": "CAN_MANAGE_RUN"}]}, user_name=ALICE)
    return service.wait_for_run(service.run_now(job_id, user_name=ALICE), timeout=120)


@pytest.fixture
def finished_run(settings):
    """A finished one-task notebook run that printed a log line and exited with a result."""
    path = notebook(settings, ALICE, "noisy", "print('log line 42')\ndbutils.notebook.exit('the result')")
    run = _run_alices_job("noisy", {"notebook_task": {"notebook_path": path}})
    assert run["state"]["result_state"] == "SUCCESS"
    return run["job_id"], run


@pytest.mark.timeout(180)
def test_get_output_logs_need_can_manage_run(client, tokens, settings):
    """Databricks job ACLs: "View results" with Can View; "View ... logs of a job run" with Can
    Manage Run. A Python file task's output has logs, an error and its trace."""
    path = workspace_file(settings, ALICE, "loud.py", "print('log line 42')\nraise ValueError('bad input')\n")
    run = _run_alices_job("loud", {"spark_python_task": {"python_file": path}})
    task_run = run["tasks"][0]["run_id"]
    viewer = client.get("/api/2.2/jobs/runs/get-output", headers=bearer(tokens.carol), params={"run_id": task_run}).json()
    assert viewer["error"] == "ValueError: bad input"
    assert "logs" not in viewer and "error_trace" not in viewer and "logs_truncated" not in viewer
    runner = client.get("/api/2.2/jobs/runs/get-output", headers=bearer(tokens.bob), params={"run_id": task_run}).json()
    assert "log line 42" in runner["logs"] and "ValueError" in runner["error_trace"]
    outsider = client.get("/api/2.2/jobs/runs/get-output", headers=bearer(tokens.robot), params={"run_id": task_run})
    assert outsider.status_code == 403 and "job" not in outsider.json()["message"]


@pytest.mark.timeout(180)
def test_get_output_of_a_one_task_job_run_in_api_2_0(client, tokens, finished_run):
    _, run = finished_run
    legacy = client.get("/api/2.0/jobs/runs/get-output", headers=bearer(tokens.alice), params={"run_id": run["run_id"]})
    assert legacy.status_code == 200
    assert legacy.json()["notebook_output"]["result"] == "the result"
    assert legacy.json()["metadata"]["run_id"] == run["tasks"][0]["run_id"]
    newer = client.get("/api/2.1/jobs/runs/get-output", headers=bearer(tokens.alice), params={"run_id": run["run_id"]})
    assert newer.status_code == 400 and "multiple tasks" in newer.json()["message"]


@pytest.mark.timeout(180)
def test_runs_export(client, tokens, finished_run, workspace):
    from databricks.sdk.service.jobs import ViewsToExport, ViewType

    _, run = finished_run
    task_run = run["tasks"][0]["run_id"]
    exported = workspace.jobs.export_run(task_run)  # alice, through the SDK
    (view,) = exported.views
    assert view.type == ViewType.NOTEBOOK and view.name == "noisy"
    assert "dbutils.notebook.exit(&#x27;the result&#x27;)" in view.content and "the result" in view.content
    assert not workspace.jobs.export_run(task_run, views_to_export=ViewsToExport.DASHBOARDS).views
    job_run = client.get("/api/2.2/jobs/runs/export", headers=bearer(tokens.alice), params={"run_id": run["run_id"]})
    assert job_run.status_code == 400 and "export one of its task runs" in job_run.json()["message"]
    # carol (Can View) sees the result; alice's notebook is in alice's home, which carol cannot read.
    carol = client.get("/api/2.2/jobs/runs/export", headers=bearer(tokens.carol), params={"run_id": task_run}).json()
    assert "the result" in carol["views"][0]["content"] and "not available" in carol["views"][0]["content"]


def test_export_never_reads_a_host_path(client, tokens, db):
    from healthmon.store.runs import RunRecord

    job_id = service.create_job({"name": "host", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/etc/hostname"}}]},
                                user_name="tester@example.com")
    with db.session() as s:
        job_run = RunRecord(job_id=job_id, run_name="host", life_cycle_state="TERMINATED", result_state="FAILED")
        s.add(job_run)
        s.flush()
        task = RunRecord(job_id=job_id, job_run_id=job_run.run_id, task_key="t", run_name="t",
                         life_cycle_state="TERMINATED", result_state="FAILED")
        task.set_j("settings", {"task_key": "t", "notebook_task": {"notebook_path": "/etc/hostname"}})
        s.add(task)
        s.flush()
        task_id = task.run_id
    content = client.get("/api/2.2/jobs/runs/export", headers=bearer(tokens.admin), params={"run_id": task_id}).json()
    secret = open("/etc/hostname").read().strip()
    assert "not available" in content["views"][0]["content"]
    assert not secret or secret not in content["views"][0]["content"].replace("hostname", "")


def test_session_store_is_not_the_token_store(db):
    with db.session() as s:
        created = auth.create_token(s, ALICE)
        assert auth.create_session(s, created.token_value + "x") is None
