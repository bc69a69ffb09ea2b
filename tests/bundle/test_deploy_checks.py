"""healthmon's own checks (``pipeline.deploy_checks``): resource keys, task graph, environments,
schedules, widgets, atomic jobs, silent failures. The CLI's ``bundle validate`` has none of them
and accepts these bundles, so ``load_bundle`` (validate) finds nothing; ``deploy_checks`` (run by
every deploy) does."""

from healthmon.bundle import load_bundle
from healthmon.bundle.loader import deploy_checks
from bundle_fixtures import make_bundle, notebook_job  # noqa: F401  (pytest fixtures)


def summaries(make_bundle, text, extra=None, **kw):
    b = load_bundle(make_bundle({"databricks.yml": "bundle: {name: g}\n" + text, **(extra or {})}), strict=True, **kw)
    assert not b.diagnostics.items, "the CLI's validate accepts it: " + str([d.summary for d in b.diagnostics])
    return deploy_checks(b)


COND = "condition_task: {op: EQUAL_TO, left: '1', right: '1'}"


def test_depends_on_unknown_key_self_and_duplicates(make_bundle):
    d = summaries(make_bundle, f"""resources:
  jobs:
    j:
      tasks:
        - {{task_key: a, {COND}}}
        - {{task_key: b, {COND}, depends_on: [{{task_key: aa}}, {{task_key: b}}]}}
        - {{task_key: a, {COND}}}
""")
    msgs = [x.summary for x in d.errors]
    assert 'task "b" of job "j" depends on "aa", which is not a task of this job (did you mean "a"?)' in msgs
    assert 'task "b" of job "j" depends on itself' in msgs
    # two entries with one task_key are merged into one, as the CLI's MergeJobTasks does
    assert not any("duplicate" in m for m in msgs)


def test_cycle_in_a_job_shows_the_chain(make_bundle):
    d = summaries(make_bundle, f"""resources:
  jobs:
    j:
      tasks:
        - {{task_key: a, {COND}, depends_on: [{{task_key: c}}]}}
        - {{task_key: b, {COND}, depends_on: [{{task_key: a}}]}}
        - {{task_key: c, {COND}, depends_on: [{{task_key: b}}]}}
""")
    (e,) = d.errors
    assert e.summary == 'cycle in the task dependencies of job "j": a -> c -> b -> a'


def test_cycle_across_jobs_and_run_job_task_targets(make_bundle):
    d = summaries(make_bundle, """resources:
  jobs:
    x:
      tasks: [{task_key: t, run_job_task: {job_id: "${resources.jobs.y.id}"}}]
    y:
      tasks: [{task_key: t, run_job_task: {job_id: "${resources.jobs.x.id}"}}]
    z:
      tasks: [{task_key: t, run_job_task: {job_id: 123}}]
""")
    assert [x.summary for x in d.errors] == ["cycle across jobs through run_job_task: x -> y -> x"]


def test_task_has_at_most_one_type(make_bundle):
    # No type is accepted silently, as by the CLI (deploy refuses it); several are an error.
    d = summaries(make_bundle, f"""resources:
  jobs:
    j:
      tasks:
        - {{task_key: none}}
        - {{task_key: two, {COND}, run_job_task: {{job_id: "${{resources.jobs.j.id}}"}}}}
""")
    assert not any("no task type" in m.summary for m in [*d.warnings, *d.errors])
    assert any('"two" of job "j" has several task types (run_job_task, condition_task)' in m.summary for m in d.errors)


def test_environments_keys_and_pep508(make_bundle):
    d = summaries(make_bundle, """resources:
  jobs:
    j:
      environments:
        - environment_key: default
          spec:
            environment_version: "4"
            dependencies: ["scikit-learn>=1.3.0", "xgboost>>2", "./dist/my.whl", "/Workspace/Shared/x.whl"]
      tasks:
        - {task_key: a, environment_key: defualt, spark_python_task: {python_file: /Workspace/x.py}}
""", {"dist/my.whl": ""})
    msgs = [x.summary for x in d.errors]
    assert len(msgs) == 2, msgs
    assert any("dependency 'xgboost>>2' is not a valid PEP 508 requirement" in m for m in msgs)
    assert any('uses environment_key "defualt", which the job does not declare (did you mean "default"?)' in m for m in msgs)


def test_one_notebook_in_several_jobs_of_a_layered_bundle_warns_at_deploy(make_bundle):
    text = """resources:
  jobs:
    a:
      tasks: [{task_key: t, notebook_task: {notebook_path: ./nb.py}}]
    b:
      tasks: [{task_key: t, notebook_task: {notebook_path: ./nb.py}}]
    composite:
      tasks: [{task_key: run_a, run_job_task: {job_id: "${resources.jobs.a.id}"}}]
"""
    d = summaries(make_bundle, text, {"nb.py": "# Databricks notebook source\n"})
    assert [x.severity for x in d] == ["warning"]
    assert "notebook nb.py appears in 2 jobs (a, b)" in d.items[0].summary


