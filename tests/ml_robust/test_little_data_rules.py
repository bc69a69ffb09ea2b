"""The rules that decide whether an account has enough data to train a model
(``training.require_enough_data``), checked on hand-made feature frames: each skip is a
``NotEnoughData`` naming the count, the table and what the model needs; a column that is all null
is no reason to fail."""

from __future__ import annotations

import numpy as np
import pytest

from healthmon.ml.models import MODELS
from healthmon.ml.training import NotEnoughData, Skip, prepare
from tests.ml_models.synthetic_features import feature_frame

TABLE = "tcat.ml.{}"


def _prepare(name: str, frame):
    spec = MODELS[name]
    return prepare(spec, frame, TABLE.format(spec.feature_table))


def test_a_detector_needs_one_budgeted_false_event_in_its_validation_period():
    # data_drift_detector: budget 1 false event per catalog per 30 days -> 30 catalog-days.
    # One catalog over 21 days has 4 validation days: one "allowed" event could flag them all.
    with pytest.raises(NotEnoughData) as err:
        _prepare("data_drift_detector", feature_frame("quality_features", entities=1, days=21, seed=1))
    e = err.value
    assert (e.have, e.need) == (4, 30)
    msg = str(e)
    assert msg.startswith("not enough data: 4 catalog_name-days in the validation period of tcat.ml.quality_features")
    assert "need 30" in msg and "false-alarm budget of 1 per catalog_name per 30 days" in msg
    # Two catalogs over 80 days: 2 x 16 validation days = 32 >= 30, it trains.
    data = _prepare("data_drift_detector", feature_frame("quality_features", entities=2, days=80, seed=1))
    assert data["counts"]["validation"] >= 30


def test_a_tighter_budget_needs_more_entity_days():
    # security detectors: 0.1 false events per user per 30 days -> 300 user-days of validation.
    few = feature_frame("security_features", entities=4, days=90, seed=2)
    with pytest.raises(NotEnoughData) as err:
        _prepare("security_threat_detector", few)
    assert err.value.need == 300 and err.value.have < 300 and "user_id-days" in str(err.value)
    many = feature_frame("security_features", entities=18, days=90, seed=2)
    assert _prepare("security_threat_detector", many)["counts"]["validation"] >= 300


def test_too_few_training_rows_name_the_count_the_table_and_the_minimum():
    with pytest.raises(NotEnoughData) as err:
        _prepare("budget_forecaster", feature_frame("cost_features", entities=1, days=30, seed=3))
    e = err.value
    assert e.need == MODELS["budget_forecaster"].min_train_rows and e.have < e.need
    assert str(e).startswith(f"not enough data: {e.have} labelled training rows in tcat.ml.cost_features before ")


def test_training_labels_of_a_single_class_are_not_enough_data():
    frame = feature_frame("reliability_features", entities=6, days=90, seed=4)
    frame["failed_runs"] = 0  # no job ever fails: the next day's failure label is always 0
    with pytest.raises(NotEnoughData) as err:
        _prepare("job_failure_predictor", frame)
    assert (err.value.have, err.value.need) == (1, 2)
    assert "a single class, 0" in str(err.value) and "tcat.ml.reliability_features" in str(err.value)


def test_not_enough_data_is_a_skip():
    # Trainers and train_model handle it as every skip: SKIPPED with the reason, never FAILED.
    assert issubclass(NotEnoughData, Skip)


def test_a_feature_column_that_is_all_null_is_cleaned_not_fatal():
    frame = feature_frame("cost_features", entities=4, days=120, seed=5)
    column = next(c for c in MODELS["budget_forecaster"].features or () if c in frame.columns)
    frame[column] = np.nan
    data = _prepare("budget_forecaster", frame)
    assert column in data["features"]
    from healthmon.ml.training import matrix

    X = matrix(data["rows"], data["features"])
    assert np.isfinite(X).all() and (X[:, data["features"].index(column)] == 0).all()


def test_a_detector_whose_signals_are_all_null_is_skipped_not_silently_blind():
    # Cleaned to 0, all-null signals gave a constant score: the detector "trained" with an
    # infinite threshold and could never flag.
    spec = MODELS["cost_anomaly_detector"]
    frame = feature_frame("cost_features", entities=4, days=120, seed=6)
    frame[list(spec.required_columns)] = np.nan
    with pytest.raises(NotEnoughData) as err:
        _prepare("cost_anomaly_detector", frame)
    assert (err.value.have, err.value.need) == (0, 1)
    assert f"finite values in its {len(spec.required_columns)} input columns (daily_dbu" in str(err.value)
    assert "every input is null" in str(err.value)
    # One signal left is enough: the detector combines what it has.
    frame["daily_dbu"] = feature_frame("cost_features", entities=4, days=120, seed=6)["daily_dbu"]
    assert _prepare("cost_anomaly_detector", frame)["counts"]["train"] > 0


def test_a_single_class_is_named_as_written_whatever_its_type():
    # A multiclass target may hold class names: the message must not assume a number.
    from healthmon.ml.training import _label_text

    assert _label_text(np.float64(1.0)) == "1" and _label_text(0) == "0"
    assert _label_text("MEDIUM") == "MEDIUM"
