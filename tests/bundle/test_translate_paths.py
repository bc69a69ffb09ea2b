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
                    - task_key: py
                      existing_cluster_id: c-1
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
    tasks = {t["task_key"]: t for t in b.jobs["j"]["tasks"]}
    assert [t["task_key"] for t in b.jobs["j"]["tasks"]] == ["abs", "nb", "py"]  # sorted, as the CLI
    assert tasks["nb"]["notebook_task"]["notebook_path"] == f"{files}/src/ml/train"  # extension dropped
    assert tasks["py"]["spark_python_task"]["python_file"] == f"{files}/src/tool.py"  # files keep it
    assert tasks["abs"]["notebook_task"]["notebook_path"] == "/Workspace/Shared/x"
    ref = b.sources["resources.jobs.j.tasks[1].notebook_task.notebook_path"]
    assert ref.local == root.resolve() / "src/ml/train.py"
    assert str(ref.location) == "resources/jobs/j.yml:6:42"
    assert not b.diagnostics.has_errors()


def test_a_notebook_path_without_its_extension_is_the_clis_error(make_bundle):
    # The CLI never guesses a notebook's extension: it names the file that has one, if any.
    root = make_bundle({
        "databricks.yml": """
            bundle: {name: p}
            resources:
              jobs:
                j:
                  tasks:
                    - {task_key: a, notebook_task: {notebook_path: ./src/train}}
            """,
        "src/train.ipynb": "{}",
    })
    with pytest.raises(BundleError) as e:
        load_bundle(root)
    (d,) = e.value.diagnostics
    assert d.summary == ('notebook "./src/train" not found. Did you mean "./src/train.ipynb"?\n'
                         "Local notebook references are expected to contain one of the following\n"
                         "file extensions: [.py, .r, .scala, .sql, .ipynb]")
    (root / "src/train.ipynb").unlink()
    with pytest.raises(BundleError) as e:
        load_bundle(root)
    assert e.value.diagnostics[0].summary.startswith(
        'notebook "./src/train" not found. Local notebook references are expected\nto contain one of')


def test_paths_escaping_the_bundle_root_are_errors_unless_the_file_exists(make_bundle, tmp_path):
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
    assert [d.summary for d in e.value.diagnostics] == [
        f"path {root.parent.parent / 'elsewhere/nb.py'} is not contained in sync root path"]
    assert e.value.diagnostics[0].location is None  # as the CLI: a plain error
    (root.parent.parent / "elsewhere").mkdir(exist_ok=True)
    (root.parent.parent / "elsewhere" / "nb.py").write_text(NB)
    b = load_bundle(root)  # the CLI warns when the file exists
    assert [d.severity for d in b.diagnostics] == ["warning"]
    assert b.jobs["j"]["tasks"][0]["notebook_task"]["notebook_path"] == "../../elsewhere/nb.py"


def test_a_malformed_reference_is_a_missing_notebook_path(make_bundle):
    root = make_bundle({"databricks.yml": """
        bundle: {name: p}
        resources:
          jobs:
            j:
              tasks:
                - {task_key: a, notebook_task: {notebook_path: /remote/nb}}
                - {task_key: b, notebook_task: {notebook_path: "${bundle.}"}}
        """})
    with pytest.raises(BundleError) as e:
        load_bundle(root)
    assert [d.summary for d in e.value.diagnostics] == ["notebook ${bundle.} not found"]
    # (/remote/nb -> /Workspace/remote/nb: conformance case paths/remote-absolute-path)


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


def test_the_first_failure_in_the_clis_order_is_the_only_error(make_bundle):
    # The CLI translates one field kind at a time over every task (notebooks first), so the
    # second task's missing notebook is reported, not the first task's missing file.
    root = make_bundle({
        "databricks.yml": """
            bundle: {name: b}
            resources:
              jobs:
                j:
                  tasks:
                    - task_key: a
                      existing_cluster_id: x
                      spark_python_task: {python_file: ./missing.py}
                    - task_key: b
                      notebook_task: {notebook_path: ./missing_nb.py}
            """,
    })
    with pytest.raises(BundleError) as e:
        load_bundle(root)
    assert [d.summary for d in e.value.diagnostics] == ["notebook ./missing_nb.py not found"]


def test_a_pipeline_root_path_is_a_directory_of_the_synced_files(make_bundle):
    # The lakeflow templates' `root_path: ../src/<name>`, relative to the pipeline's file.
    root = make_bundle({
        "databricks.yml": "bundle: {name: p}\ninclude: [resources/*.yml]\n",
        "resources/etl.pipeline.yml": """
            resources:
              pipelines:
                etl:
                  name: etl
                  root_path: ../src/etl
                  libraries:
                    - glob: {include: ../src/etl/transformations/**}
            """,
        "src/etl/transformations/t.py": "print(1)\n",
    })
    b = load_bundle(root)
    files = b.workspace["file_path"]
    etl = b.config["resources"]["pipelines"]["etl"]
    assert etl["root_path"] == f"{files}/src/etl"
    assert etl["libraries"] == [{"glob": {"include": f"{files}/src/etl/transformations/**"}}]
    (root / "src/etl/transformations/t.py").unlink()
    (root / "src/etl/transformations").rmdir()
    (root / "src/etl").rmdir()
    # A missing directory is validation's "not found", as a missing dbt project directory.
    [error] = load_bundle(root).diagnostics
    assert error.severity == "error" and error.summary == "Directory not found: src/etl (declared as '../src/etl')"
    assert error.path == "resources.pipelines.etl.root_path"
    assert str(error.location) == "resources/etl.pipeline.yml:5:18"
