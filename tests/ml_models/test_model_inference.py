"""Batch inference: Champion models scored through the feature store; re-running the same day
replaces that day's rows, another day adds rows (history); failures raise naming the model."""

from __future__ import annotations

import datetime as dt

import pytest

from healthmon.errors import HealthmonError
from tests.ml_models.synthetic_features import feature_frame
from tests.ml_models.test_model_training import CAT, FEAT, GOLD, train, write_features

DAY1 = dt.datetime(2026, 3, 2, 4, 0, tzinfo=dt.timezone.utc)


def infer(models, now):
    from healthmon.ml.inference import batch_inference_all_models

    return batch_inference_all_models(catalog=CAT, gold_schema=GOLD, feature_schema=FEAT, models=models, now=now)


def read(table):
    from healthmon.lakehouse import Lakehouse

    return Lakehouse.from_env().read_table(f"{CAT}.{FEAT}.{table}").to_pandas()


@pytest.mark.slow
def test_same_day_rerun_replaces_rows_and_history_is_kept():
    write_features("cost_features", feature_frame("cost_features", entities=3, days=100, seed=11))
    assert train("cost_anomaly_detector")["status"] == "SUCCESS"

    first = infer(["cost_anomaly_detector", "budget_forecaster"], DAY1)
    assert first["models"]["cost_anomaly_detector"]["status"] == "SUCCESS"
    # budget_forecaster was never trained: reported, not fatal.
    assert first["models"]["budget_forecaster"]["status"] == "NOT_FOUND" and first["not_found"] == 1
    rows = read("cost_anomaly_predictions")
    n = first["models"]["cost_anomaly_detector"]["records"]
    assert len(rows) == n == 3 * 90  # the last 90 days of 3 workspaces
    assert {"workspace_id", "usage_date", "prediction", "anomaly_score", "is_anomaly", "model_name",
            "model_version", "run_id", "scored_at", "scored_date"} <= set(rows.columns)
    assert set(rows["prediction"]) <= {-1.0, 1.0}
    assert (rows["is_anomaly"] == (rows["prediction"] == -1)).all()
    assert (rows["model_version"] == 1).all() and rows["run_id"].nunique() == 1

    again = infer(["cost_anomaly_detector"], DAY1 + dt.timedelta(hours=5))
    rows2 = read("cost_anomaly_predictions")
    assert len(rows2) == n, "same-day re-run must replace, not duplicate"
    assert rows2["scored_at"].min() > rows["scored_at"].max()
    assert again["total_records"] == n

    infer(["cost_anomaly_detector"], DAY1 + dt.timedelta(days=1))
    rows3 = read("cost_anomaly_predictions")
    assert len(rows3) == 2 * n
    assert sorted(rows3["scored_date"].astype(str).unique()) == ["2026-03-02", "2026-03-03"]


@pytest.mark.slow
def test_a_failing_model_raises_naming_it_after_scoring_the_others():
    from healthmon.lakehouse import Lakehouse

    write_features("cost_features", feature_frame("cost_features", entities=2, days=90, seed=12))
    write_features("quality_features", feature_frame("quality_features", entities=3, days=90, seed=13))
    assert train("cost_anomaly_detector")["status"] == "SUCCESS"
    assert train("data_drift_detector")["status"] == "SUCCESS"
    Lakehouse.from_env().drop_table(f"{CAT}.{FEAT}.quality_features")
    with pytest.raises(HealthmonError) as err:
        infer(["cost_anomaly_detector", "data_drift_detector"], DAY1)
    assert "data_drift_detector" in str(err.value) and "data_drift_predictions" in str(err.value)
    assert len(read("cost_anomaly_predictions")) > 0  # the healthy model was still scored
