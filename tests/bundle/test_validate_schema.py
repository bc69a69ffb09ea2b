from healthmon.bundle import load_bundle
from bundle_fixtures import make_bundle  # noqa: F401  (pytest fixtures)


def messages(diags) -> list[str]:
    return [d.summary for d in diags]

YAML = """
bundle: {name: s}
resources:
  jobs:
    j:
      name: J
      max_concurent_runs: 3
      timeout_seconds: "600"
      tags: {year: 2024}
      schedule: {quartz_cron_expression: "0 0 3 ? * *"}
      email_notifications: {on_failure: oops}
      tasks:
        - task_key: t
          max_retries: lots
          run_if: SOMETIMES
          notebok_task: {notebook_path: x}
          condition_task: {op: EQUAL_TO, left: "1", right: "1"}
        - notebook_task: {notebook_path: /Workspace/x}
"""


def diags_for(make_bundle, text=YAML, **kw):
    return load_bundle(make_bundle({"databricks.yml": text}), **kw).diagnostics


def by_path(diags):
    return {d.path: d for d in diags}


def test_types_required_fields_and_unknown_fields(make_bundle):
    diags = diags_for(make_bundle)
    got = {(d.severity, d.summary, d.path, str(d.location)) for d in diags}
    # The CLI's wording: unknown fields at the parent path, located at the key.
    assert ("warning", "unknown field: max_concurent_runs", "resources.jobs.j", "databricks.yml:6:7") in got
    # Reported while loading, as the CLI's Normalize: the index is the task's place as written.
    assert ("warning", "unknown field: notebok_task", "resources.jobs.j.tasks[0]", "databricks.yml:15:11") in got
    # A wrong type is the CLI's Normalize warning (the value is dropped), also found while loading.
    assert ("warning", 'cannot parse "lots" as an integer', "resources.jobs.j.tasks[0].max_retries",
            "databricks.yml:13:24") in got
    assert ("warning", 'invalid value "SOMETIMES" for enum field. Valid values are [ALL_DONE ALL_FAILED ALL_SUCCESS '
            'AT_LEAST_ONE_FAILED AT_LEAST_ONE_SUCCESS NONE_FAILED]', "resources.jobs.j.tasks[1].run_if",
            "databricks.yml:14:19") in got
    assert ("warning", "expected sequence, found string", "resources.jobs.j.email_notifications.on_failure",
            "databricks.yml:10:41") in got
    assert ("warning", 'required field "timezone_id" is not set', "resources.jobs.j.schedule",
            "databricks.yml:9:17") in got
    assert ("warning", 'required field "task_key" is not set', "resources.jobs.j.tasks[0]",
            "databricks.yml:17:11") in got  # tasks are sorted: the task without a key ("") comes first


def test_unambiguous_scalars_are_normalised(make_bundle):
    b = load_bundle(make_bundle({"databricks.yml": YAML}))
    assert "max_concurent_runs" not in b.jobs["j"]  # unknown fields are dropped, as the CLI does
    assert b.jobs["j"]["timeout_seconds"] == 600
    assert b.jobs["j"]["tags"] == {"year": "2024"}


def test_strict_turns_warnings_into_errors(make_bundle):
    text = "bundle: {name: s}\nresources:\n  jobs:\n    j:\n      nmae: x\n      tasks: [{task_key: t, condition_task: {op: EQUAL_TO, left: a, right: a}}]\n"
    plain = diags_for(make_bundle, text)
    assert [d.severity for d in plain] == ["warning"]
    strict = diags_for(make_bundle, text, strict=True)
    assert [(d.severity, d.summary) for d in strict] == [
        ("warning", "unknown field: nmae"),
        ("error", "1 warnings were found. Warnings are not allowed in strict mode")]


def test_top_level_unknown_sections_warn_and_other_resource_kinds_do_not(make_bundle):
    text = "bundle: {name: s}\nworkspce: {}\nresources:\n  pipelines:\n    p: {name: x}\n"
    assert messages(diags_for(make_bundle, text)) == ["unknown field: workspce"]


def test_shipped_schema_is_what_the_installed_dataclasses_give(tmp_path, monkeypatch):
    import json

    from healthmon.bundle.validate import schema_derive

    derived = schema_derive.derive()
    shipped = json.loads(schema_derive.SHIPPED.read_text())
    if shipped["version"] == derived["version"]:
        assert shipped["objects"] == derived["objects"]  # regenerate: python -m healthmon.bundle.validate.schema_derive
    assert derived["objects"]["Task"]["required"] == ["task_key"]
    assert {"PAUSED", "UNPAUSED"} == set(derived["objects"]["CronSchedule"]["fields"]["pause_status"]["enum"])
    # A version mismatch re-derives once and caches under XDG_CACHE_HOME.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(schema_derive, "SHIPPED", tmp_path / "absent.json")
    assert schema_derive.load_schema()["objects"] == derived["objects"]
    assert list((tmp_path / "healthmon").glob("resources_schema-*.json"))


def test_wrong_types_are_normalize_warnings_and_every_dropped_item_goes(make_bundle):
    """convert.Normalize's wordings, and several items of one list dropped at once (an index in a
    path counts the items kept before it, as the list Normalize builds)."""
    text = ("bundle: {name: s}\nresources:\n  jobs:\n    j:\n      name: J\n"
            "      timeout_seconds: 1.5\n      max_concurrent_runs: \"2\\n\"\n"
            "      tasks:\n        - {task_key: a, notebook_task: {notebook_path: /Workspace/x}}\n"
            "        - {task_key: b, depends_on: [x, {task_key: a}, 3], notebook_task: {notebook_path: /Workspace/x}}\n"
            "      job_clusters:\n        - {job_cluster_key: c, new_cluster: {spark_version: '15.4', num_workers: 1,"
            " azure_attributes: {spot_bid_max_price: cheap}}}\n")
    b = load_bundle(make_bundle({"databricks.yml": text}))
    assert [(d.severity, d.summary, d.path) for d in b.diagnostics] == [
        ("warning", 'cannot accurately represent "1.5" as integer due to precision loss',
         "resources.jobs.j.timeout_seconds"),
        ("warning", 'cannot parse "2\\n" as an integer', "resources.jobs.j.max_concurrent_runs"),
        ("warning", "expected map, found string", "resources.jobs.j.tasks[1].depends_on[0]"),
        ("warning", "expected map, found int", "resources.jobs.j.tasks[1].depends_on[1]"),  # kept items count
        ("warning", 'cannot parse "cheap" as a floating point number',
         "resources.jobs.j.job_clusters[0].new_cluster.azure_attributes.spot_bid_max_price"),
    ]
    job = b.jobs["j"]
    assert "timeout_seconds" not in job and job["max_concurrent_runs"] == 1  # the CLI's default fills it
    assert job["tasks"][1]["depends_on"] == [{"task_key": "a"}]
    assert job["job_clusters"][0]["new_cluster"]["azure_attributes"] == {}
