"""The loader's uniform step interface: named steps in a declared order, each declaring what it
reads and updates, working on immutable trees."""

import copy
import json
from pathlib import Path

from typer.testing import CliRunner

from bundle_fixtures import make_bundle  # noqa: F401  (pytest fixtures)
from healthmon.bundle import pipeline
from healthmon.bundle.context import LoadContext
from healthmon.bundle.step import BundleState, Step, apply_all
from healthmon.bundle.yamlparse import parse_file

ORDER = ["run_preinit_script", "load_includes", "normalize_as_loaded", "check_bundle_root", "verify_cli_version", "compute_id_to_cluster_id", "select_target", "merge_target", "initialize_variables",
         "check_resources_have_values",
         "rewrite_sync_paths",
         "sync_default_path", "sync_infer_root", "apply_source_linked_deployment",
         "define_workspace_defaults", "load_git", "resolve_variables", "rewrite_workspace_prefix", "interpolate", "normalize_resolved_types",
         "merge_keyed_lists", "sort_tasks", "capture_schema_dependency", "check_required_and_enum", "permission_diagnostics", "set_run_as", "override_compute", "apply_mode",
         "apply_presets", "set_resource_defaults",
         "expand_pipeline_glob_paths", "translate_paths", "python_wheel_wrapper_check", "insert_python_artifact",
         "prepare_artifacts", "validate_apps", "validate_shared_root_permissions", "apply_permissions",
         "run_postinit_script"]


def test_steps_are_named_and_declare_what_they_read_and_update():
    steps = [*pipeline.load(Path("databricks.yml"), None), *pipeline.initialize(), *pipeline.validate(),
             *pipeline.deploy_checks()]
    assert [s.name for s in steps][:len(ORDER)] == ORDER
    assert len({s.name for s in steps}) == len(steps)
    for s in steps:
        assert isinstance(s, Step) and s.name and s.reads, s
        assert isinstance(s.updates, tuple)


def test_validate_runs_the_clis_checks_and_deploy_runs_healthmons_own():
    # The CLI's `bundle validate` has schema, reserved-field, compute, path and sync checks; the
    # rest is healthmon's and runs when deploying.
    assert [s.name for s in pipeline.validate()] == [
        "validate_schema", "validate_reserved", "validate_job_cluster_keys", "validate_job_task_cluster_spec",
        "validate_single_node_cluster", "validate_notebooks", "validate_sync_patterns"]
    assert [s.name for s in pipeline.deploy_checks()] == [
        "deploy_check_resource_keys", "deploy_check_widgets", "deploy_check_depends_on", "deploy_check_atomic", "deploy_check_environments",
        "deploy_check_schedules", "deploy_check_silent_failure"]
    assert all(s.updates == () for s in pipeline.deploy_checks())


def test_steps_never_mutate_the_trees_they_are_given(make_bundle):
    root = make_bundle({"databricks.yml": """
        bundle: {name: b}
        variables: {k: {default: t}, cfg: {default: {a: 1}}}
        permissions: [{level: CAN_VIEW, group_name: users}]
        run_as: {user_name: x@example.com}
        artifacts: {w: {type: whl}}
        resources:
          jobs:
            j:
              tags: ${var.cfg}
              tasks: [{task_key: "${var.k}", notebook_task: {notebook_path: /Workspace/nb}}]
        targets:
          dev:
            mode: development
            resources: {jobs: {j: {tasks: [{task_key: t, max_retries: 1}]}}}
        """})
    state = BundleState(parse_file(root / "databricks.yml", "databricks.yml"), LoadContext(root, "u@example.com"))
    seen = []
    for step in [*pipeline.load(root / "databricks.yml", "dev"), *pipeline.initialize()]:
        before = state.config
        snapshot = copy.deepcopy(before.plain())
        assert not step.apply(state).has_errors(), step
        assert before.plain() == snapshot, f"{step.name} changed its input tree"
        seen.append(step.name)
    assert seen == ORDER
    job = state.config.plain()["resources"]["jobs"]["j"]
    assert job["tasks"] == [{"task_key": "t", "notebook_task": {"notebook_path": "/Workspace/nb"}, "max_retries": 1}]
    assert job["run_as"] == {"user_name": "x@example.com"} and job["name"] == "[dev u] Untitled"


