import pytest

from healthmon.bundle import load_bundle
from healthmon.bundle.diag import BundleError
from bundle_fixtures import make_bundle  # noqa: F401  (pytest fixtures)

YAML = """
bundle: {name: m}
resources:
  jobs:
    j:
      name: My job
      tags: {team: x}
      schedule: {quartz_cron_expression: "0 0 3 ? * *", timezone_id: UTC}
      trigger: {periodic: {interval: 1, unit: HOURS}}
      tasks: [{task_key: t, run_job_task: {job_id: "${resources.jobs.k.id}"}}]
    k:
      name: Other
      max_concurrent_runs: 2
      schedule: {quartz_cron_expression: "0 0 3 ? * *", timezone_id: UTC, pause_status: UNPAUSED}
      tasks: [{task_key: t, condition_task: {op: EQUAL_TO, left: "1", right: "1"}}]
targets:
  dev: {mode: development, default: true}
  prod: {mode: production, workspace: {root_path: /Shared/.bundle/m}}
  plain: {}
"""


def test_development_mode(make_bundle):
    b = load_bundle(make_bundle({"databricks.yml": YAML}), "dev")
    j, k = b.jobs["j"], b.jobs["k"]
    assert j["name"] == "[dev tester] My job"
    assert j["tags"] == {"dev": "tester", "team": "x"}
    assert j["max_concurrent_runs"] == 4 and k["max_concurrent_runs"] == 2
    assert j["schedule"]["pause_status"] == "PAUSED" and j["trigger"]["pause_status"] == "PAUSED"
    assert k["schedule"]["pause_status"] == "UNPAUSED"  # an explicit status is kept
    assert b.config["bundle"]["deployment"] == {"lock": {"enabled": False}}


def test_production_mode_leaves_jobs_alone(make_bundle):
    b = load_bundle(make_bundle({"databricks.yml": YAML}), "prod")
    j = b.jobs["j"]
    assert j["name"] == "My job" and j["tags"] == {"team": "x"}
    assert j["max_concurrent_runs"] == 1  # the CLI default, not the dev 4
    assert "pause_status" not in j["schedule"]
    assert b.workspace["root_path"] == "/Workspace/Shared/.bundle/m"


def test_production_without_target_root_path(make_bundle):
    """The CLI's validateProductionMode: an error, or a recommendation when every job runs as a
    named identity."""
    text = YAML.replace("  prod: {mode: production, workspace: {root_path: /Shared/.bundle/m}}", "  prod: {mode: production}")
    with pytest.raises(BundleError, match="must set 'workspace.root_path'"):
        load_bundle(make_bundle({"databricks.yml": text}), "prod")
    b = load_bundle(make_bundle({"databricks.yml": text + "run_as: {user_name: bot@example.com}\n"}), "prod")
    assert [d.severity for d in b.diagnostics] == ["recommendation"]
    assert not b.diagnostics.has_errors()


def test_unknown_mode_is_an_error(make_bundle):
    with pytest.raises(BundleError, match="must be either 'development' or 'production'"):
        load_bundle(make_bundle({"databricks.yml": YAML.replace("mode: development", "mode: dev")}), "dev")


@pytest.mark.parametrize("host, value", [
    (None, "jose_nunez a+b=c.d:e/f@g"),                        # the local workspace: AWS rules
    ("https://dbc-1.cloud.databricks.com", "jose_nunez a+b=c.d:e/f@g"),
    ("https://adb-1.2.azuredatabricks.net", "josé_núñez a+b=c.d:e/f@g"),  # Azure restricts keys only
    ("https://1.2.gcp.databricks.com", "jose_nunez_a_b_c.d_e_f_g"),
])
def test_dev_tag_value_is_normalised_for_the_cloud(host, value):
    from healthmon.bundle.tags import normalize_value

    assert normalize_value("josé_núñez a+b=c.d:e/f@g", host) == value
    assert normalize_value("-x\u4e2d-", host) == ("x" if "gcp" in (host or "") else "-x_-")
