import pytest

from healthmon.bundle import load_bundle
from healthmon.bundle.diag import BundleError
from bundle_fixtures import make_bundle  # noqa: F401  (pytest fixtures)

NB = "# Databricks notebook source\nprint(1)\n"


def test_paths_are_relative_to_the_declaring_file(make_bundle):
    root = make_bundle({
        "databricks.yml": "bundle: {name: p}\ninclude: [resources/jobs/*.yml]\n",
        "resources/jobs/j.yml": """
            resources:
              jobs:
                j:
                  tasks:
                    - task_key: nb
                      notebook_task: {notebook_path: ../../src/ml/train.py}
                    - task_key: nb_noext
                      notebook_task: {notebook_path: ../../src/ml/train}
                    - task_key: py
                      spark_python_task: {python_file: ../../src/tool.py}
                    - task_key: abs
                      notebook_task: {notebook_path: /Workspace/Shared/x}
            """,
        "src/ml/train.py": NB,
        "src/tool.py": "print(1)\n",
    })
    b = load_bundle(root)
    files = b.workspace["file_path"]
    assert files == "/Workspace/Users/tester@example.com/.bundle/p/default/files"
    tasks = b.jobs["j"]["tasks"]
    assert tasks[0]["notebook_task"]["notebook_path"] == f"{files}/src/ml/train"  # extension dropped
    assert tasks[1]["notebook_task"]["notebook_path"] == f"{files}/src/ml/train"
    assert tasks[2]["spark_python_task"]["python_file"] == f"{files}/src/tool.py"  # files keep it
    assert tasks[3]["notebook_task"]["notebook_path"] == "/Workspace/Shared/x"
    ref = b.sources["resources.jobs.j.tasks[0].notebook_task.notebook_path"]
    assert ref.local == root.resolve() / "src/ml/train.py"
    assert str(ref.location) == "resources/jobs/j.yml:6:27"
    assert not b.diagnostics.has_errors()


def test_paths_escaping_the_bundle_root_are_errors(make_bundle):
    root = make_bundle({
        "databricks.yml": """
            bundle: {name: p}
            resources:
              jobs:
                j:
                  tasks:
                    - task_key: t
                      notebook_task: {notebook_path: ../../elsewhere/nb.py}
            """,
    })
    with pytest.raises(BundleError) as e:
        load_bundle(root)
    assert "is not contained in the bundle root" in str(e.value)
    assert "databricks.yml:7:27" in str(e.value)


def test_git_sourced_tasks_are_not_translated(make_bundle):
    root = make_bundle({
        "databricks.yml": """
            bundle: {name: p}
            resources:
              jobs:
                j:
                  git_source: {git_url: "https://example.com/r.git", git_provider: gitHub, git_branch: main}
                  tasks:
                    - task_key: t
                      notebook_task: {notebook_path: notebooks/nb}
            """,
    })
    b = load_bundle(root)
    assert b.jobs["j"]["tasks"][0]["notebook_task"]["notebook_path"] == "notebooks/nb"
