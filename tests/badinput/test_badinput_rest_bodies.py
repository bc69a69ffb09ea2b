"""Hostile REST bodies and URLs that once reached the database: a body that is not JSON or not an
object, job settings of the wrong JSON type, text with an unpaired surrogate escape, ids beyond
int64 in the web UI's URLs. Databricks answers each with a 400 in its error shape
(``MALFORMED_REQUEST`` for a body it cannot parse as an object, ``INVALID_PARAMETER_VALUE``
naming the field otherwise), and the real ``databricks-sdk`` raises its typed error; nothing is
stored, so jobs/list, runs/get and the UI keep answering."""

from __future__ import annotations

import pytest

from healthmon.settings import Settings
from healthmon.store.db import Database
from tests.badinput.conftest import ALICE, api_error
from tests.server.conftest import LiveServer


@pytest.mark.parametrize(
    ("path", "raw", "message"),
    [
        ("/api/2.2/jobs/run-now", b"{not json", "failed to parse given JSON"),
        ("/api/2.2/jobs/create", b'{"name": "x",}', "failed to parse given JSON"),
        ("/api/2.2/jobs/run-now", b"[1, 2]", "expected a map"),
        ("/api/2.2/jobs/run-now", b"null", "expected a map"),
        ("/api/2.0/secrets/scopes/create", b'"s1"', "expected a map"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_malformed_request(client, path, raw, message):
    resp = client.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert message in api_error(resp, 400, "MALFORMED_REQUEST")


def test_a_json_body_sent_as_a_form_is_read_as_json(client):
    """``curl --data '{...}'`` (how Databricks' REST docs call the API) labels the body
    application/x-www-form-urlencoded; Databricks reads it as JSON. It was refused as not a map."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    resp = client.post("/api/2.2/jobs/run-now", content=b'{"job_id": 424242}', headers=form)
    assert "Job 424242 does not exist." in api_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")
    created = client.post("/api/2.0/secrets/scopes/create", content=b'{"scope": "s1"}', headers=form)
    assert created.status_code == 200, created.text
    assert "failed to parse given JSON" in api_error(
        client.post("/api/2.2/jobs/run-now", content=b"job_id=1", headers=form), 400, "MALFORMED_REQUEST")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"name": 5}, "name must be a string, got 5."),
        ({"name": ["x"]}, "name must be a string, got ['x']."),
        ({"name": "n", "description": 1}, "description must be a string"),
        ({"name": "n", "tags": ["a"]}, "tags must be a JSON object of names to strings"),
        ({"name": "n", "tags": {"team": 1}}, "tags must be a JSON object of names to strings"),
        ({"name": "n", "timeout_seconds": -1}, "timeout_seconds must be a whole number of seconds >= 0"),
        ({"name": "n", "timeout_seconds": "60"}, "timeout_seconds must be a whole number of seconds >= 0"),
        ({"name": "n", "email_notifications": 5}, "email_notifications must be a JSON object"),
        ({"name": "n", "job_clusters": {}}, "job_clusters must be a list"),
        ({"name": "x" * 4097}, "name has 4097 characters; at most 4096."),
    ],
)
def test_job_settings_of_the_wrong_type_are_refused_at_create_reset_and_update(client, settings, message):
    created = client.post("/api/2.2/jobs/create", json={"name": "ok"})
    assert created.status_code == 200, created.text
    job_id = created.json()["job_id"]
    reset = client.post("/api/2.2/jobs/reset", json={"job_id": job_id, "new_settings": settings})
    assert message in api_error(reset, 400, "INVALID_PARAMETER_VALUE")
    update = client.post("/api/2.2/jobs/update", json={"job_id": job_id, "new_settings": settings})
    assert message in api_error(update, 400, "INVALID_PARAMETER_VALUE")
    if set(settings) - {"name"}:  # jobs/create's body model refuses a bad name itself
        assert message in api_error(client.post("/api/2.2/jobs/create", json=settings), 400, "INVALID_PARAMETER_VALUE")
    listed = client.get("/api/2.2/jobs/list")
    assert listed.status_code == 200, listed.text
    assert [j["settings"]["name"] for j in listed.json()["jobs"]] == ["ok"]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"timeout_seconds": "x"}, "timeout_seconds must be a whole number >= 0, got 'x'."),
        ({"timeout_seconds": 1.5}, "timeout_seconds must be a whole number >= 0, got 1.5."),
        ({"max_retries": "3"}, "max_retries must be a whole number >= -1, got '3'."),
        ({"max_retries": -5}, "max_retries must be a whole number >= -1, got -5."),
        ({"min_retry_interval_millis": -1}, "min_retry_interval_millis must be a whole number >= 0"),
        ({"retry_on_timeout": "yes"}, "retry_on_timeout must be true or false, got 'yes'."),
        ({"libraries": 5}, "libraries must be a list, got 5."),
        ({"environment_key": 5}, "environment_key must be a string, got 5."),
        ({"email_notifications": ["a@b.c"]}, "email_notifications must be a JSON object"),
        ({"health": {"rules": 5}}, "health.rules must be a list of {metric, op, value} objects, got 5."),
        ({"health": {"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": "10"}]}},
         "health.rules[0].value must be a number, got '10'."),
    ],
)
def test_task_fields_of_the_wrong_type_are_refused_at_create(client, field, message):
    """They were stored and failed every run with "Internal error: ValueError: invalid literal for
    int()" (or TypeError), or were silently taken (max_retries -5)."""
    task = {"task_key": "a", "notebook_task": {"notebook_path": "/Workspace/Users/x/nb"}, **field}
    resp = client.post("/api/2.2/jobs/create", json={"name": "j", "tasks": [task]})
    assert f"Job 'j', task 'a': {message}" in api_error(resp, 400, "INVALID_PARAMETER_VALUE")
    health = client.post("/api/2.2/jobs/create", json={"name": "j", "health": {"rules": [{"value": None}]}})
    message = api_error(health, 400, "INVALID_PARAMETER_VALUE")
    assert "Job 'j': health.rules[0].value must be a number, got None." in message
    assert client.get("/api/2.2/jobs/list").json().get("jobs", []) == []


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/api/2.2/jobs/create", rb'{"name": "j", "tags": {"team": "a\ud800"}}', "tags.team"),
        ("/api/2.2/jobs/runs/submit", rb'{"run_name": "r", "tasks": [{"task_key": "a\udcff"}]}',
         "tasks[0].task_key"),
        ("/api/2.0/secrets/put", rb'{"scope": "s", "key": "k", "bytes_value": "eA==", "x": ["\ud800"]}', "x[0]"),
    ],
)
def test_an_unpaired_surrogate_escape_is_refused_naming_the_field(client, path, raw, field):
    """JSON's "\\ud800" alone decodes to text that has no UTF-8 form, so no row can store it:
    refused before anything is written (it used to be stored and break every later read)."""
    resp = client.post(path, content=raw, headers={"Content-Type": "application/json"})
    message = api_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert f"{field} holds an unpaired UTF-16 surrogate escape" in message
    listed = client.get("/api/2.2/jobs/list")
    assert listed.status_code == 200 and listed.json().get("jobs", []) == []
    runs = client.get("/api/2.2/jobs/runs/list")
    assert runs.status_code == 200 and runs.json().get("runs", []) == []


def test_rows_an_older_server_stored_with_a_surrogate_are_read_with_a_replacement_character(client):
    """A job row written before the check (the encoder's old fallback wrote a lone "\\ud800"
    escape, which orjson refuses to read) no longer makes jobs/get and jobs/list a 500."""
    from healthmon.store.jobs import JobRecord, now_ms

    with Database.from_settings(Settings.from_env()).session() as s:
        row = JobRecord(creator_user_name=ALICE, run_as_user_name=ALICE, created_time=now_ms())
        row.settings_json = '{"name": "old", "tags": {"a\\ud800": "b"}}'
        s.add(row)
        s.flush()
        job_id = row.job_id
    got = client.get("/api/2.2/jobs/get", params={"job_id": job_id})
    assert got.status_code == 200, got.text
    assert got.json()["settings"]["tags"] == {"a\ufffd": "b"}
    assert client.get("/api/2.2/jobs/list").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/jobs/99999999999999999999", "/jobs/1?offset=99999999999999999999999", "/jobs/1/runs/99999999999999999999",
     "/runs/99999999999999999999"],
)
def test_ui_urls_with_numbers_beyond_int64_are_a_400_not_a_500(client, token, path):
    from tests.server.test_server_ui_http import login

    login(client, token)
    resp = client.get(path, follow_redirects=False)
    assert resp.status_code == 400, resp.text
    assert "Internal error" not in resp.text


