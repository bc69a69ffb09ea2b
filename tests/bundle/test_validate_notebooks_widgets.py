import pytest

from healthmon.bundle import load_bundle
from healthmon.bundle.diag import BundleError
from bundle_fixtures import make_bundle  # noqa: F401  (pytest fixtures)

JOB = """
bundle: {name: w}
resources:
  jobs:
    j:
      parameters:
        - {name: run_date, default: "2024-01-01"}
      tasks:
        - task_key: t
          notebook_task:
            notebook_path: {path}
            base_parameters: {{catalog: c}}
"""


def load(make_bundle, notebook_text=None, path="./src/nb.py"):
    files = {"databricks.yml": JOB.replace("{path}", path).replace("{{", "{").replace("}}", "}")}
    if notebook_text is not None:
        files["src/nb.py"] = notebook_text
    return load_bundle(make_bundle(files))


def test_notebook_not_found_is_the_clis_plain_error(make_bundle):
    with pytest.raises(BundleError) as e:
        load(make_bundle, None)
    (d,) = e.value.diagnostics
    assert d.summary == "notebook ./src/nb.py not found"
    assert (d.location, d.path) == (None, None)  # as the CLI's TranslatePaths (diag.FromErr)


def test_missing_python_file_is_an_error(make_bundle):
    text = "bundle: {name: w}\nresources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          existing_cluster_id: c-1\n          spark_python_task: {python_file: ./missing.py}\n"
    with pytest.raises(BundleError) as e:
        load_bundle(make_bundle({"databricks.yml": text}))
    assert [d.summary for d in e.value.diagnostics] == ["file ./missing.py not found"]


def test_widget_without_parameter_or_default_is_parameter_missing(make_bundle):
    nb = ('# Databricks notebook source\n'
          'dbutils.widgets.text("limit", "10")\n'
          'c = dbutils.widgets.get("catalog")\n'
          'd = dbutils.widgets.get("run_date")\n'
          'l = dbutils.widgets.get("limit")\n'
          's = dbutils.widgets.get("schema")\n')
    b = load(make_bundle, nb)
    (d,) = b.diagnostics.errors
    assert d.summary.startswith('Parameter missing: task "t" of job "j" runs src/nb.py, whose line 6 reads widget "schema"')
    assert str(d.location) == "databricks.yml:10:28"


def test_all_widgets_supplied_is_clean(make_bundle):
    nb = '# Databricks notebook source\nc = dbutils.widgets.get("catalog")\nd = dbutils.widgets.get("run_date")\n'
    assert len(load(make_bundle, nb).diagnostics) == 0


def test_notebook_syntax_errors_do_not_crash(make_bundle):
    b = load(make_bundle, "# Databricks notebook source\ndef broken(:\n")
    msgs = [d.summary for d in b.diagnostics]
    assert any("cannot analyse notebook src/nb.py" in m for m in msgs)
    assert not b.diagnostics.has_errors()


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
    b = load(make_bundle, nb)
    warnings = [d.summary for d in b.diagnostics.warnings]
    assert len(warnings) == 3, warnings
    assert warnings[0].startswith("src/nb.py:6 exits with 'error: '")
    assert warnings[1].startswith("src/nb.py:9 exits from an except block without raising")
    assert warnings[2].startswith("src/nb.py:11 exits with 'FAILED'")
    assert "job fails silently" in warnings[2]
