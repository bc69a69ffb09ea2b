"""A library written as a glob (`../dist/*.whl`) names a build output: `bundle validate` accepts
it before the build, as the CLI (which expands library globs only when deploying); deploy points
the job at every matching synced file, and refuses a pattern that matches nothing."""

import pytest

from bundle_fixtures import make_bundle  # noqa: F401  (pytest fixtures)
from healthmon.bundle import load_bundle
from healthmon.bundle.deploy import deployed_job_configs
from healthmon.errors import HealthmonError

BUNDLE = {
    "databricks.yml": "bundle: {name: w}\ninclude: [resources/*.yml]\n",
    "resources/job.yml": """
        resources:
          jobs:
            j:
              tasks:
                - task_key: t
                  existing_cluster_id: "0101"
                  python_wheel_task: {package_name: pkg, entry_point: main}
                  libraries:
                    - whl: ../dist/*.whl
                    - pypi: {package: requests}
    """,
}


def test_validate_accepts_a_wheel_glob_before_the_build(make_bundle):
    b = load_bundle(make_bundle(BUNDLE), user_name="u@x.com")
    assert not b.diagnostics.items
    assert b.jobs["j"]["tasks"][0]["libraries"][0] == {"whl": "dist/*.whl"}  # relative to the sync root
    with pytest.raises(HealthmonError, match="no file matches the library pattern '../dist/\\*.whl'"):
        deployed_job_configs(b)


def test_deploy_points_the_job_at_every_matching_wheel(make_bundle):
    root = make_bundle({**BUNDLE, "dist/pkg-1.0-py3-none-any.whl": "", "dist/extra-0.1-py3-none-any.whl": ""})
    b = load_bundle(root, user_name="u@x.com")
    files = b.workspace["file_path"]
    assert deployed_job_configs(b)["j"]["tasks"][0]["libraries"] == [
        {"whl": f"{files}/dist/extra-0.1-py3-none-any.whl"},
        {"whl": f"{files}/dist/pkg-1.0-py3-none-any.whl"},
        {"pypi": {"package": "requests"}},
    ]


def test_runtimes_too_old_for_local_wheels_follow_the_clis_version_rule():
    from healthmon.bundle.mutators.wheel_wrapper import lower_than_13_1

    assert lower_than_13_1("12.2.x-scala2.12") and lower_than_13_1("13.0.x-scala2.12")
    assert not any(lower_than_13_1(v) for v in ("13.1.x-scala2.12", "13.x-snapshot-scala2.12", "15.4.x-scala2.12",
                                                "custom", None))


ARTIFACT_BUNDLE = {
    "databricks.yml": """
        bundle: {name: w}
        artifacts:
          app_jar:
            type: jar
            path: ./java
            build: mvn package
        resources:
          jobs:
            j:
              tasks:
                - task_key: t
                  existing_cluster_id: "0101"
                  spark_jar_task: {main_class_name: com.example.Main}
                  libraries:
                    - jar: ./java/target/app-1.0.jar
    """,
    "java/pom.xml": "",
}


def test_validate_accepts_a_library_a_build_artifact_makes(make_bundle):
    """The CLI's validate does not look for local libraries; the jar is inside the `path` of an
    artifact with a `build` command, so it is a build output, as a glob is."""
    b = load_bundle(make_bundle(ARTIFACT_BUNDLE), user_name="u@x.com")
    assert not b.diagnostics.items
    assert b.jobs["j"]["tasks"][0]["libraries"][0] == {"jar": "java/target/app-1.0.jar"}
    with pytest.raises(HealthmonError, match="library file './java/target/app-1.0.jar' does not exist"):
        deployed_job_configs(b)


def test_deploy_points_the_job_at_the_built_library(make_bundle):
    root = make_bundle({**ARTIFACT_BUNDLE, "java/target/app-1.0.jar": ""})
    b = load_bundle(root, user_name="u@x.com")
    files = b.workspace["file_path"]
    assert deployed_job_configs(b)["j"]["tasks"][0]["libraries"] == [{"jar": f"{files}/java/target/app-1.0.jar"}]


def test_a_missing_library_no_artifact_builds_validates_and_deploy_refuses_it(make_bundle):
    # The CLI's validate does not look for local libraries at all (translate_paths leaves whl and
    # jar paths as written; its deploy checks them after the build).
    bundle = {**ARTIFACT_BUNDLE, "databricks.yml": ARTIFACT_BUNDLE["databricks.yml"].replace(
        "./java/target/app-1.0.jar", "./lib/app-1.0.jar")}
    b = load_bundle(make_bundle(bundle), user_name="u@x.com", strict=True)
    assert not b.diagnostics.items
    with pytest.raises(HealthmonError, match=r"library file './lib/app-1.0.jar' does not exist \(declared in "
                                             r"databricks.yml:15:20\)"):
        deployed_job_configs(b)
