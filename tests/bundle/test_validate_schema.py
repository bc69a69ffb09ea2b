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
    d = by_path(diags)
    unk = d["resources.jobs.j.max_concurent_runs"]
    assert unk.severity == "warning" and 'did you mean "max_concurrent_runs"' in unk.summary
    assert str(unk.location) == "databricks.yml:6:7"
    assert d["resources.jobs.j.tasks[0].notebok_task"].severity == "warning"
    assert 'did you mean "notebook_task"' in d["resources.jobs.j.tasks[0].notebok_task"].summary
    err = d["resources.jobs.j.tasks[0].max_retries"]
    assert err.severity == "error" and "expected an int, found string 'lots'" in err.summary
    assert str(err.location) == "databricks.yml:13:11"
    assert "expected one of" in d["resources.jobs.j.tasks[0].run_if"].summary
    assert "expected a sequence, found string" in d["resources.jobs.j.email_notifications.on_failure"].summary
    assert "missing required field 'timezone_id'" in d["resources.jobs.j.schedule"].summary
    assert "missing required field 'task_key'" in d["resources.jobs.j.tasks[1]"].summary


def test_unambiguous_scalars_are_normalised(make_bundle):
    b = load_bundle(make_bundle({"databricks.yml": YAML}))
    assert b.jobs["j"]["timeout_seconds"] == 600
    assert b.jobs["j"]["tags"] == {"year": "2024"}


def test_strict_turns_warnings_into_errors(make_bundle):
    text = "bundle: {name: s}\nresources:\n  jobs:\n    j:\n      nmae: x\n      tasks: [{task_key: t, condition_task: {op: EQUAL_TO, left: a, right: a}}]\n"
    plain = diags_for(make_bundle, text)
    assert [d.severity for d in plain] == ["warning"]
    strict = diags_for(make_bundle, text, strict=True)
    assert [d.severity for d in strict] == ["error"] and 'did you mean "name"' in strict.items[0].summary


def test_top_level_unknown_sections_and_other_resource_kinds_warn(make_bundle):
    text = "bundle: {name: s}\nworkspce: {}\nresources:\n  pipelines:\n    p: {name: x}\n"
    msgs = messages(diags_for(make_bundle, text))
    assert any('unknown field: workspce (did you mean "workspace"?)' in m for m in msgs)
    assert any("only jobs are supported locally" in m for m in msgs)


def test_resource_keys_must_be_identifiers(make_bundle):
    text = "bundle: {name: s}\nresources:\n  jobs:\n    'bad key.x':\n      tasks: [{task_key: t, condition_task: {op: EQUAL_TO, left: a, right: a}}]\n"
    (err,) = diags_for(make_bundle, text).errors
    assert "invalid resource key 'bad key.x'" in err.summary and str(err.location) == "databricks.yml:4:5"


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
    assert list((tmp_path / "healthmon").glob("jobs_schema-*.json"))