def test_the_sdk_raises_its_typed_errors(app, token, monkeypatch):
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import BadRequest, InvalidParameterValue, NotFound

    for key in ("DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", "/nonexistent/.databrickscfg")
    with LiveServer(app) as srv:
        w = WorkspaceClient(host=srv.url, token=token)
        with pytest.raises(InvalidParameterValue, match="name must be a string"):
            w.api_client.do("POST", "/api/2.2/jobs/reset",
                            body={"job_id": w.jobs.create(name="ok").job_id, "new_settings": {"name": 5}})
        with pytest.raises(InvalidParameterValue, match="timeout_seconds"):
            w.jobs.create(name="t", timeout_seconds=-1)
        with pytest.raises(BadRequest, match="expected a map") as malformed:
            w.api_client.do("POST", "/api/2.2/jobs/run-now", body=[1])
        assert malformed.value.error_code == "MALFORMED_REQUEST"
        with pytest.raises(InvalidParameterValue, match="unpaired UTF-16 surrogate"):
            w.jobs.create(name="t", tags={"team": "a\ud800"})
        with pytest.raises(NotFound):
            w.jobs.get(job_id=424242)
        assert [j.settings.name for j in w.jobs.list()] == ["ok"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"tasks": [{"task_key": "a", "timeout_seconds": "x"}]}, "task 'a': timeout_seconds must be a whole number"),
        ({"timeout_seconds": -1}, "timeout_seconds must be a whole number of seconds >= 0"),
        ({"health": {"rules": 5}}, "health.rules must be a list of {metric, op, value} objects, got 5."),
    ],
)
def test_runs_submit_checks_its_settings_as_jobs_create_does(client, spec, message):
    """A one-time run's settings run exactly as a job's: the same fields of the wrong type were
    taken and failed the run with an internal error."""
    tasks = [{"task_key": "a", "notebook_task": {"notebook_path": "/Workspace/Users/x/nb"}}]
    body = {"run_name": "once", "tasks": tasks, **spec}
    body["tasks"] = [{**tasks[0], **t} for t in body["tasks"]]
    resp = client.post("/api/2.2/jobs/runs/submit", json=body)
    assert message in api_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert client.get("/api/2.2/jobs/runs/list").json().get("runs", []) == []
