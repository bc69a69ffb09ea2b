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


def test_pattern_matching_nothing_includes_nothing(make_bundle):
    root = make_bundle({"databricks.yml": MAIN.format(pattern="resources/*.yml")})
    assert load_bundle(root, validate=False).jobs == {}


def test_missing_literal_include_is_an_unlocated_error(make_bundle):
    root = make_bundle({"databricks.yml": MAIN.format(pattern="resources/jobs.yml")})
    with pytest.raises(BundleError) as e:
        load_bundle(root)
    assert [(d.summary, d.location) for d in e.value.diagnostics] == [
        ("resources/jobs.yml defined in 'include' section does not match any files", None)]


def test_yaml_files_outside_the_root_are_loaded_with_a_warning(make_bundle, tmp_path):
    (tmp_path / "outside.yml").write_text(job("x"))
    root = make_bundle({"databricks.yml": MAIN.format(pattern="../outside.yml")})
    b = load_bundle(root, validate=False)
    assert "x" in b.jobs
    assert [d.severity for d in b.diagnostics] == ["warning"]
    assert "outside the bundle root" in b.diagnostics.items[0].summary


def test_absolute_patterns_are_rejected(make_bundle, tmp_path):
    root = make_bundle({"databricks.yml": MAIN.format(pattern=str(tmp_path / "*.yml"))})
    with pytest.raises(BundleError, match="includes must be relative paths"):
        load_bundle(root)


def test_same_resource_in_two_files_names_both(make_bundle):
    root = make_bundle({
        "databricks.yml": MAIN.format(pattern="resources/*.yml"),
        "resources/a.yml": job("dup"),
        "resources/b.yml": job("dup"),
    })
    with pytest.raises(BundleError) as e:
        load_bundle(root)
    assert str(e.value) == (
        "Error: multiple resources have been defined with the same key: dup\n"
        "  at jobs.dup\n"
        "  in resources/a.yml:4:7\n     resources/b.yml:4:7")


def test_include_in_an_included_file_is_a_warning(make_bundle):
    root = make_bundle({
        "databricks.yml": MAIN.format(pattern="r.yml"),
        "r.yml": "include:\n  - other.yml\n",
    })
    found = [d for d in load_bundle(root).diagnostics if d.check == "include"]
    assert [(d.severity, d.summary, str(d.location)) for d in found] == [
        ("warning", "Include section is defined outside root file", "r.yml:2:3")]


def test_malformed_included_file_points_at_it(make_bundle):
    root = make_bundle({
        "databricks.yml": MAIN.format(pattern="r.yml"),
        "r.yml": "resources:\n  jobs: [\n",
    })
    with pytest.raises(BundleError) as e:
        load_bundle(root)
    # The CLI's config.Load: the file's absolute path, then yaml.v3's message.
    assert e.value.first.summary.startswith(f"failed to load {root / 'r.yml'}: yaml: line ")


def test_a_section_of_the_wrong_kind_is_an_error_naming_file_and_line(make_bundle):
    # Merging `resources: somestring` would silently drop the resources of earlier files.
    root = make_bundle({
        "databricks.yml": "bundle:\n  name: inc\ninclude:\n  - resources/*.yml\n",
        "resources/a.yml": job("a"),
        "resources/b.yml": "resources: somestring\n",
    })
    with pytest.raises(BundleError) as e:
        load_bundle(root)
    assert str(e.value) == "Error: expected map, found string\n  at resources\n  in resources/b.yml:1:12"


def test_non_yaml_includes_are_errors_naming_the_file(make_bundle):
    root = make_bundle({"databricks.yml": MAIN.format(pattern="notes/*"), "notes/readme.txt": "hello"})
    with pytest.raises(BundleError, match="The file notes/readme.txt in the 'include' configuration section is not"):
        load_bundle(root)


def test_a_folder_with_a_yaml_name_matched_by_a_glob_is_an_error(make_bundle):
    root = make_bundle({"databricks.yml": MAIN.format(pattern="resources/*.yml"), "resources/a.yml": job("a"),
                        "resources/old.yml/b.yml": job("b")})
    with pytest.raises(BundleError, match="cannot read included file resources/old.yml: it is a directory"):
        load_bundle(root)


def test_a_symlink_loop_under_a_glob_is_an_error_not_a_traceback(make_bundle):
    root = make_bundle({"databricks.yml": MAIN.format(pattern="\"**/*.yml\""), "r/a.yml": job("a")})
    (root / "r" / "loop").symlink_to(root / "r" / "loop")
    try:
        b = load_bundle(root, validate=False)
    except BundleError as e:
        assert "include" in str(e)
    else:
        assert "a" in b.jobs


def test_extra_includes_from_the_environment_follow_the_root_files_entries(make_bundle):
    # The CLI's ProcessRootIncludes appends DATABRICKS_BUNDLE_INCLUDES' entries (PATH-separated;
    # an absolute one made relative to the bundle root) after the root file's include list.
    root = make_bundle({
        "databricks.yml": MAIN.format(pattern="resources/*.yml"),
        "resources/a.yml": job("job_a"),
        "extra/b.yml": job("job_b"),
        "extra/c.yml": job("job_c"),
    })
    environ = {"DATABRICKS_BUNDLE_INCLUDES": f"{root / 'extra' / 'c.yml'}::extra/b.yml"}
    b = load_bundle(root, validate=False, environ=environ)
    assert b.config["include"] == ["resources/a.yml", "extra/c.yml", "extra/b.yml"]
    assert list(b.jobs) == ["job_a", "job_c", "job_b"]
    assert b.location("resources.jobs.job_c").file == "extra/c.yml"
