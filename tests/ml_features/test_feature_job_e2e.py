"""The real path: deploy the repository's bundle, run ml_feature_pipeline_job through the jobs
runtime (notebook, widgets, dbutils.notebook.exit), and find the feature tables."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlf_gold import day, ts, write_gold

from healthmon.lakehouse import Lakehouse

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(importlib.util.find_spec(m) is None for m in
            ("healthmon.lakehouse.feature_store", "healthmon.cli.bundle", "healthmon.jobs.cli_support")),
        reason="feature store, bundle CLI or jobs runtime not there yet"),
]


def _hm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "healthmon.cli.main", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_feature_job_runs_from_the_deployed_bundle():
    lh = Lakehouse.from_env()
    # dev target: catalog dev_catalog, gold schema gold, feature schema dev_gold_ml
    write_gold(lh, "fact_usage", [
        {"record_id": f"r{n}", "workspace_id": "w1", "usage_date": day(n), "usage_quantity": 5 + n,
         "list_cost": 1.0 + n, "sku_name": "JOBS_COMPUTE"} for n in range(10)], catalog="dev_catalog")
    write_gold(lh, "fact_job_run_timeline", [
        {"workspace_id": "w1", "run_id": f"r{n}", "job_id": "j1", "period_start_time": ts(day(n)),
         "period_end_time": ts(day(n), 13), "result_state": "SUCCEEDED", "run_type": "JOB_RUN"} for n in range(5)],
        catalog="dev_catalog")

    deployed = _hm("bundle", "deploy", "-t", "dev")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    run = _hm("bundle", "run", "-t", "dev", "ml_feature_pipeline_job")
    assert run.returncode == 0, run.stdout + run.stderr

    assert lh.table_exists("dev_catalog.dev_gold_ml.cost_features")
    assert lh.read_table("dev_catalog.dev_gold_ml.cost_features").num_rows == 10
    assert lh.read_table("dev_catalog.dev_gold_ml.reliability_features").num_rows == 5
    assert not lh.table_exists("dev_catalog.dev_gold_ml.security_features")  # no audit logs: skipped

    # The notebook's exit value is the pipeline's JSON result (runs get-output).
    from healthmon.jobs import service

    runs = service.list_runs(limit=5)["runs"]
    task_run = next(t for r in runs for t in service.get_run(r["run_id"]).get("tasks", [])
                    if t["task_key"] == "create_feature_tables")
    output = service.get_run_output(task_run["run_id"])
    result = json.loads(output["notebook_output"]["result"])
    assert result["tables_built"] == 2 and result["tables"]["security_features"]["status"] == "SKIPPED"
