"""The repository's Health Monitor bundle: structure, notebooks, and validation and deploy checks by the engine."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

EXPECTED_JOBS = {
    "ml_feature_pipeline_job", "ml_training_pipeline_job", "ml_inference_pipeline_job",
    "ml_feature_setup_job", "ml_training_setup_job", "ml_inference_setup_job",
    "ml_orchestrator_job", "ml_layer_setup_orchestrator", "ml_layer_inference_orchestrator",
}


def _expected_training() -> dict[str, tuple[str, str]]:
    """task key -> (notebook path, model) of every model spec (the model list lives in the specs;
    tests/ml_models/test_model_specs.py pins the documented 25 there)."""
    from healthmon.ml.models import MODELS

    return {s.task_key: (f"../../src/ml/{s.notebook}.py", s.name) for s in MODELS.values()}


def _raw_jobs() -> dict[str, dict]:
    jobs = {}
    for path in sorted((REPO / "resources/ml").glob("*.yml")):
        for key, job in yaml.safe_load(path.read_text())["resources"]["jobs"].items():
            assert key not in jobs
            jobs[key] = job
    return jobs


def test_databricks_yml_layout():
    root = yaml.safe_load((REPO / "databricks.yml").read_text())
    assert root["bundle"]["name"] == "databricks_health_monitor"
    assert root["include"] == ["resources/ml/*.yml"]
    assert {"catalog", "gold_schema", "feature_schema"} <= set(root["variables"])
    assert root["targets"]["dev"] == {**root["targets"]["dev"], "mode": "development", "default": True}
    assert root["targets"]["prod"]["mode"] == "production"


def test_jobs_and_training_tasks_match_the_spec():
    jobs = _raw_jobs()
    assert set(jobs) == EXPECTED_JOBS
    tasks = jobs["ml_training_pipeline_job"]["tasks"]
    expected = _expected_training()
    assert len(tasks) == len(expected)
    got = {t["task_key"]: t["notebook_task"]["notebook_path"] for t in tasks}
    assert got == {k: v[0] for k, v in expected.items()}
    assert all("depends_on" not in t for t in tasks), "training tasks must run in parallel"
    for t in tasks:
        assert t["notebook_task"]["base_parameters"] == {
            "catalog": "${var.catalog}", "gold_schema": "${var.gold_schema}", "feature_schema": "${var.feature_schema}"}
    inference = jobs["ml_inference_pipeline_job"]["tasks"][0]
    assert inference["max_retries"] >= 1 and inference["min_retry_interval_millis"] > 0
    orch = jobs["ml_orchestrator_job"]
    assert orch["schedule"] == {"quartz_cron_expression": "0 0 3 ? * SUN",
                                "timezone_id": "America/Los_Angeles", "pause_status": "PAUSED"}
    order = [(t["task_key"], t["run_job_task"]["job_id"], [d["task_key"] for d in t.get("depends_on", [])])
             for t in orch["tasks"]]
    assert [o[1] for o in order] == [
        "${resources.jobs.ml_feature_pipeline_job.id}", "${resources.jobs.ml_training_pipeline_job.id}",
        "${resources.jobs.ml_inference_pipeline_job.id}"]
    assert order[1][2] == [order[0][0]] and order[2][2] == [order[1][0]]


def test_every_notebook_in_exactly_one_atomic_job_and_thin():
    jobs = _raw_jobs()
    seen: dict[str, str] = {}
    for key, job in jobs.items():
        kinds = {("notebook" if "notebook_task" in t else "run_job" if "run_job_task" in t else "other") for t in job["tasks"]}
        assert kinds in ({"notebook"}, {"run_job"}), f"{key} mixes task kinds {kinds}"
        assert job["tags"]["job_level"] == ("atomic" if kinds == {"notebook"} else job["tags"]["job_level"])
        for t in job["tasks"]:
            if "notebook_task" in t:
                nb = t["notebook_task"]["notebook_path"]
                assert nb not in seen, f"{nb} in {seen[nb]} and {key}"
                seen[nb] = key
    on_disk = {f"../../{p.relative_to(REPO)}" for p in (REPO / "src/ml").rglob("*.py")}
    assert set(seen) == on_disk, "every notebook file is used by exactly one task"
    training = {v[0]: v[1] for v in _expected_training().values()}
    for nb in seen:
        source = (REPO / "resources/ml" / nb).resolve().read_text()
        assert source.startswith("# Databricks notebook source\n")
        assert "# COMMAND ----------" in source
        widgets = set(re.findall(r'dbutils\.widgets\.get\("(\w+)"\)', source))
        # the alerts task also reads its rules file (bundle variable alert_rules)
        assert widgets == {"catalog", "gold_schema", "feature_schema"} | ({"alert_rules"} if "/alerts/" in nb else set())
        assert "dbutils.notebook.exit(json.dumps(result" in source
        assert "except" not in source, "failures must raise, not be swallowed"
        code = "\n".join(l for l in source.splitlines() if not l.startswith("# MAGIC"))
        ast.parse(code)
        if nb in training:
            assert f'train_model(\n    "{training[nb]}",' in source


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_bundle_engine_validates_with_no_diagnostics(target):
    if importlib.util.find_spec("healthmon.bundle.loader") is None:
        pytest.skip("bundle engine not there yet")
    from healthmon.bundle import load_bundle
    from healthmon.bundle.loader import deploy_checks

    bundle = load_bundle(REPO, target, strict=True)
    assert [d for d in bundle.diagnostics] == []
    # healthmon's own checks (widgets passed, task graph, schedules, atomic jobs), run by deploy
    assert [d for d in deploy_checks(bundle)] == []
    jobs = bundle.config["resources"]["jobs"]
    assert set(jobs) == EXPECTED_JOBS
    params = jobs["ml_feature_pipeline_job"]["tasks"][0]["notebook_task"]["base_parameters"]
    assert params == {"catalog": f"{target}_catalog", "gold_schema": "gold",
                      "feature_schema": "dev_gold_ml" if target == "dev" else "gold_ml"}


def test_cli_validate_exits_zero():
    if importlib.util.find_spec("healthmon.cli.bundle") is None:
        pytest.skip("healthmon bundle CLI not there yet")
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "healthmon.cli.main", "bundle", "validate", "-t", "dev"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