def test_a_phase_stops_at_the_first_error(make_bundle):
    root = make_bundle({"databricks.yml": "bundle: {name: b}\ninclude: [missing.yml]\n"})
    state = BundleState(parse_file(root / "databricks.yml", "databricks.yml"), LoadContext(root, "u"))
    diags = apply_all(state, pipeline.load(root / "databricks.yml", None))
    assert [d.summary for d in diags] == ["missing.yml defined in 'include' section does not match any files"]
    assert state.target == ""  # select_target never ran


def test_bundle_root_with_glob_characters_is_an_error(make_bundle, tmp_path):
    from healthmon.bundle import load_bundle
    from healthmon.bundle.diag import BundleError

    root = make_bundle({"databricks.yml": "bundle: {name: b}\n"}, root=tmp_path / "a[1]")
    try:
        load_bundle(root)
    except BundleError as e:
        assert "contains glob pattern characters" in str(e)
    else:
        raise AssertionError("expected an error")


def test_include_locations_adds_the_cli_locations_map(make_bundle):
    from healthmon.cli.bundle import app

    root = make_bundle({"databricks.yml": "bundle:\n  name: b\ninclude:\n  - r.yml\n",
                        "r.yml": "resources:\n  jobs:\n    j:\n      name: J\n"})
    r = CliRunner().invoke(app, ["validate", "-p", str(root), "-o", "json", "--include-locations"])
    assert r.exit_code == 0, r.output
    locs = json.loads(r.stdout)["__locations"]
    assert locs["version"] == 1 and locs["files"] == ["databricks.yml", "r.yml"]
    assert locs["locations"]["bundle.name"] == [[0, 2, 9]]
    assert locs["locations"]["resources.jobs.j.name"] == [[1, 4, 13]]
    r = CliRunner().invoke(app, ["validate", "-p", str(root), "-o", "json"])
    assert "__locations" not in json.loads(r.stdout)


def test_keyed_merge_keys_have_no_location(make_bundle):
    """The CLI's ``ElementsByKey`` re-sets each entry's key to ``dyn.V(key)`` (its Go test: "the
    resulting element has its key field assigned to the output of the key function"), so after
    ``MergeJobTasks`` and friends a written ``task_key`` / ``job_cluster_key`` /
    ``environment_key`` / parameter ``name`` has no location; the entries and their other
    fields keep theirs, as does a task's reference to a cluster or an environment."""
    from healthmon.cli.bundle import app

    root = make_bundle({"databricks.yml": """
        bundle:
          name: b
        resources:
          jobs:
            j:
              parameters:
                - name: p
                  default: x
              job_clusters:
                - job_cluster_key: c
                  new_cluster:
                    spark_version: 15.4.x-scala2.12
              environments:
                - environment_key: e
                  spec:
                    client: "1"
              tasks:
                - task_key: a
                  job_cluster_key: c
                  spark_python_task:
                    python_file: /Workspace/a.py
                - task_key: b
                  environment_key: e
                  spark_python_task:
                    python_file: /Workspace/b.py
        targets:
          dev:
            resources:
              jobs:
                j:
                  tasks:
                    - task_key: b
                      max_retries: 1
        """})
    r = CliRunner().invoke(app, ["validate", "-p", str(root), "-o", "json", "--include-locations"])
    assert r.exit_code == 0, r.output
    locs = json.loads(r.stdout)["__locations"]["locations"]
    job = "resources.jobs.j"
    for key in ("tasks[0].task_key", "tasks[1].task_key", "job_clusters[0].job_cluster_key",
                "environments[0].environment_key", "parameters[0].name"):
        assert f"{job}.{key}" not in locs, key
    assert locs[f"{job}.tasks[0].job_cluster_key"] == [[0, 19, 28]]
    assert locs[f"{job}.tasks[1].environment_key"] == [[0, 23, 28]]
    assert locs[f"{job}.tasks[1]"] == [[0, 22, 11], [0, 32, 15]]
    assert locs[f"{job}.parameters[0].default"] == [[0, 8, 20]]
