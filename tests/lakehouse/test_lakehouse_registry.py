"""MLflow on the workspace store: URIs, artifact location, three-level names, aliases, and
concurrent training processes."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from healthmon.errors import InvalidParameterError
from healthmon.lakehouse import registry
from healthmon.lakehouse.registry_stress import run_round
from healthmon.settings import Settings


def test_configure_points_tracking_and_registry_at_workspace(mlflow_home):
    uri = registry.configure_mlflow()
    settings = Settings.from_env()
    assert uri == settings.mlflow_tracking_uri == mlflow.get_tracking_uri() == mlflow.get_registry_uri()
    assert str(mlflow_home) in uri


def test_runs_and_artifacts_stay_in_the_workspace(mlflow_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow's own default would be ./mlruns here
    registry.configure_mlflow()
    exp_id = registry.set_experiment("/Users/tester@example.com/exp")
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_params({"alpha": 0.5})
        mlflow.log_metric("rmse", 1.25)
        mlflow.set_tag("team", "ml")
        mlflow.log_text("hello", "notes.txt")
    got = MlflowClient().get_run(run.info.run_id)
    assert got.data.params == {"alpha": "0.5"} and got.data.metrics == {"rmse": 1.25} and got.data.tags["team"] == "ml"
    artifact_dir = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="notes.txt")).parent
    assert (Settings.from_env().mlflow_artifact_root / exp_id / run.info.run_id / "artifacts" / "notes.txt").exists()
    assert not (tmp_path / "mlruns").exists()


def test_three_level_model_names_versions_and_aliases(mlflow_home):
    registry.configure_mlflow()
    with mlflow.start_run() as run:
        mlflow.log_text("m", "model/MLmodel")
    uri = f"runs:/{run.info.run_id}/model"
    v1 = registry.register_model(uri, "ml.models.cost_anomaly")
    v2 = registry.register_model(uri, "ML.Models.Cost_Anomaly")  # UC names are case-insensitive
    assert (v1.name, int(v1.version), int(v2.version)) == ("ml.models.cost_anomaly", 1, 2)
    registry.set_alias("ml.models.cost_anomaly", "Champion", 1)
    registry.set_alias("ml.models.cost_anomaly", "Challenger", 2)
    assert int(registry.get_version_by_alias("ml.models.cost_anomaly", "Champion").version) == 1
    assert int(MlflowClient().get_model_version_by_alias("ml.models.cost_anomaly", "Challenger").version) == 2
    for bad in ("cost_anomaly", "ml.cost_anomaly", "ml.models.cost-anomaly", "ml.models.x;drop"):
        with pytest.raises(InvalidParameterError):
            registry.model_name(bad)


def test_registry_write_retries_lock_errors_only():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert registry.registry_write(flaky) == "ok" and len(calls) == 3
    with pytest.raises(ValueError):
        registry.registry_write(lambda: (_ for _ in ()).throw(ValueError("other")))


@pytest.mark.slow
def test_concurrent_training_processes_never_hit_database_is_locked(mlflow_home):
    # CI size: 4 processes at once, each logging a run with a model and registering a version
    # of the same model. benchmarks/bench_lakehouse.py runs 20 rounds of 25.
    result = run_round(4, env=dict(os.environ))
    assert result["failures"] == 0, result["errors"]
    assert result["lock_failures"] == 0
    assert result["distinct_versions"] == 4
    versions = MlflowClient(tracking_uri=registry.configure_mlflow()).search_model_versions("name='stress.models.classifier'")
    assert len(versions) == 4
