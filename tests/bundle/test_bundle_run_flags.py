"""``healthmon bundle run`` / ``jobs run-now`` / ``runs repair`` parameter flags, through the CLI
entry points on a deployed bundle whose tasks report what they received.

Expectations from the Databricks CLI's documented flags (``databricks bundle run --help``):
``--params`` "comma separated k=v pairs for job parameters"; the task parameter flags
``--notebook-params`` / ``--python-named-params`` ("a map from keys to values") and
``--python-params`` ("a list of parameters for jobs with Python tasks"), each value read as one
CSV record (pflag's StringToString / StringSlice) and added to by a repeated flag; job parameters
also given after ``--`` as ``--key=value`` ("databricks bundle run my_job -- --param=value"). From
the Jobs API: a job that defines job parameters takes no task parameters ("job parameters and
task parameters cannot be combined"), and the run records task parameters as its
``overriding_parameters`` (``RunParameters``); ``jobs run-now`` takes the legacy CLI's JSON flags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from bundle_fixtures import make_bundle  # noqa: F401  (pytest fixture)

from healthmon.cli.main import main

ECHO_WIDGETS = ('# Databricks notebook source\nimport json\n'
                'dbutils.notebook.exit(json.dumps({k: dbutils.widgets.get(k) for k in ("a", "b")}))\n')
ECHO_WHO = '# Databricks notebook source\ndbutils.notebook.exit(dbutils.widgets.get("who"))\n'
PRINT_ARGV = "import sys\nprint('argv', sys.argv[1:])\n"

ENV = '[{environment_key: default, spec: {environment_version: "2"}}]'
BUNDLE = f"""
bundle: {{name: flags}}
resources:
  jobs:
    legacy:
      environments: {ENV}
      tasks:
        - task_key: nb
          notebook_task: {{notebook_path: ./widgets.py, base_parameters: {{a: base_a, b: base_b}}}}
        - task_key: py
          environment_key: default
          spark_python_task: {{python_file: ./argv.py, parameters: [from_settings]}}
    argv_only:
      environments: {ENV}
      tasks:
        - task_key: py
          environment_key: default
          spark_python_task: {{python_file: ./argv2.py, parameters: [from_settings]}}
    widgets_only:
      tasks:
        - task_key: nb
          notebook_task: {{notebook_path: ./widgets2.py, base_parameters: {{a: base_a, b: base_b}}}}
    with_params:
      parameters: [{{name: who, default: nobody}}]
      tasks:
        - task_key: nb
          notebook_task: {{notebook_path: ./who.py}}
"""


@dataclass
class Result:
    exit_code: int
    output: str


@pytest.fixture
def invoke(capsys):
    """``healthmon ARGS`` through the CLI's entry point (its error handling included)."""

    def run(*args) -> Result:
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in args])
        out = capsys.readouterr()
        return Result(exit_info.value.code, out.out + out.err)

    return run


@pytest.fixture
def deployed(make_bundle, invoke):  # noqa: F811  (the imported fixture)
    root = make_bundle({"databricks.yml": BUNDLE, "widgets.py": ECHO_WIDGETS, "who.py": ECHO_WHO,
                        "argv.py": PRINT_ARGV, "widgets2.py": ECHO_WIDGETS, "argv2.py": PRINT_ARGV})
    r = invoke("bundle", "deploy", "-p", root)
    assert r.exit_code == 0, r.output
    return root


def _last_run(job_key: str, root) -> dict:
    from healthmon.bundle import load_bundle
    from healthmon.bundle.deploy import deployed_jobs
    from healthmon.jobs import service

    job_id = deployed_jobs(load_bundle(root))[job_key]
    return service.get_run(service.list_runs(job_id=job_id, limit=1)["runs"][0]["run_id"])


def _outputs(run: dict) -> dict[str, str]:
    """Each task's notebook result, or the argv its Python file printed."""
    from healthmon.jobs import service

    out = {}
    for task in run["tasks"]:
        got = service.get_run_output(task["run_id"])
        out[task["task_key"]] = (got.get("notebook_output") or {}).get("result") or got.get("logs", "").strip()
    return out


@pytest.mark.slow
def test_task_parameter_flags_reach_notebook_widgets_and_python_argv(deployed, invoke):
    r = invoke("bundle", "run", "-p", deployed, "legacy", "--notebook-params", "a=1",
               "--notebook-params", '"b=x,y"', "--python-params", 'p,"q,r"', "--python-params", "s",
               "--python-named-params", "n=1")
    assert r.exit_code == 0, r.output
    run = _last_run("legacy", deployed)
    assert run["overriding_parameters"] == {"notebook_params": {"a": "1", "b": "x,y"},
                                            "python_named_params": {"n": "1"}, "python_params": ["p", "q,r", "s"]}
    out = _outputs(run)
    assert json.loads(out["nb"]) == {"a": "1", "b": "x,y"}
    assert "argv ['p', 'q,r', 's']" in out["py"]


