"""Bring your own account, end to end: an export without information_schema is imported and the
whole Health Monitor bundle runs on it. The quality domain has no data, so its feature table
is skipped with the reason and its three models end SKIPPED; every other domain trains and
scores, and the orchestrator run ends SUCCESS (Databricks' result_state for a run whose tasks
all succeeded)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QUALITY_MODELS = {"data_drift_detector", "data_freshness_predictor", "schema_change_predictor"}


def _hm(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "healthmon.cli.main", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_import_without_information_schema_runs_the_orchestrator_to_success(tmp_path):
    from healthmon.demodata import generate
    from healthmon.demodata.exporter import export_catalog
    from healthmon.jobs import service

    generate("src_account", "gold", workspaces=3, days=60, seed=5, scale="small")
    export = tmp_path / "export"
    written, _ = export_catalog("src_account", "gold", export, "parquet")
    for name in written:
        if name.startswith("system.information_schema."):
            for f in (export / name).iterdir():
                f.unlink()
            (export / name).rmdir()

    # without --allow-missing the import refuses (non-zero exit) and names what is missing
    refused = _hm("import", "system-tables", "--from", str(export), "--catalog", "dev_catalog")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "system.information_schema.tables" in refused.stderr and "Traceback" not in refused.stderr
    imported = _hm("import", "system-tables", "--from", str(export), "--catalog", "dev_catalog",
                   "--allow-missing", "information_schema.tables,information_schema.columns",
                   "--allow-missing", "information_schema.table_constraints", "-o", "json")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    lines = {t["table"]: t for t in json.loads(imported.stdout)["tables"]}
    assert lines["fact_table_snapshots"]["status"] == "MISSING" and lines["fact_usage"]["status"] == "CREATED"

    deployed = _hm("bundle", "deploy", "-t", "dev")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    run = _hm("bundle", "run", "-t", "dev", "ml_orchestrator_job", timeout=1400)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    runs = service.list_runs(limit=200)["runs"]
    orchestrator = next(r for r in runs if "Orchestrator" in r.get("run_name", ""))
    assert orchestrator["state"]["result_state"] == "SUCCESS"

    outputs = {}
    for r in runs:
        for task in service.get_run(r["run_id"]).get("tasks", []):
            if task.get("state", {}).get("result_state") and "notebook_task" in task:
                result = (service.get_run_output(task["run_id"]).get("notebook_output") or {}).get("result")
                if result:
                    outputs[task["task_key"]] = json.loads(result)
    features = outputs["create_feature_tables"]
    assert set(features["skipped"]) == {"quality_features"}
    assert "fact_table_snapshots does not exist" in features["skipped"]["quality_features"]
    trained = {o["model_name"]: o for key, o in outputs.items() if key.startswith("train_")}
    skipped = {n for n, o in trained.items() if o["status"] == "SKIPPED"}
    assert QUALITY_MODELS <= skipped
    for name in QUALITY_MODELS:
        assert "fact_table_snapshots does not exist" in trained[name]["reason"], trained[name]
    # The other domains have their data: no model fails, and none is skipped for the missing
    # quality tables (a small account may still leave a model with one class: SKIPPED, saying so).
    others = {n: o for n, o in trained.items() if n not in QUALITY_MODELS}
    assert all(o["status"] in ("SUCCESS", "SKIPPED") for o in others.values()), others
    assert not any("fact_table_snapshots" in (o.get("reason") or "") for o in others.values()), others
    # Every other skip is a count below what the model needs (3 workspaces x 12 validation days
    # hold fewer user-days than the security detectors' false-alarm budget needs), said so.
    succeeded = sum(o["status"] == "SUCCESS" for o in others.values())
    status = {n: (o["status"], o.get("reason")) for n, o in others.items()}
    assert all(o["status"] == "SUCCESS" or o["reason"].startswith("not enough data:") for o in others.values()), status
    assert succeeded >= len(others) // 2, status
    scored = outputs["batch_inference_all_models"]
    assert scored["failed"] == 0 and scored["successful"] == succeeded


@pytest.mark.slow
def test_a_single_information_schema_snapshot_skips_the_quality_models_with_the_reason(generated, tmp_path):
    """One export = one snapshot day: too little history to learn from, so the three quality
    models end SKIPPED saying why (not FAILED)."""
    from healthmon.demodata.exporter import export_gold
    from healthmon.demodata.importer import import_system_tables
    from healthmon.ml.features import create_feature_tables
    from healthmon.ml.training import train_model

    export_gold(generated["arrow"], tmp_path / "export", "parquet")
    import_system_tables(tmp_path / "export", "one_snapshot")
    built = create_feature_tables("one_snapshot", "gold", "ml", tables=["quality_features"])
    assert built["status"] == "SUCCESS"
    for name in QUALITY_MODELS:
        result = train_model(name, catalog="one_snapshot", gold_schema="gold", feature_schema="ml")
        assert result["status"] == "SKIPPED" and "training rows" in result["reason"], result
