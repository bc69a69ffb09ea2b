"""Findings of the bundle fault-injection campaign (``python -m benchmarks.fuzz_bundle``), each
pinned: the input that once reached a Python traceback now gets a clear error."""

from __future__ import annotations

import json

import pytest

LONG = "x" * 5000  # longer than any file name the file system allows (ENAMETOOLONG on stat)

NOTEBOOK = "# Databricks notebook source\nprint('ok')\n"


@pytest.mark.parametrize(
    "resource",
    [
        f"jobs: {{j: {{tasks: [{{task_key: a, notebook_task: {{notebook_path: ./{LONG}}}}}]}}}}",
        f"jobs: {{j: {{tasks: [{{task_key: a, spark_python_task: {{python_file: ./{LONG}}}}}]}}}}",
        f"jobs: {{j: {{tasks: [{{task_key: a, dbt_task: {{project_directory: {LONG}, commands: [dbt run]}}}}]}}}}",
        f"apps: {{a: {{name: a, source_code_path: ./{LONG}}}}}",
        f"dashboards: {{d: {{display_name: d, file_path: ./{LONG}.lvdash.json}}}}",
    ],
    ids=["notebook_path", "python_file", "dbt-project", "app-source", "dashboard-file"],
)
def test_a_path_too_long_for_the_file_system_is_not_found(cli, tmp_path, monkeypatch, resource):
    """A path the file system refuses to look up is simply not there: validate says "not found"
    as for any missing path (the `cli` fixture fails on a traceback or an internal error)."""
    (tmp_path / "nb.py").write_text(NOTEBOOK)
    (tmp_path / "databricks.yml").write_text(f"bundle: {{name: long}}\nresources:\n  {resource}\n")
    monkeypatch.chdir(tmp_path)
    code, text = cli("bundle", "validate")
    assert code == 1, text
    assert "Error: " in text and "not found" in text, text


@pytest.mark.parametrize("library", [f"whl: ./{LONG}.whl", f"jar: ./{LONG}.jar"], ids=["whl", "jar"])
def test_a_library_path_too_long_for_the_file_system_does_not_exist_at_deploy(cli, tmp_path, monkeypatch,
                                                                               healthmon_home, library):
    """validate does not look for local libraries (as the CLI's); the deploy does, and a path the
    file system refuses to look up is simply not there."""
    (tmp_path / "nb.py").write_text(NOTEBOOK)
    (tmp_path / "databricks.yml").write_text(
        "bundle: {name: long}\nresources:\n  jobs: {j: {tasks: [{task_key: a, notebook_task: "
        f"{{notebook_path: ./nb.py}}, libraries: [{{{library}}}]}}]}}}}\n")
    monkeypatch.chdir(tmp_path)
    code, text = cli("bundle", "validate")
    assert code == 0 and "Validation OK!" in text, text
    code, text = cli("bundle", "deploy")
    assert code == 1 and "Error: " in text and "does not exist (declared in databricks.yml:3:" in text, text


def test_a_bundle_name_too_long_for_the_file_system_fails_the_deploy_cleanly(cli, tmp_path, monkeypatch,
                                                                            healthmon_home):
    """The name is part of the workspace folder the files are copied to: the deploy fails with
    the file system's reason, deploys no job and leaves no staging folder."""
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "nb.py").write_text(NOTEBOOK)
    (tmp_path / "b" / "databricks.yml").write_text(
        f"bundle: {{name: {LONG}}}\nresources:\n  jobs: {{j: {{tasks: [{{task_key: a, "
        "notebook_task: {notebook_path: ./nb.py}}]}}\n")
    monkeypatch.chdir(tmp_path / "b")
    code, text = cli("bundle", "deploy")
    assert code == 1 and "Error: cannot copy the bundle's files to " in text and "File name too long" in text, text
    code, text = cli("jobs", "list", "-o", "json")
    assert json.loads(text)["jobs"] == []
    assert not list((healthmon_home / "workspace").rglob("*staging*"))


@pytest.mark.parametrize("hook", ["preinit", "postinit"])
def test_a_script_with_a_nul_byte_is_a_script_failure(cli, tmp_path, monkeypatch, hook):
    """A NUL byte (``"\\0"`` in a double-quoted YAML string) cannot be passed to a process: the
    hook fails like any script that cannot be executed."""
    (tmp_path / "databricks.yml").write_text(
        f'bundle: {{name: nul}}\nexperimental:\n  scripts:\n    {hook}: "echo a\\0b"\n')
    monkeypatch.chdir(tmp_path)
    code, text = cli("bundle", "validate")
    assert code == 1 and "Error: failed to execute script: embedded null byte" in text, text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("notebook_task", '"${resources.jobs.x}"', "cannot merge map with string"),
        ("libraries", '"${resources.jobs.x.libs}"', "cannot merge sequence with string"),
    ],
)
def test_a_target_entry_of_another_kind_is_a_merge_error(cli, tmp_path, monkeypatch, field, value, message):
    """A target's task merged by task_key whose field is a reference (kept by normalisation, as
    any pure `${...}`) where the base has a map or list: the CLI's merge error, not a traceback."""
    (tmp_path / "databricks.yml").write_text(
        "bundle: {name: m}\nvariables: {libs: {default: x}}\nresources:\n  jobs:\n    foo:\n      tasks:\n"
        "        - task_key: t\n          notebook_task: {notebook_path: /Workspace/nb}\n"
        "          libraries: [{pypi: {package: requests}}]\n"
        f"targets:\n  prod:\n    resources:\n      jobs:\n        foo:\n          tasks:\n"
        f"            - task_key: t\n              {field}: {value}\n")
    monkeypatch.chdir(tmp_path)
    code, text = cli("bundle", "validate", "-t", "prod")
    assert code == 1 and f"Error: {message}\n  in databricks.yml:17:" in text, text


@pytest.mark.parametrize("verb", ["validate", "deploy", "summary"])
def test_a_bundle_path_too_long_for_the_file_system_is_not_a_bundle_root(cli, tmp_path, verb):
    code, text = cli("bundle", verb, "-p", tmp_path / LONG)
    assert code == 1 and "Error: unable to locate bundle root: databricks.yml not found" in text, text


def test_a_bundle_root_variable_too_long_for_the_file_system_is_a_clear_error(tmp_path, monkeypatch):
    """``DATABRICKS_BUNDLE_ROOT`` naming a path the file system refuses is the CLI's 'invalid
    bundle root' error, not an OSError traceback."""
    from healthmon.bundle.loader import find_root
    from healthmon.errors import HealthmonError

    long = str(tmp_path / ("x" * 5000))
    with pytest.raises(HealthmonError, match="invalid bundle root DATABRICKS_BUNDLE_ROOT="):
        find_root(None, {"DATABRICKS_BUNDLE_ROOT": long})