def test_independent_jobs_sharing_a_notebook_are_accepted_as_by_the_cli(make_bundle):
    text = """resources:
  jobs:
    job_one:
      tasks: [{task_key: task_one, notebook_task: {notebook_path: ./test.py}}]
    job_two:
      tasks: [{task_key: task_two, notebook_task: {notebook_path: ./test.py}}]
"""
    assert not summaries(make_bundle, text, {"test.py": "# Databricks notebook source\n"}).items


def test_resource_keys_must_be_identifiers(make_bundle):
    d = summaries(make_bundle, """resources:
  jobs:
    'bad key.x':
      tasks: [{task_key: t, condition_task: {op: EQUAL_TO, left: a, right: a}}]
""")
    (err,) = d.errors
    assert err.summary == "invalid resource key 'bad key.x': use letters, digits, '_' and '-' only"
    assert str(err.location) == "databricks.yml:5:7" and err.path == "resources.jobs.bad key.x"


def test_schedules_cron_and_timezone(make_bundle):
    d = summaries(make_bundle, f"""resources:
  jobs:
    a:
      schedule: {{quartz_cron_expression: "0 0 25 ? * *", timezone_id: America/Los_Angeles}}
      tasks: [{{task_key: t, {COND}}}]
    b:
      schedule: {{quartz_cron_expression: "0 0 3 ? * SUN", timezone_id: Mars/Olympus}}
      tasks: [{{task_key: t, {COND}}}]
""")
    errs = {x.path: x for x in d.errors}
    assert "invalid quartz_cron_expression" in errs["resources.jobs.a.schedule.quartz_cron_expression"].summary
    assert "hours" in errs["resources.jobs.a.schedule.quartz_cron_expression"].summary.lower()
    assert "invalid timezone_id 'Mars/Olympus'" in errs["resources.jobs.b.schedule.timezone_id"].summary
    assert len(errs) == 2


def test_schedule_and_continuous_are_exclusive(make_bundle):
    d = summaries(make_bundle, f"""resources:
  jobs:
    a:
      schedule: {{quartz_cron_expression: "0 0 3 ? * *", timezone_id: UTC}}
      continuous: {{pause_status: UNPAUSED}}
      tasks: [{{task_key: t, {COND}}}]
""")
    (e,) = d.errors
    assert e.summary == 'job "a": only one of schedule and continuous can be used' and e.path == "resources.jobs.a.continuous"


def notebook_checks(make_bundle, notebook_text):
    """The deploy checks' findings for a job whose task runs ``src/nb.py``; validate finds nothing."""
    return summaries(make_bundle, "", {"databricks.yml": notebook_job(), "src/nb.py": notebook_text})


def test_widget_without_parameter_or_default_is_parameter_missing(make_bundle):
    nb = ('# Databricks notebook source\n'
          'dbutils.widgets.text("limit", "10")\n'
          'c = dbutils.widgets.get("catalog")\n'
          'd = dbutils.widgets.get("run_date")\n'
          'l = dbutils.widgets.get("limit")\n'
          's = dbutils.widgets.get("schema")\n')
    (d,) = notebook_checks(make_bundle, nb).errors
    assert d.summary.startswith('Parameter missing: task "t" of job "j" runs src/nb.py, whose line 6 reads widget "schema"')
    assert str(d.location) == "databricks.yml:10:28"


def test_all_widgets_supplied_is_clean(make_bundle):
    nb = '# Databricks notebook source\nc = dbutils.widgets.get("catalog")\nd = dbutils.widgets.get("run_date")\n'
    assert len(notebook_checks(make_bundle, nb)) == 0


def test_notebook_syntax_errors_do_not_crash(make_bundle):
    found = notebook_checks(make_bundle, "# Databricks notebook source\ndef broken(:\n")
    msgs = [d.summary for d in found]
    assert any("cannot analyse notebook src/nb.py" in m for m in msgs)
    assert not found.has_errors()


def test_silent_failure_exit_is_warned(make_bundle):
    nb = ('# Databricks notebook source\n'
          'c = dbutils.widgets.get("catalog")\n'
          'try:\n'
          '    run()\n'
          'except Exception as e:\n'
          '    dbutils.notebook.exit(f"error: {e}")\n'
          'except ValueError:\n'
          '    log("x")\n'
          '    dbutils.notebook.exit("done")\n'
          'if bad:\n'
          '    dbutils.notebook.exit("FAILED")\n'
          'dbutils.notebook.exit(json.dumps({"status": "SUCCESS", "errors": 0}))\n')
    warnings = [d.summary for d in notebook_checks(make_bundle, nb).warnings]
    assert len(warnings) == 3, warnings
    assert warnings[0].startswith("src/nb.py:6 exits with 'error: '")
    assert warnings[1].startswith("src/nb.py:9 exits from an except block without raising")
    assert warnings[2].startswith("src/nb.py:11 exits with 'FAILED'")
    assert "job fails silently" in warnings[2]
