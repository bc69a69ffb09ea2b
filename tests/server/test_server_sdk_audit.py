"""The real ``databricks-sdk`` used as a platform engineer uses a workspace, over HTTP to a real
uvicorn server. Expectations come from the SDK's dataclasses (``databricks/sdk/service/*.py``:
the documented JSON shapes and enum values) and the REST API's documented error codes; the
behaviour the local workspace does not reproduce answers ``501 FEATURE_DISABLED``."""

from __future__ import annotations

import base64
import dataclasses
import enum
import types
import typing

import pytest
from databricks.sdk.errors import (
    InvalidParameterValue,
    NotFound,
    NotImplemented,  # noqa: A004 (the SDK's name)
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from databricks.sdk.service import compute, jobs, workspace as ws

from healthmon.jobs import service
from tests.server.conftest import notebook, workspace_file

ALICE = "alice@example.com"


def undeclared(value: dict, cls: type, where: str = "$") -> list[str]:
    """Keys of the JSON object ``value`` that the SDK dataclass ``cls`` does not declare, and enum
    values it does not know, recursively through nested dataclasses and lists of them."""
    problems = []
    hints = typing.get_type_hints(cls)
    for key, item in value.items():
        if key not in hints:
            problems.append(f"{where}.{key}")
        else:
            problems += _undeclared_in(item, hints[key], f"{where}.{key}")
    return problems


def _undeclared_in(item, hint, where: str) -> list[str]:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _undeclared_in(item, args[0], where)
    if origin is list and isinstance(item, list):
        return [p for i, x in enumerate(item) for p in _undeclared_in(x, args[0], f"{where}[{i}]")]
    if dataclasses.is_dataclass(hint) and isinstance(item, dict):
        return undeclared(item, hint, where)
    if isinstance(hint, type) and issubclass(hint, enum.Enum) and item not in {m.value for m in hint}:
        return [f"{where}={item!r}"]
    return []


def _get(w, path: str, **query) -> dict:
    return w.api_client.do("GET", path, query=query)


def _feature_disabled(exc_info) -> None:
    assert exc_info.value.error_code == "FEATURE_DISABLED"
    assert "not supported by the local workspace" in str(exc_info.value)


@pytest.fixture
def bob(workspace, tokens):
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient(host=workspace.config.host, token=tokens.bob)


def test_jobs_get_and_list_have_the_sdk_shapes_and_keep_acls_in_the_permissions_api(workspace, bob, settings):
    task = jobs.Task(task_key="main", spark_python_task=jobs.SparkPythonTask(
        python_file=workspace_file(settings, ALICE, "main.py", "print(1)\n")))
    job_id = workspace.jobs.create(name="shaped", tasks=[task], access_control_list=[
        jobs.JobAccessControlRequest(user_name="bob@example.com", permission_level=jobs.JobPermissionLevel.CAN_VIEW)
    ]).job_id

    got = _get(workspace, "/api/2.2/jobs/get", job_id=job_id)
    assert undeclared(got, jobs.Job) == []  # no access_control_list among the settings
    listed = _get(workspace, "/api/2.2/jobs/list", expand_tasks="true")
    assert undeclared(listed, jobs.ListJobsResponse) == []  # BaseJob: no run_as_user_name
    assert [[t.task_key for t in j.settings.tasks] for j in workspace.jobs.list(expand_tasks=True)] == [["main"]]
    assert [j.settings.tasks for j in workspace.jobs.list()] == [[]]  # omitted: the SDK's empty list
    assert [j.job_id for j in workspace.jobs.list(name="SHAPED", limit=1)] == [job_id]

    # get → reset, the usual edit loop, keeps bob's permission (ACLs are not job settings).
    settings_ = workspace.jobs.get(job_id).settings
    settings_.description = "edited"
    workspace.jobs.reset(job_id, new_settings=settings_)
    assert bob.jobs.get(job_id).settings.description == "edited"
    perms = workspace.jobs.get_permissions(str(job_id))
    assert undeclared(perms.as_dict(), jobs.JobPermissions) == []
    levels = {a.user_name: a.all_permissions[0].permission_level for a in perms.access_control_list if a.user_name}
    assert levels == {ALICE: jobs.JobPermissionLevel.IS_OWNER, "bob@example.com": jobs.JobPermissionLevel.CAN_VIEW}

    workspace.jobs.update(job_id, new_settings=jobs.JobSettings(max_concurrent_runs=3))
    assert workspace.jobs.get(job_id).settings.max_concurrent_runs == 3
    with pytest.raises(PermissionDenied):
        bob.jobs.delete(job_id)
    workspace.jobs.delete(job_id)
    for call in (lambda: workspace.jobs.get(job_id), lambda: workspace.jobs.delete(job_id),
                 lambda: workspace.jobs.get_run(job_id + 10_000)):
        with pytest.raises(ResourceDoesNotExist) as missing:
            call()
        assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_settings_the_scheduler_cannot_act_on_are_refused_at_write_time(workspace):
    """A schedule or trigger that cannot fire, or a max_concurrent_runs outside the API's 0..1000,
    is a 400 naming the field at create, reset and update, never a stored job that never runs."""
    good = jobs.CronSchedule(quartz_cron_expression="0 0 6 * * ?", timezone_id="Europe/London")
    job_id = workspace.jobs.create(name="nightly", schedule=good).job_id
    bad = [
        (dict(schedule=jobs.CronSchedule(quartz_cron_expression="0 0 6 * *", timezone_id="UTC")), "quartz_cron"),
        (dict(schedule=jobs.CronSchedule(quartz_cron_expression="0 0 6 * * ?", timezone_id="Mars/Olympus")),
         "timezone_id"),
        (dict(trigger=jobs.TriggerSettings(periodic=jobs.PeriodicTriggerConfiguration(
            interval=0, unit=jobs.PeriodicTriggerConfigurationTimeUnit.HOURS))), "interval"),
        (dict(max_concurrent_runs=1001), "max_concurrent_runs"),
        (dict(max_concurrent_runs=-1), "max_concurrent_runs"),
    ]
    for kwargs, field in bad:
        writes = [
            (workspace.jobs.create, dict(name="nightly", **kwargs)),
            (workspace.jobs.reset, dict(job_id=job_id, new_settings=jobs.JobSettings(name="nightly", **kwargs))),
            (workspace.jobs.update, dict(job_id=job_id, new_settings=jobs.JobSettings(**kwargs))),
        ]
        for write, arguments in writes:
            with pytest.raises(InvalidParameterValue) as refused:
                write(**arguments)
            assert field in str(refused.value), (kwargs, str(refused.value))
    for shape in ({"schedule": "daily"}, {"trigger": {"periodic": "hourly"}}, {"continuous": True}):
        with pytest.raises(InvalidParameterValue) as refused:
            workspace.api_client.do("POST", "/api/2.2/jobs/create", body={"name": "nightly", **shape})
        assert "must be a JSON object" in str(refused.value)
    assert [j.job_id for j in workspace.jobs.list()] == [job_id]
    assert workspace.jobs.get(job_id).settings.schedule == good


def test_unsupported_run_parameters_are_refused_before_a_run_starts(workspace, settings):
    job_id = service.create_job({"name": "params", "parameters": [{"name": "x", "default": "0"}], "tasks": [
        {"task_key": "main", "spark_python_task": {"python_file": workspace_file(settings, ALICE, "p.py", "")}}]},
        user_name=ALICE)
    refusals = [
        dict(jar_params=["a"]), dict(spark_submit_params=["--x"]),
        dict(sql_params={"a": "b"}), dict(dbt_commands=["dbt run"]),
        dict(pipeline_params=jobs.PipelineParams(full_refresh=True)),
    ]
    for kwargs in refusals:
        with pytest.raises(NotImplemented) as refused:
            workspace.jobs.run_now(job_id, **kwargs)
        _feature_disabled(refused)
    # A job with job parameters takes no task parameters (Databricks: they cannot be combined).
    for kwargs in (dict(notebook_params={"x": "1"}), dict(python_named_params={"x": "1"})):
        with pytest.raises(InvalidParameterValue) as refused:
            workspace.jobs.run_now(job_id, **kwargs)
        assert "defines job parameters" in str(refused.value) and "job_parameters" in str(refused.value)
    with pytest.raises(InvalidParameterValue):
        workspace.jobs.run_now(job_id, job_parameters={"undefined": "1"})
    assert list(workspace.jobs.list_runs(job_id=job_id)) == []
    with pytest.raises(NotImplemented) as refused:  # a one-time run is its creator's and admins'
        workspace.jobs.submit(
            run_name="shared",
            tasks=[jobs.SubmitTask(task_key="t", spark_python_task=jobs.SparkPythonTask(python_file="p.py"))],
            access_control_list=[jobs.JobAccessControlRequest(user_name="bob@example.com",
                                                              permission_level=jobs.JobPermissionLevel.CAN_VIEW)])
    _feature_disabled(refused)
    assert list(workspace.jobs.list_runs(run_type=jobs.RunType.SUBMIT_RUN)) == []


def test_runs_list_filters_are_checked(workspace):
    with pytest.raises(InvalidParameterValue) as bad_type:
        _get(workspace, "/api/2.2/jobs/runs/list", run_type="BOGUS")
    assert "run_type" in str(bad_type.value)
    with pytest.raises(InvalidParameterValue):
        list(workspace.jobs.list_runs(active_only=True, completed_only=True))
    assert list(workspace.jobs.list_runs(run_type=jobs.RunType.WORKFLOW_RUN)) == []


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_notebook_job_run_through_the_sdk(workspace, settings):
    """run_now(notebook_params=..., python_named_params=...).result() on a job without job
    parameters: they reach the notebook's widgets and the wheel's named parameters over the
    tasks' own; the run's shape, its output, export, filters, and the parameters repair_run refuses."""
    path = notebook(settings, ALICE, "nb", "dbutils.notebook.exit('out-' + dbutils.widgets.get('x'))")
    workspace_file(settings, ALICE, "query.sql", "select 1\n")
    query = settings.home / "workspace" / "Users" / ALICE / "query.sql"  # the file as the task process sees it
    sqlformat = jobs.PythonWheelTask(package_name="sqlparse", entry_point="sqlformat", parameters=[str(query)])
    job_id = workspace.jobs.create(
        name="nb", environments=[jobs.JobEnvironment(environment_key="default", spec=compute.Environment(
            environment_version="1", dependencies=["sqlparse"]))],
        tasks=[jobs.Task(task_key="nb", notebook_task=jobs.NotebookTask(notebook_path=path, base_parameters={"x": "1"})),
               jobs.Task(task_key="sql", environment_key="default", python_wheel_task=sqlformat)]).job_id
    run = workspace.jobs.run_now(job_id, notebook_params={"x": "7"}, python_named_params={"keywords": "upper"}).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.status.state == jobs.RunLifecycleStateV2State.TERMINATED
    assert run.run_page_url.endswith(f"/jobs/{job_id}/runs/{run.run_id}")
    assert run.run_duration >= 0 and run.execution_duration == 0  # multitask runs: run_duration
    assert run.overriding_parameters == jobs.RunParameters(notebook_params={"x": "7"},
                                                           python_named_params={"keywords": "upper"})
    assert not run.job_parameters  # the job defines none
    task, wheel = sorted(run.tasks, key=lambda t: t.task_key)
    assert min(task.setup_duration, task.execution_duration, task.cleanup_duration) >= 0
    assert workspace.jobs.get_run_output(wheel.run_id).logs.strip() == "SELECT 1"

    raw = _get(workspace, "/api/2.2/jobs/runs/get", run_id=run.run_id)
    assert undeclared(raw, jobs.Run) == []
    assert workspace.jobs.get_run_output(task.run_id).notebook_output.result == "out-7"
    with pytest.raises(InvalidParameterValue):  # a multitask job run has no output of its own
        workspace.jobs.get_run_output(run.run_id)
    (view,) = workspace.jobs.export_run(task.run_id).views
    assert view.type == jobs.ViewType.NOTEBOOK and "dbutils.notebook.exit" in view.content

    finished = [r.run_id for r in workspace.jobs.list_runs(job_id=job_id, completed_only=True)]
    assert finished == [run.run_id]
    assert list(workspace.jobs.list_runs(job_id=job_id, active_only=True)) == []
    assert [r.run_id for r in workspace.jobs.list_runs(
        run_type=jobs.RunType.JOB_RUN, start_time_from=run.start_time, start_time_to=run.start_time)] == [run.run_id]
    assert list(workspace.jobs.list_runs(start_time_from=run.start_time + 1)) == []

    with pytest.raises(NotImplemented) as refused:
        workspace.jobs.repair_run(run.run_id, rerun_tasks=["nb"], jar_params=["8"])
    _feature_disabled(refused)
    workspace.jobs.delete_run(run.run_id)
    with pytest.raises(ResourceDoesNotExist):
        workspace.jobs.get_run(run.run_id)


def test_workspace_and_secrets_formats_not_reproduced_are_feature_disabled(workspace):
    home = f"/Users/{ALICE}"
    workspace.workspace.mkdirs(f"{home}/dir")
    workspace.workspace.import_(f"{home}/dir/nb", content=base64.b64encode(b"print(1)").decode(),
                                format=ws.ImportFormat.SOURCE, language=ws.Language.PYTHON)
    with pytest.raises(ResourceAlreadyExists):
        workspace.workspace.import_(f"{home}/dir/nb", content=base64.b64encode(b"print(2)").decode(),
                                    format=ws.ImportFormat.SOURCE, language=ws.Language.PYTHON)
    status = workspace.workspace.get_status(f"{home}/dir/nb")
    assert (status.object_type, status.language) == (ws.ObjectType.NOTEBOOK, ws.Language.PYTHON)
    for fmt in (ws.ExportFormat.HTML, ws.ExportFormat.DBC, ws.ExportFormat.R_MARKDOWN, ws.ExportFormat.JUPYTER):
        with pytest.raises(NotImplemented) as refused:
            workspace.workspace.export(f"{home}/dir/nb", format=fmt)
        _feature_disabled(refused)
    with pytest.raises(NotImplemented) as refused:
        workspace.workspace.import_(f"{home}/dir/x", content="eA==", format=ws.ImportFormat.HTML)
    _feature_disabled(refused)
    with pytest.raises(NotImplemented) as refused:
        workspace.workspace.export(f"{home}/dir", format=ws.ExportFormat.DBC)
    _feature_disabled(refused)

    with pytest.raises(NotImplemented) as refused:
        workspace.secrets.create_scope("kv", scope_backend_type=ws.ScopeBackendType.AZURE_KEYVAULT)
    _feature_disabled(refused)
    assert list(workspace.secrets.list_scopes()) == []
    workspace.secrets.create_scope("kv")
    with pytest.raises(ResourceAlreadyExists):
        workspace.secrets.create_scope("kv")
    workspace.secrets.put_secret("kv", "k", string_value="v")
    listed = _get(workspace, "/api/2.0/secrets/list", scope="kv")
    assert undeclared(listed, ws.ListSecretsResponse) == []
    assert base64.b64decode(workspace.secrets.get_secret("kv", "k").value) == b"v"
    with pytest.raises(ResourceDoesNotExist):
        workspace.secrets.get_secret("kv", "absent")


def test_apis_the_workspace_does_not_serve_say_so(workspace):
    """SDK clients of Databricks APIs outside this workspace get FEATURE_DISABLED naming the API,
    not a bare "no API found"; an unknown path stays ENDPOINT_NOT_FOUND."""
    calls = {
        "Clusters": lambda: list(workspace.clusters.list()),
        "SCIM Groups": lambda: list(workspace.groups.list()),
        "SCIM Users": lambda: list(workspace.users.list()),
        "Token Management": lambda: list(workspace.token_management.list()),
        "Pipelines": lambda: list(workspace.pipelines.list_pipelines()),
    }
    for name, call in calls.items():
        with pytest.raises(NotImplemented) as refused:
            call()
        _feature_disabled(refused)
        assert name in str(refused.value)
    with pytest.raises(NotFound) as unknown:
        workspace.api_client.do("GET", "/api/2.0/no-such-api")
    assert unknown.value.error_code == "ENDPOINT_NOT_FOUND"
