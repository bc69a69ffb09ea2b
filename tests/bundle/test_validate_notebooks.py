import pytest

from healthmon.bundle import load_bundle
from healthmon.bundle.diag import BundleError
from bundle_fixtures import make_bundle, notebook_job  # noqa: F401  (pytest fixtures)



def load(make_bundle, notebook_text=None, path="./src/nb.py"):
    files = {"databricks.yml": notebook_job(path)}
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
