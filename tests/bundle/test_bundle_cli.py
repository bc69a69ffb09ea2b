import json
import shutil

import pytest
from typer.testing import CliRunner

from healthmon.cli.bundle import app
from bundle_fixtures import make_bundle, fixtures_dir, outside_sync_bundle  # noqa: F401  (pytest fixtures)


@pytest.fixture
def basic(fixtures_dir, tmp_path):
    root = tmp_path / "basic"
    shutil.copytree(fixtures_dir / "basic", root)
    return root


def invoke(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def test_validate_ok_text(basic):
    r = invoke("validate", "-p", basic)
    assert r.exit_code == 0, r.output
    assert "Name: basic_bundle\nTarget: dev\n" in r.stdout
    assert r.stdout.rstrip().endswith("Validation OK!")


def test_validate_finds_root_from_a_subdirectory(basic, monkeypatch):
    monkeypatch.chdir(basic / "src" / "etl")
    r = invoke("validate", "-t", "prod")
    assert r.exit_code == 0 and "Target: prod" in r.stdout


def test_var_flag_and_env_reach_the_output(basic, monkeypatch):
    monkeypatch.setenv("BUNDLE_VAR_schema", "silver")
    r = invoke("validate", "-p", basic, "--var", "catalog=flag_cat", "-o", "json")
    doc = json.loads(r.stdout)
    assert doc["variables"]["catalog"]["value"] == "flag_cat"
    assert doc["variables"]["schema"]["value"] == "silver"
    params = doc["resources"]["jobs"]["ingest_job"]["tasks"][0]["notebook_task"]["base_parameters"]
    assert params == {"catalog": "flag_cat", "schema": "silver"}


def _add_to_load_task(basic, line: str) -> None:
    ingest = basic / "resources/ingest.yml"
    ingest.write_text(ingest.read_text().replace("        - task_key: load\n", f"        - task_key: load\n          {line}\n"))


def test_validation_errors_exit_1_with_locations(basic):
    _add_to_load_task(basic, 'run_if: "${var.catalog"')
    r = invoke("validate", "-p", basic)
    assert r.exit_code == 1
    assert "  at resources.jobs.ingest_job.tasks[0].run_if\n  in resources/ingest.yml:16:19" in r.output
    assert "Error: " in r.output and "Validation OK!" not in r.output


def test_wrong_types_are_located_warnings_and_dropped(basic):
    _add_to_load_task(basic, "timeout_seconds: lots")
    r = invoke("validate", "-p", basic)
    assert r.exit_code == 0
    assert "  at resources.jobs.ingest_job.tasks[0].timeout_seconds\n  in resources/ingest.yml:16:28" in r.output
    assert "Warning: " in r.output


def test_a_missing_notebook_is_the_clis_plain_error(basic):
    (basic / "resources/ingest.yml").write_text(
        (basic / "resources/ingest.yml").read_text().replace("../src/etl/load.py", "../src/etl/lod.py"))
    r = invoke("validate", "-p", basic)
    assert r.exit_code == 1
    assert r.output.startswith("Error: notebook ../src/etl/lod.py not found\n\nName: basic_bundle\n")
    assert "Found 1 error" in r.output and "Validation OK!" not in r.output


def test_json_output_with_errors_still_exits_1(basic):
    (basic / "src/etl/load.py").unlink()
    r = invoke("validate", "-p", basic, "-o", "json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["bundle"]["name"] == "basic_bundle"


@pytest.mark.parametrize("text,expected", [
    ("bundle: [\n", "databricks.yml: yaml: line 1: did not find expected node content"),
    ("bundle: {name: x}\nvariables: {a: {default: '${var.b}'}, b: {default: '${var.a}'}}\nx: ${var.a}\n", "cycle detected"),
    ("bundle: {name: x}\nresources: {jobs: {j: {description: '${var.nope}'}}}\n",
     "reference does not exist: ${var.nope}"),
])
def test_bad_input_is_one_message_and_exit_1(make_bundle, text, expected):
    root = make_bundle({"databricks.yml": text})
    r = invoke("validate", "-p", root)
    assert r.exit_code == 1
    assert expected in r.output
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)


def test_missing_bundle_and_unknown_target(tmp_path, basic):
    r = invoke("validate", "-p", tmp_path)
    assert r.exit_code == 1 and r.output == "Error: unable to locate bundle root: databricks.yml not found\n"
    r = invoke("validate", "-p", basic, "-t", "prd")
    assert r.exit_code == 1 and "prd: no such target. Available targets: dev, prod" in r.output


def test_the_bundle_root_from_the_environment(tmp_path, basic, monkeypatch):
    """The CLI's DATABRICKS_BUNDLE_ROOT (and its older name BUNDLE_ROOT) replace the search from
    the current directory; a path that is not a directory is its `invalid bundle root` error."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABRICKS_BUNDLE_ROOT", "BUNDLE_ROOT"):
        with monkeypatch.context() as m:
            m.setenv(name, str(basic))
            r = invoke("validate")
            assert r.exit_code == 0 and "Name: basic_bundle\nTarget: dev\n" in r.stdout, r.output
    monkeypatch.setenv("BUNDLE_ROOT", str(tmp_path / "nope"))
    r = invoke("validate")
    assert r.exit_code == 1
    assert r.output == (f'Error: invalid bundle root DATABRICKS_BUNDLE_ROOT="{tmp_path / "nope"}": '
                        f"stat {tmp_path / 'nope'}: no such file or directory\n")
    monkeypatch.setenv("DATABRICKS_BUNDLE_ROOT", str(basic / "databricks.yml"))
    r = invoke("validate")
    assert r.exit_code == 1 and r.output.endswith('databricks.yml": not a directory\n')


@pytest.mark.parametrize("variable", ["DATABRICKS_BUNDLE_TARGET", "DATABRICKS_BUNDLE_ENV"])
def test_the_target_from_the_environment_and_the_deprecated_flag(basic, monkeypatch, variable):
    """The CLI's getTarget: -t, else the deprecated -e (with pflag's notice), else the variable."""
    monkeypatch.setenv(variable, "prod")
    assert "Target: prod\n" in invoke("validate", "-p", basic).stdout
    assert "Target: dev\n" in invoke("validate", "-p", basic, "-t", "dev").stdout
    r = invoke("validate", "-p", basic, "-e", "dev")
    assert "Target: dev\n" in r.stdout
    assert r.stderr == "Flag --environment has been deprecated, use --target flag instead\n"
    assert "Target: prod\n" in invoke("validate", "-p", basic, "-t=prod").stdout  # pflag's -t=value
    monkeypatch.setenv(variable, "")  # set but empty: the default target, as an unset one
    assert "Target: dev\n" in invoke("validate", "-p", basic).stdout


def test_the_output_flag_takes_the_clis_values(basic, capsys):
    from healthmon.cli.main import main

    for flags in (("-o", "JSON"), ("-o=json",)):  # flags.Output lowercases its value; pflag's -o=value
        r = invoke("validate", "-p", basic, *flags)
        assert r.exit_code == 0 and json.loads(r.stdout)["bundle"]["name"] == "basic_bundle"
    with pytest.raises(SystemExit) as exited:
        main(["bundle", "validate", "-p", str(basic), "-o", "yaml"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == ('Error: invalid argument "yaml" for "-o, --output" flag: '
                                       "accepted arguments are text and json\n")


def test_deploy_summary_destroy_flow(basic):
    r = invoke("deploy", "-p", basic)
    assert r.exit_code == 0, r.output
    assert "Deployment complete!" in r.stdout and "job ingest_job: created, id " in r.stdout
    r = invoke("deploy", "-p", basic)
    assert "job ingest_job: updated" in r.stdout
    r = invoke("summary", "-p", basic, "-o", "json")
    doc = json.loads(r.stdout)
    job_id = doc["resources"]["jobs"]["ingest_job"]["id"]
    r = invoke("summary", "-p", basic)
    assert f"URL:  http://127.0.0.1:8080/jobs/{job_id}" in r.stdout
    r = invoke("destroy", "-p", basic)  # no terminal: refuses
    assert r.exit_code == 1 and "--auto-approve" in r.output
    r = invoke("destroy", "-p", basic, "--auto-approve")
    assert r.exit_code == 0 and f"Deleted job ingest_job (id {job_id})" in r.stdout
    r = invoke("summary", "-p", basic, "-o", "json")
    assert "id" not in json.loads(r.stdout)["resources"]["jobs"]["ingest_job"]


def test_deploy_refuses_an_invalid_bundle(basic):
    notebook = basic / "src/etl/load.py"
    text = notebook.read_text()
    notebook.unlink()
    r = invoke("deploy", "-p", basic)
    assert r.exit_code == 1 and "notebook ../src/etl/load.py not found" in r.output
    notebook.write_text(text)
    r = invoke("summary", "-p", basic, "-o", "json")
    assert "id" not in json.loads(r.stdout)["resources"]["jobs"]["ingest_job"]


def test_validate_accepts_what_the_cli_accepts_and_deploy_refuses_what_a_run_would(basic):
    # A dependency on a missing task, a Unix cron line and a widget nobody passes: the CLI's
    # `bundle validate` prints "Validation OK!"; healthmon's deploy checks refuse the deploy.
    ingest = basic / "resources/ingest.yml"
    ingest.write_text(ingest.read_text().replace("            - task_key: load\n", "            - task_key: lod\n")
                      .replace('"0 0 3 ? * SUN"', '"0 0 * * *"'))
    notebook = basic / "src/etl/load.py"
    notebook.write_text(notebook.read_text().replace('dbutils.widgets.get("schema")', 'dbutils.widgets.get("table")'))
    r = invoke("validate", "-p", basic, "--strict")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Name: basic_bundle\n") and r.stdout.rstrip().endswith("Validation OK!")
    r = invoke("deploy", "-p", basic)
    assert r.exit_code == 1
    assert "Error: Parameter missing: " in r.stderr and "  in resources/ingest.yml:18:28\n" in r.stderr
    assert "  at resources.jobs.ingest_job.tasks[1].depends_on[0].task_key\n  in resources/ingest.yml:25:25\n" in r.stderr
    assert "  at resources.jobs.ingest_job.schedule.quartz_cron_expression\n  in resources/ingest.yml:30:33\n" in r.stderr
    assert r.stderr.rstrip().endswith("Found 3 errors") and "Deployment complete!" not in r.stdout
    assert "Traceback" not in r.output
    r = invoke("summary", "-p", basic, "-o", "json")
    assert "id" not in json.loads(r.stdout)["resources"]["jobs"]["ingest_job"]


def test_run_unknown_and_undeployed_keys(basic):
    r = invoke("run", "-p", basic, "ingest_jbo")
    assert r.exit_code == 1 and 'did you mean "ingest_job"' in r.output
    r = invoke("run", "-p", basic, "ingest_job")
    assert r.exit_code == 1 and "is not deployed" in r.output and "healthmon bundle deploy -t dev" in r.output


@pytest.mark.slow
def test_run_a_deployed_job_end_to_end(make_bundle):
    root = make_bundle({
        "databricks.yml": """
            bundle: {name: runme}
            resources:
              jobs:
                hello:
                  tasks:
                    - task_key: say
                      notebook_task:
                        notebook_path: ./hello.py
                        base_parameters: {greeting: hi}
            """,
        "hello.py": '# Databricks notebook source\ng = dbutils.widgets.get("greeting")\ndbutils.notebook.exit(g)\n',
    })
    assert invoke("deploy", "-p", root).exit_code == 0
    r = invoke("run", "-p", root, "hello")
    assert r.exit_code == 0, r.output


def test_malformed_var_and_params_flags(basic):
    r = invoke("validate", "-p", basic, "--var", "novalue")
    assert r.exit_code == 1 and "unexpected flag value for variable assignment" in r.output
    assert invoke("deploy", "-p", basic).exit_code == 0
    r = invoke("run", "-p", basic, "ingest_job", "--params", "a=1,broken")
    assert r.exit_code == 1 and "--params 'broken'" in r.output


@pytest.mark.slow
def test_racing_deploy_processes(basic, tmp_path):
    import os
    import subprocess
    import sys

    from healthmon.bundle import load_bundle
    from healthmon.bundle.deploy import deployed_jobs

    cmd = [sys.executable, "-m", "healthmon.cli.main", "bundle", "deploy", "-p", str(basic)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
             for _ in range(3)]
    results = [(p.wait(timeout=120), p.stdout.read().decode(), p.stderr.read().decode()) for p in procs]
    for rc, out, err in results:
        assert rc == 0 or "deployment lock" in err, (rc, out, err)
        assert "Traceback" not in err
    assert any(rc == 0 for rc, _, _ in results)
    ids = deployed_jobs(load_bundle(basic, "dev"))
    assert set(ids) == {"ingest_job", "orchestrator_job"}
    # a clean redeploy after the race keeps the ids
    assert invoke("deploy", "-p", basic).exit_code == 0
    assert deployed_jobs(load_bundle(basic, "dev")) == ids


def test_summary_line_counts_each_severity(make_bundle):
    root = make_bundle({"databricks.yml": """
        bundle: {name: c}
        resources:
          jobs:
            j:
              nmae: typo
              tasks: [{task_key: t, notebook_task: {notebook_path: /Workspace/nb}}]
              tagz: {}
              run_as: {user_name: bot@example.com}
          apps:
            app: {name: app, source_code_path: ./app, deployment_id: abc}
        targets:
          prod: {mode: production}
        """, "app/app.py": ""})
    r = invoke("validate", "-p", root)
    assert r.exit_code == 1
    assert r.stdout.rstrip().endswith("Found 1 error, 2 warnings and 1 recommendation")
    assert r.stdout.count("Warning: unknown field") == 2 and "Recommendation: target with 'mode: production'" in r.stdout



def test_summary_without_deployment_lists_every_kind_as_the_cli(make_bundle, monkeypatch):
    # The CLI's summary template: the validate header, then `Resources:` with each non-empty
    # group in `AllResources()` order, keys sorted, `Name:` from each kind's name field.
    monkeypatch.setenv("HEALTHMON_USER", "tester@example.com")
    root = make_bundle({"databricks.yml": """
        bundle: {name: s}
        workspace: {host: "https://example.cloud.databricks.com"}
        resources:
          volumes:
            landing: {catalog_name: main, schema_name: raw, name: landing}
          jobs:
            zeta: {name: Zeta}
            alpha: {name: Alpha}
          schemas:
            raw: {catalog_name: main, name: raw}
        """})
    r = invoke("summary", "-p", root)
    assert r.exit_code == 0, r.output
    assert r.stdout == """Name: s
