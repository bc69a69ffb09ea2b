"""Hostile requests to the server's workspace, Files/DBFS and runs routes. Databricks answers each
with its error JSON (``error_code`` + ``message`` naming the field) and a 4xx status, never a
500; the real ``databricks-sdk`` raises the matching typed error."""

from __future__ import annotations

import pytest

from healthmon.settings import Settings
from healthmon.store.db import Database
from tests.badinput.conftest import ALICE, api_error


@pytest.mark.parametrize(
    "url",
    ["/api/2.0/workspace/list", "/api/2.0/workspace/export", "/api/2.0/workspace/get-status", "/api/2.0/dbfs/list"],
)
def test_a_missing_path_query_parameter_is_named_in_the_error(client, url):
    # The field is called "path"; the error must say so, not blame a request body a GET has none of.
    message = api_error(client.get(url), 400, "INVALID_PARAMETER_VALUE")
    assert "path" in message and "request body" not in message, message


def _killed_run(healthmon_home) -> tuple[int, int]:
    """A real run of a long notebook whose runner was then SIGKILLed: (run id, runner pid)."""
    import os
    import signal
    import time

    from healthmon.jobs import service
    from healthmon.store.runs import RunRecord
    from tests.jobs.jobs_helpers import Workspace, nb_task

    ws = Workspace(healthmon_home)
    started = ws.out / "started"
    nb = ws.notebook("long", f"import time\nopen({str(started)!r}, 'w').close()\ntime.sleep(60)")
    job_id = service.create_job({"name": "orphan", "tasks": [nb_task("long", nb)]}, user_name=ALICE)
    run_id = service.run_now(job_id, user_name=ALICE)
    deadline = time.time() + 30
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    with Database.from_settings(Settings.from_env()).session() as s:
        runner_pid = s.get(RunRecord, run_id).runner_pid
    os.kill(runner_pid, signal.SIGKILL)
    return run_id, runner_pid


def test_a_run_whose_runner_was_killed_reads_internal_error_through_the_api(client, healthmon_home):
    # Databricks ends a run whose driver is lost in INTERNAL_ERROR; runs/get and runs/list must
    # not keep showing it RUNNING once its runner process is gone.
    import time

    run_id, runner_pid = _killed_run(healthmon_home)
    time.sleep(1.1)  # past the server's once-a-second check
    state = client.get("/api/2.2/jobs/runs/get", params={"run_id": run_id}).json()["state"]
    assert state["life_cycle_state"] == "INTERNAL_ERROR" and state["result_state"] == "FAILED", state
    assert f"pid {runner_pid}" in state["state_message"]
    listed = client.get("/api/2.2/jobs/runs/list", params={"active_only": "true"}).json()
    assert not listed.get("runs"), listed


def test_runs_list_ends_a_run_whose_runner_was_killed_as_jobs_list_runs_does(cli, healthmon_home):
    import json

    run_id, _ = _killed_run(healthmon_home)
    code, text = cli("runs", "list", "--active-only", "-o", "json")
    assert code == 0 and json.loads(text).get("runs", []) == [], text
    code, text = cli("runs", "list", "-o", "json")
    assert [r["state"]["life_cycle_state"] for r in json.loads(text)["runs"] if r["run_id"] == run_id] \
        == ["INTERNAL_ERROR"], text
