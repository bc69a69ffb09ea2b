from healthmon.bundle import load_bundle
from healthmon.bundle.deploy import deployed_job_configs, fill_resource_refs, job_settings
from bundle_fixtures import make_bundle  # noqa: F401  (pytest fixtures)


def test_resource_refs_become_ids_and_urls():
    ids = {"a": 7, "b": 12}
    doc = {"tasks": [{"run_job_task": {"job_id": "${resources.jobs.a.id}",
                                       "job_parameters": {"upstream": "job ${resources.jobs.b.id} at ${resources.jobs.b.url}"}}}],
           "description": "${resources.jobs.unknown.id} stays"}
    out = fill_resource_refs(doc, ids)
    assert out["tasks"][0]["run_job_task"]["job_id"] == 7
    assert out["tasks"][0]["run_job_task"]["job_parameters"]["upstream"] == "job 12 at http://127.0.0.1:8080/jobs/12"
    assert out["description"] == "${resources.jobs.unknown.id} stays"
    assert doc["tasks"][0]["run_job_task"]["job_id"] == "${resources.jobs.a.id}"  # input untouched


def test_bundle_only_fields_are_not_job_settings_and_permissions_become_the_acl():
    job = {"name": "x", "permissions": [{"level": "CAN_VIEW", "group_name": "users"}], "lifecycle": {"prevent_destroy": True},
           "tasks": [], "run_as": {"service_principal_name": "sp-1"}}
    assert job_settings(job, {}) == {"name": "x", "tasks": [], "run_as": {"service_principal_name": "sp-1"},
                                     "access_control_list": [{"group_name": "users", "permission_level": "CAN_VIEW"}]}


def test_local_libraries_are_deployed_as_their_synced_copy(make_bundle):
    # validate prints them relative to the sync root (the CLI's output); the deployed job names
    # the copy under workspace.file_path, where the CLI's deploy would have uploaded them.
    root = make_bundle({"databricks.yml": """
        bundle: {name: libs}
        resources:
          jobs:
            j:
              environments: [{environment_key: e, spec: {client: "1", dependencies: [./dist/a.whl, pandas]}}]
              tasks:
                - {task_key: t, existing_cluster_id: c, spark_jar_task: {main_class_name: M}, libraries: [{jar: ./dist/b.jar}]}
        """, "dist/a.whl": "", "dist/b.jar": ""})
    b = load_bundle(root)
    files = b.workspace["file_path"]
    assert b.jobs["j"]["environments"][0]["spec"]["dependencies"] == ["./dist/a.whl", "pandas"]
    assert b.jobs["j"]["tasks"][0]["libraries"] == [{"jar": "dist/b.jar"}]
    job = deployed_job_configs(b)["j"]
    assert job["environments"][0]["spec"]["dependencies"] == [f"{files}/dist/a.whl", "pandas"]
    assert job["tasks"][0]["libraries"] == [{"jar": f"{files}/dist/b.jar"}]


def test_an_id_or_url_written_in_the_bundle_is_not_sent_as_a_job_setting():
    # The CLI's BaseResource fields: known to validate, set by a deploy, not JobSettings fields.
    job = {"name": "x", "id": "123", "url": "https://example/jobs/123", "tasks": []}
    assert job_settings(job, {}) == {"name": "x", "tasks": []}
