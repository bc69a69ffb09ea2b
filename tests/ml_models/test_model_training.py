"""train_model on small synthetic feature tables written with the lakehouse API: success with
registration and Champion, Champion kept when the new version is worse, skips and failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthmon.errors import HealthmonError
from healthmon.ml.models import MODELS
from tests.ml_models.synthetic_features import feature_frame

CAT, GOLD, FEAT = "tcat", "gold", "ml"


def write_features(table: str, frame: pd.DataFrame) -> str:
    from healthmon.lakehouse import Lakehouse
    from healthmon.ml.models import TABLE_KEYS

    lh = Lakehouse.from_env()
    lh.create_schema(f"{CAT}.{FEAT}")
    name = f"{CAT}.{FEAT}.{table}"
    lh.write_table(name, frame, mode="overwrite", primary_keys=list(TABLE_KEYS[table]))
    return name


def train(name: str) -> dict:
    from healthmon.ml.training import train_model

    return train_model(name, catalog=CAT, gold_schema=GOLD, feature_schema=FEAT)


def champion(name: str) -> int | None:
    from healthmon.lakehouse.registry import configure_mlflow
    from healthmon.ml.models import io

    configure_mlflow()
    mv = io.champion_version(f"{CAT}.{FEAT}.{name}")
    return None if mv is None else int(mv.version)


@pytest.mark.slow
def test_forecaster_trains_registers_and_keeps_a_better_champion(monkeypatch):
    frame = feature_frame("cost_features", entities=4, days=120, seed=1)
    write_features("cost_features", frame)
    first = train("budget_forecaster")
    assert first["status"] == "SUCCESS", first
    assert first["registered_as"] == f"{CAT}.{FEAT}.budget_forecaster" and first["version"] == 1
    assert first["champion"] and champion("budget_forecaster") == 1
    assert first["rows"]["train"] > first["rows"]["validation"] > 0
    assert first["split"]["validation_start"] < first["split"]["test_start"]
    assert {"validation_mae", "validation_baseline_mape", "test_mae"} <= set(first["metrics"])

    import mlflow

    run = mlflow.get_run(first["run_id"])
    assert run.data.tags["model_name"] == "budget_forecaster" and run.data.params["purge_gap_days"] == "1"

    # Scramble the cost of the training period only: the next version learns noise, the old
    # Champion still forecasts the (unchanged) validation period well, so the alias stays. The
    # Champion contest would ship the best rule instead of the noisy model (as good as v1 on
    # validation when v1 is that rule): the ML model is forced through to test the alias alone.
    from healthmon.ml import training

    dates = pd.to_datetime(frame["usage_date"])
    cut = pd.Timestamp(first["split"]["validation_start"])
    bad = frame.copy()
    train_rows = (dates < cut).to_numpy()
    rng = np.random.default_rng(0)
    bad.loc[train_rows, "daily_cost"] = rng.permutation(bad.loc[train_rows, "daily_cost"].to_numpy()) * rng.uniform(0.1, 10, train_rows.sum())
    write_features("cost_features", bad)
    with monkeypatch.context() as patch:
        patch.setattr(training, "choose_scorer", lambda spec, model, *a, **k: (model, spec.algorithm, {}))
        second = train("budget_forecaster")
    assert second["status"] == "SUCCESS" and second["version"] == 2
    assert not second["champion"], second["champion_reason"]
    assert champion("budget_forecaster") == 1
    assert "kept Champion v1" in second["champion_reason"]

    # Same clean data again: not worse than the Champion -> the alias moves.
    write_features("cost_features", frame)
    third = train("budget_forecaster")
    assert third["champion"] and champion("budget_forecaster") == 3


@pytest.mark.slow
def test_detector_and_classifier_train_with_their_real_algorithms():
    from healthmon.ml.models import io

    write_features("reliability_features", feature_frame("reliability_features", entities=8, days=100, seed=2))
    write_features("cost_features", feature_frame("cost_features", entities=4, days=100, seed=4))
    det = train("cost_anomaly_detector")
    clf = train("job_failure_predictor")
    assert det["status"] == "SUCCESS" and clf["status"] == "SUCCESS", (det, clf)
    assert 0 < det["metrics"]["train_anomaly_rate"] <= 0.1
    assert "validation_roc_auc" in clf["metrics"]
    est = io.load_estimator(f"models:/{CAT}.{FEAT}.job_failure_predictor/1")
    # The version is the XGBoost model unless a servable baseline beat it on validation (these
    # features are noise): then the baseline is registered, and its tag says so.
    import mlflow

    tag = mlflow.get_run(clf["run_id"]).data.tags["algorithm"]
    assert tag == clf["algorithm"]
    if tag == "xgboost":
        assert type(est.estimator_).__name__ == "XGBClassifier"
    else:
        assert tag.startswith("baseline:") and type(est).__name__ == "BaselineEstimator"
        assert est.predict_proba(np.zeros((2, len(est.columns)))).shape == (2, 2)
    detector = io.load_estimator(f"models:/{CAT}.{FEAT}.cost_anomaly_detector/1")
    assert type(detector).__name__ in ("CalibratedDetector", "BaselineEstimator")


def test_too_few_rows_is_a_skip_not_a_crash():
    write_features("cost_features", feature_frame("cost_features", entities=1, days=12, seed=4))
    result = train("budget_forecaster")
    assert result["status"] == "SKIPPED"
    assert "training rows" in result["reason"] and f"{CAT}.{FEAT}.cost_features" in result["reason"]
    assert champion("budget_forecaster") is None


def test_single_class_label_is_a_skip():
    frame = feature_frame("quality_features", entities=5, days=80, seed=5)
    frame["schema_changes_7d"] = 0.0
    write_features("quality_features", frame)
    result = train("schema_change_predictor")
    assert result["status"] == "SKIPPED"
    assert "single class" in result["reason"]


def test_missing_feature_column_fails_naming_model_table_and_column():
    frame = feature_frame("performance_features", entities=3, days=60, seed=6).drop(columns=["max_template_bytes_ratio"])
    write_features("performance_features", frame)
    with pytest.raises(HealthmonError) as err:
        train("performance_regression_detector")
    msg = str(err.value)
    assert "performance_regression_detector" in msg and f"{CAT}.{FEAT}.performance_features" in msg and "max_template_bytes_ratio" in msg


def test_missing_table_fails_naming_it():
    with pytest.raises(HealthmonError) as err:
        train("job_duration_forecaster")
    assert "job_duration_forecaster" in str(err.value) and f"{CAT}.{FEAT}.reliability_features" in str(err.value)


def test_nan_and_inf_features_are_cleaned_before_fitting():
    from healthmon.ml.training import matrix

    frame = pd.DataFrame({"a": [1.0, np.nan, np.inf], "b": [-np.inf, 2.0, 3.0]})
    X = matrix(frame, ["a", "b"])
    assert np.isfinite(X).all() and X[1, 0] == 0 and X[0, 1] == 0


def test_every_supervised_model_prepares_labels_from_synthetic_tables():
    from healthmon.ml.training import Skip, prepare

    ok = 0
    for spec in MODELS.values():
        # Detectors are unsupervised, and 4 entities x 18 validation days are too few for most of
        # their false-alarm budgets (tests/ml_robust).
        if spec.custom or spec.enrich is not None or spec.kind == "anomaly":
            continue
        frame = feature_frame(spec.feature_table, entities=4, days=90, seed=8)
        try:
            data = prepare(spec, frame, spec.feature_table)
        except Skip:
            continue
        ok += 1
        if data["y"] is not None:
            assert len(data["y"]) == len(data["rows"]) and not np.isnan(data["y"]).any()
    assert ok >= 11


def test_a_skip_is_recorded_for_evaluation():
    from healthmon.ml.training import last_skip_reason

    frame = feature_frame("quality_features", entities=5, days=80, seed=5)
    frame["schema_changes_7d"] = 0.0
    write_features("quality_features", frame)
    result = train("schema_change_predictor")
    assert result["status"] == "SKIPPED"
    assert last_skip_reason("schema_change_predictor") == result["reason"]
    assert last_skip_reason("job_failure_predictor") is None
