import pytest

from healthmon.bundle import load_bundle
from healthmon.bundle.diag import BundleError
from bundle_fixtures import make_bundle  # noqa: F401  (pytest fixtures)

MAIN = """
bundle:
  name: inc
include:
  - {pattern}
"""


def job(key):
    return f"resources:\n  jobs:\n    {key}:\n      tasks:\n        - task_key: t\n          run_job_task:\n            job_id: 1\n"


def test_globs_merge_sorted_and_deduplicated(make_bundle):
    root = make_bundle({
        "databricks.yml": "bundle:\n  name: inc\ninclude:\n  - resources/*.yml\n  - resources/b.yml\n",
        "resources/b.yml": job("job_b"),
        "resources/a.yml": job("job_a"),
    })
    b = load_bundle(root, validate=False)
    assert list(b.jobs) == ["job_a", "job_b"]  # a.yml merged before b.yml
    assert b.location("resources.jobs.job_b").file == "resources/b.yml"


def test_pattern_matching_nothing_is_an_error(make_bundle):
    root = make_bundle({"databricks.yml": MAIN.format(pattern="resources/*.yml")})
    with pytest.raises(BundleError) as e:
        load_bundle(root)
    assert "does not match any files" in str(e.value)
    assert str(e.value.diagnostics[0].location) == "databricks.yml:4:5"


def test_files_outside_the_root_are_rejected(make_bundle, tmp_path):
    (tmp_path / "outside.yml").write_text(job("x"))
    root = make_bundle({"databricks.yml": MAIN.format(pattern="../outside.yml")})
    with pytest.raises(BundleError, match="outside the bundle root"):
        load_bundle(root)


def test_absolute_patterns_are_rejected(make_bundle, tmp_path):
    root = make_bundle({"databricks.yml": MAIN.format(pattern=str(tmp_path / "*.yml"))})
    with pytest.raises(BundleError, match="relative to the bundle root"):
        load_bundle(root)


def test_same_resource_in_two_files_names_both(make_bundle):
    root = make_bundle({
        "databricks.yml": MAIN.format(pattern="resources/*.yml"),
        "resources/a.yml": job("dup"),
        "resources/b.yml": job("dup"),
    })
    with pytest.raises(BundleError) as e:
        load_bundle(root)
    msg = str(e.value)
    assert "multiple resources named dup" in msg and "resources/a.yml:3:5" in msg and "resources/b.yml:3:5" in msg


def test_included_file_cannot_include(make_bundle):
    root = make_bundle({
        "databricks.yml": MAIN.format(pattern="r.yml"),
        "r.yml": "include:\n  - other.yml\n",
    })
    with pytest.raises(BundleError, match="only be defined in the root"):
        load_bundle(root)


def test_malformed_included_file_points_at_it(make_bundle):
    root = make_bundle({
        "databricks.yml": MAIN.format(pattern="r.yml"),
        "r.yml": "resources:\n  jobs: [\n",
    })
    with pytest.raises(Exception) as e:
        load_bundle(root)
    assert str(e.value).startswith("r.yml:")
