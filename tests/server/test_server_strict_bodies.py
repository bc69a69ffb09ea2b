"""Jobs API request bodies take JSON types as the API reference declares them, read by the proto3
JSON mapping the API uses: ``boolean`` fields (``rerun_all_failed_tasks``, ``rerun_dependent_tasks``,
``all_queued_runs``) only ``true`` / ``false``; ``int64`` ids a JSON integer or its decimal string
("either numbers or strings are accepted"; the legacy ``databricks`` CLI sends ids as strings),
never a boolean or a fraction. Anything else is a 400 ``INVALID_PARAMETER_VALUE`` naming the
field (the SDK raises ``InvalidParameterValue``), never a silent conversion of ``"yes"``. The
SDK's own typed calls (real JSON booleans and integers) keep working."""

from __future__ import annotations

import json

import pytest
from databricks.sdk.errors import InvalidParameterValue
from databricks.sdk.service import jobs

from healthmon.jobs import service
from tests.server.conftest import notebook, workspace_file
from tests.server.test_server_legacy_cli import legacy_cli  # noqa: F401  (pytest fixture)

ALICE = "alice@example.com"


def _post(workspace, path: str, body: dict):
    return workspace.api_client.do("POST", path, body=body)


@pytest.mark.parametrize("path, body, field", [
    ("/api/2.2/jobs/runs/repair", {"run_id": 1, "rerun_all_failed_tasks": "yes"}, "rerun_all_failed_tasks"),
    ("/api/2.2/jobs/runs/repair", {"run_id": 1, "rerun_tasks": ["a"], "rerun_dependent_tasks": 1},
     "rerun_dependent_tasks"),
    ("/api/2.1/jobs/runs/repair", {"run_id": 1, "rerun_tasks": ["a"], "rerun_dependent_tasks": "true"},
     "rerun_dependent_tasks"),
    ("/api/2.2/jobs/runs/cancel-all", {"job_id": 1, "all_queued_runs": "false"}, "all_queued_runs"),
    ("/api/2.2/jobs/run-now", {"job_id": "yes"}, "job_id"),
    ("/api/2.2/jobs/run-now", {"job_id": True}, "job_id"),
    ("/api/2.2/jobs/runs/cancel", {"run_id": "7.5"}, "run_id"),
    ("/api/2.2/jobs/runs/cancel", {"run_id": 7.5}, "run_id"),
    ("/api/2.2/jobs/runs/repair", {"run_id": 1, "rerun_tasks": ["a"], "latest_repair_id": "0x2"},
     "latest_repair_id"),
    ("/api/2.2/jobs/delete", {"job_id": " 1"}, "job_id"),
])
def test_a_non_json_boolean_or_integer_is_a_400_naming_the_field(workspace, path, body, field):
    with pytest.raises(InvalidParameterValue) as err:
        _post(workspace, path, body)
    assert field in str(err.value)


def test_the_sdk_typed_calls_send_json_booleans_and_are_accepted(workspace, settings):
    fails = notebook(settings, ALICE, "fails", "raise ValueError('boom')")
    job_id = workspace.jobs.create(
        name="strict", tasks=[jobs.Task(task_key="t", notebook_task=jobs.NotebookTask(notebook_path=fails))]).job_id
    run_id = workspace.jobs.run_now(job_id).response.run_id
    run = workspace.jobs.wait_get_run_job_terminated_or_skipped(run_id)
    assert run.state.result_state == jobs.RunResultState.FAILED
    repair = workspace.jobs.repair_run(run_id, rerun_all_failed_tasks=True, rerun_dependent_tasks=False)
    assert repair.response.repair_id
    workspace.jobs.cancel_all_runs(job_id=job_id, all_queued_runs=False)
    # An id as its decimal string, as the legacy CLI sends it.
    assert _post(workspace, "/api/2.1/jobs/run-now", {"job_id": str(job_id)})["run_id"] > run_id


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_legacy_cli_sends_ids_as_strings_and_they_are_accepted(legacy_cli, settings):  # noqa: F811
    script = workspace_file(settings, ALICE, "argv.py", "import sys\nprint('argv', sys.argv[1:])\n")
    job_id = service.create_job({"name": "legacy ids", "tasks": [{"task_key": "only", "spark_python_task": {
        "python_file": script}}]}, user_name=ALICE)
    started = legacy_cli("jobs", "run-now", "--job-id", str(job_id), "--python-params", '["from legacy"]')
    assert started.returncode == 0, started.stderr
    run = service.wait_for_run(json.loads(started.stdout)["run_id"], timeout=60)
    assert run["overriding_parameters"] == {"python_params": ["from legacy"]}
