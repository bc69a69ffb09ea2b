"""Cost, performance and quality detectors: their derived inputs, that every input they name is a
column of their feature table, and that a surge of their evidence is flagged over a threshold set
on ordinary validation rows."""

from __future__ import annotations

import numpy as np
import pytest

from healthmon.ml.features import FEATURE_TABLES
from healthmon.ml.models import MODELS
from healthmon.ml.models import estimators as est

DETECTORS = ("cost_anomaly_detector", "performance_regression_detector", "data_drift_detector")


def _derive(derived, columns, X):
    return est.DerivedFeatures(columns=columns, derived=derived).fit(X).transform(X)


def test_log_surge_is_one_sided_around_the_usual_ratio():
    X = np.array([[0.0], [0.4], [1.0], [10.0]])
    out = _derive((("log_surge", "r"),), ("r",), X)[:, 0]
    assert list(out[:3]) == [0.0, 0.0, 0.0]  # no baseline, cheaper than usual, usual
    assert out[3] == pytest.approx(np.log(10.0))


def test_sum_adds_shares_and_ignores_negative_values():
    X = np.array([[0.2, 0.1], [-0.5, 0.3], [0.0, 0.0]])
    out = _derive((("sum", "a", "b"),), ("a", "b"), X)[:, 0]
    assert out == pytest.approx([0.3, 0.3, 0.0])


@pytest.mark.parametrize("name", DETECTORS)
def test_detector_inputs_are_columns_of_its_feature_table(name):
    spec = MODELS[name]
    features = set(FEATURE_TABLES[spec.feature_table].features)
    assert spec.features and set(spec.features) <= features
    model = spec.factory(spec.features)
    derive = model.steps[0][1] if len(model.steps) > 1 else None
    used = set(derive.keep) | {c for op in derive.derived for c in op[1:]} if derive else set(spec.features)
    assert used <= set(spec.features)


def _fit_and_flag(name, ordinary, surge):
    spec = MODELS[name]
    model = spec.factory(spec.features)
    rng = np.random.default_rng(1)
    train = ordinary(rng, 600)
    validation = ordinary(rng, 400)
    model.fit(train)
    est.calibrate_threshold(model, validation, spec.hyperparameters["threshold_quantile"])
    flagged_ordinary = np.mean(model.predict(ordinary(rng, 400)) == -1)
    return model.predict(surge) == -1, flagged_ordinary


def test_cost_detector_flags_a_workload_surge_or_lost_tags_share():
    cols = MODELS["cost_anomaly_detector"].features
    assert cols == ("top_workload_surge_share", "lost_tags_dbu_share")

    def ordinary(rng, n):
        return np.column_stack([rng.beta(1, 30, n) * 0.5, np.zeros(n)])

    surge = np.array([[0.6, 0.0], [0.05, 0.6]])  # one job ate 60 % of the day / 60 % lost its tags
    flags, rate = _fit_and_flag("cost_anomaly_detector", ordinary, surge)
    assert flags.all()
    assert rate < 0.03


def test_performance_detector_flags_a_template_reading_many_times_its_history():
    cols = MODELS["performance_regression_detector"].features
    idx = {c: i for i, c in enumerate(cols)}

    def ordinary(rng, n):
        X = np.zeros((n, len(cols)))
        X[:, idx["max_template_bytes_ratio"]] = rng.lognormal(0.15, 0.15, n)
        return X

    surge = np.zeros((2, len(cols)))
    surge[:, idx["max_template_bytes_ratio"]] = [12.0, 0.3]  # 12x its usual bytes / a cheap day
    flags, rate = _fit_and_flag("performance_regression_detector", ordinary, surge)
    assert list(flags) == [True, False]
    assert rate < 0.02