@pytest.mark.slow
def test_job_parameters_by_flag_and_after_double_dash(deployed, invoke):
    assert invoke("bundle", "run", "-p", deployed, "with_params", "--params", "who=flag").exit_code == 0
    assert _outputs(_last_run("with_params", deployed)) == {"nb": "flag"}
    r = invoke("bundle", "run", "-p", deployed, "with_params", "--", "--who=dashed")
    assert r.exit_code == 0, r.output
    assert _outputs(_last_run("with_params", deployed)) == {"nb": "dashed"}
    r = invoke("bundle", "run", "-p", deployed, "with_params", "--params", "who=flag", "--", "--who", "spaced")
    assert r.exit_code == 0, r.output
    run = _last_run("with_params", deployed)
    assert _outputs(run) == {"nb": "spaced"}
    assert run["job_parameters"] == [{"name": "who", "default": "nobody", "value": "spaced"}]


@pytest.mark.slow
def test_arguments_after_double_dash_for_a_job_of_one_task_type(deployed, invoke):
    r = invoke("bundle", "run", "-p", deployed, "argv_only", "--", "one", "--two")
    assert r.exit_code == 0, r.output
    assert "argv ['one', '--two']" in _outputs(_last_run("argv_only", deployed))["py"]
    r = invoke("bundle", "run", "-p", deployed, "widgets_only", "--", "--a=dashed")
    assert r.exit_code == 0, r.output
    assert json.loads(_outputs(_last_run("widgets_only", deployed))["nb"]) == {"a": "dashed", "b": "base_b"}


REFUSED = [
    (["with_params", "--notebook-params", "a=1"], "job parameters and task parameters cannot be combined"),
    (["with_params", "--python-params", "x"], "job parameters and task parameters cannot be combined"),
    (["with_params", "--params", "nope=1"], "has no parameter 'nope'"),
    (["legacy", "--params", "who=1"], "has no parameter 'who'"),
    (["legacy", "--python-params", "café"], "non-ASCII"),
    (["legacy", "--jar-params", "a,b"], "bundle run with jar_params is not supported by the local workspace"),
    (["legacy", "--sql-params", "k=v", "--dbt-commands", "dbt run"], "sql_params, dbt_commands is not supported"),
    (["legacy", "--spark-submit-params", "x"], "spark_submit_params is not supported"),
    (["legacy", "--pipeline-params", "full_refresh=true"], "pipeline_params is not supported"),
    (["legacy", "--notebook-params", "a=1,broken"], "--notebook-params 'broken': expected \"name=value\""),
    (["legacy", "--python-named-params", '"unclosed'], "--python-named-params"),
    (["with_params", "--", "positional"], "unexpected argument 'positional' after --"),
    (["with_params", "--", "--who"], "has no value"),
    (["legacy", "--", "--a=1"], "its tasks are not all notebook, Python file or wheel tasks of one type"),
]


def test_refused_flags_are_one_clear_error_and_start_no_run(deployed, invoke):
    from healthmon.jobs import service

    for args, expected in REFUSED:
        r = invoke("bundle", "run", "-p", deployed, *args)
        assert r.exit_code == 1, (args, r.output)
        assert expected in " ".join(r.output.split()), (args, r.output)
        assert "Traceback" not in r.output
    assert service.list_runs(limit=1)["runs"] == []


@pytest.mark.slow
def test_jobs_run_now_and_runs_repair_take_the_json_task_parameter_flags(deployed, invoke):
    from healthmon.bundle import load_bundle
    from healthmon.bundle.deploy import deployed_jobs

    job_id = deployed_jobs(load_bundle(deployed))["widgets_only"]
    r = invoke("jobs", "run-now", "--job-id", job_id, "--notebook-params", '{"a": "j"}',
               "--python-named-params", '{"n": "2"}', "-o", "json")
    assert r.exit_code == 0, r.output
    run = json.loads(r.output)
    assert run["overriding_parameters"] == {"notebook_params": {"a": "j"}, "python_named_params": {"n": "2"}}
    assert json.loads(_outputs(run)["nb"]) == {"a": "j", "b": "base_b"}

    r = invoke("runs", "repair", "--run-id", run["run_id"], "--rerun-tasks", "nb", "--notebook-params",
               '{"b": "repaired"}', "-o", "json")
    assert r.exit_code == 0, r.output
    # A repair's map parameters apply per name over the run's (a keeps "j").
    assert json.loads(_outputs(_last_run("widgets_only", deployed))["nb"]) == {"a": "j", "b": "repaired"}


@pytest.mark.parametrize("flag, value, expected", [
    ("--notebook-params", '["a"]', "--notebook-params must be a JSON object of names to strings"),
    ("--python-named-params", '{"n": 1}', "--python-named-params must be a JSON object of names to strings"),
    ("--notebook-params", "{a: 1}", "--notebook-params: invalid JSON at column 2"),
    ("--python-params", '"a"', "--python-params must be a JSON list of strings"),
])
def test_jobs_run_now_refuses_malformed_json_flags(invoke, flag, value, expected):
    r = invoke("jobs", "run-now", "--job-id", 1, flag, value)
    assert r.exit_code == 1 and expected in " ".join(r.output.split()), r.output
