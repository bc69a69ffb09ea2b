from healthmon.bundle.deploy import fill_resource_refs, job_settings


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