Target: default
Workspace:
  Host: https://example.cloud.databricks.com
  User: tester@example.com
  Path: /Workspace/Users/tester@example.com/.bundle/s/default
Resources:
  Jobs:
    alpha:
      Name: Alpha
      URL:  (not deployed)
    zeta:
      Name: Zeta
      URL:  (not deployed)
  Schemas:
    raw:
      Name: raw
      URL:  (not deployed)
  Volumes:
    landing:
      Name: landing
      URL:  (not deployed)
"""


def test_summary_of_a_bundle_with_an_empty_resources_section(make_bundle):
    root = make_bundle({"databricks.yml": "bundle: {name: s}\nresources:\n"})
    r = invoke("summary", "-p", root)
    assert r.exit_code == 0, r.output
    assert r.stdout.endswith("Resources:\n")

@pytest.mark.slow
def test_run_a_jupyter_notebook_and_a_file_from_outside_the_bundle_root(tmp_path):
    # The .ipynb keeps its extension in the workspace path, ../common is synced under the sync root:
    # both must be found by the local runtime.
    root = outside_sync_bundle(tmp_path, "dbutils.notebook.exit('designer ran')")
    assert invoke("deploy", "-p", root).exit_code == 0
    r = invoke("run", "-p", root, "both")
    assert r.exit_code == 0, r.output
    assert r.output.count("SUCCESS") == 4  # the run's state, both tasks, the final line
