"""The detectors' method: per-entity calibrated features, validation-period thresholds and the
event-level scoring they are judged by."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthmon.ml.models import MODELS
from healthmon.ml.models import estimators as est
from healthmon.ml.models.metrics import event_scores


def _derive(derived, columns, X):
    return est.DerivedFeatures(columns=columns, derived=derived).fit(X).transform(X)


def test_poisson_surprise_is_calibrated_to_the_entitys_own_baseline():
    cols = ("count", "baseline")
    X = np.array([[8, 0.0], [8, 5.0], [2, 0.0], [0, 0.0], [5, 5.0], [30, 5.0]])
    s = _derive((("poisson_surprise", "count", "baseline"),), cols, X)[:, 0]
    analyst_8, admin_8, analyst_2, quiet, admin_usual, admin_30 = s
    assert analyst_8 > admin_8 > 0          # 8 grants: extraordinary for one, routine-ish for the other
    assert analyst_8 > analyst_2 > quiet    # monotone in the count
    assert quiet == pytest.approx(0.0)      # nothing happened: no surprise
    assert admin_usual < 1.0                # the usual count is unsurprising (P >= 0.1)
    assert admin_30 > admin_8 and np.isfinite(admin_30)


def test_excess_log_ratio_ignores_days_below_the_baseline():
    cols = ("value", "mean")
    X = np.array([[10.0, 100.0], [100.0, 100.0], [400.0, 100.0]])
    out = _derive((("excess_log_ratio", "value", "mean"), ("log_ratio", "value", "mean")), cols, X)
    assert out[0, 0] == 0 and out[1, 0] == 0 and out[2, 0] == pytest.approx(np.log1p(400) - np.log1p(100))
    assert out[0, 1] < 0  # the two-sided ratio would make a quiet day an outlier


def test_threshold_is_the_validation_quantile_and_predict_follows_it():
    rng = np.random.default_rng(0)
    cols = ("a", "b")
    model = est.isolation_forest(0.2, columns=cols, derived=(("log", "a"),), keep=("b",), max_samples=512)
    model.fit(rng.gamma(2.0, 1.0, size=(2000, 2)))
    validation = rng.gamma(2.0, 1.0, size=(4000, 2))
    threshold = est.calibrate_threshold(model, validation, 0.99)
    flagged = model.predict(validation) == -1
    assert flagged.mean() == pytest.approx(0.01, abs=0.004)  # not the 20 % contamination
    scores = est.anomaly_scores(model, validation)
    assert scores[flagged].min() >= threshold - 1e-12 and scores[~flagged].max() <= threshold + 1e-12
    surge = np.array([[80.0, 80.0]])
    assert model.predict(surge)[0] == -1
    assert est.calibrate_threshold(model, np.empty((0, 2)), 0.99) is None


def test_log_surge_is_one_sided_around_the_usual_ratio():
    out = _derive((("log_surge", "r"),), ("r",), np.array([[0.0], [0.4], [1.0], [10.0]]))[:, 0]
    assert list(out[:3]) == [0.0, 0.0, 0.0]  # no baseline, cheaper than usual, usual
    assert out[3] == pytest.approx(np.log(10.0))


def test_sum_adds_shares_and_ignores_negative_values():
    out = _derive((("sum", "a", "b"),), ("a", "b"), np.array([[0.2, 0.1], [-0.5, 0.3], [0.0, 0.0]]))[:, 0]
    assert out == pytest.approx([0.3, 0.3, 0.0])


def test_event_level_matching_merges_runs_and_counts_an_incident_once():
    d = pd.Timestamp("2026-09-01")
    incidents = pd.DataFrame({"entity": ["u1", "u2"], "start": [d, d + pd.Timedelta(days=10)],
                              "end": [d + pd.Timedelta(days=3), d + pd.Timedelta(days=10)]})
    flags = pd.DataFrame({
        "entity": ["u1", "u1", "u1", "u1", "u3"],
        # four consecutive flagged days of u1 during its 4-day incident: one event, not four
        "date": [d, d + pd.Timedelta(days=1), d + pd.Timedelta(days=2), d + pd.Timedelta(days=3), d],
    })
    s = event_scores(flags, incidents)
    assert (s.flagged_events, s.true_flagged_events) == (2, 1)
    assert (s.incidents, s.detected_incidents) == (2, 1)
    # precision counts flagged days: u1's four days lie on its incident, u3's day does not
    assert s.precision == pytest.approx(0.8) and s.recall == pytest.approx(0.5)
    # a flag two days after the incident ends is outside the one-day tolerance
    late = pd.DataFrame({"entity": ["u2"], "date": [d + pd.Timedelta(days=12)]})
    assert event_scores(late, incidents).true_flagged_events == 0
    next_day = pd.DataFrame({"entity": ["u2"], "date": [d + pd.Timedelta(days=11)]})
    assert event_scores(next_day, incidents).true_flagged_events == 1


def test_detector_champion_metric_accepts_any_rate_near_the_validation_target():
    from dataclasses import replace

    from healthmon.ml.training import not_worse, selection_metric

    # a detector flagged at a validation quantile (the Isolation Forest path of estimators.py)
    spec = replace(MODELS["data_drift_detector"], hyperparameters={"threshold_quantile": 0.99})
    target = 1.0 - spec.hyperparameters["threshold_quantile"]
    name, on_target, higher = selection_metric(spec, {"anomaly_rate": target * 1.4})  # ties at the quantile
    assert (name, on_target, higher) == ("anomaly_rate_error", 0.0, False)
    _, off, _ = selection_metric(spec, {"anomaly_rate": target * 5})
    assert off == pytest.approx(target * 3.5)
    assert not_worse(on_target, 0.0, higher)      # a recalibrated new version replaces an on-target one
    assert not not_worse(off, on_target, higher)  # but one flagging 5x its share does not
    _, missing, _ = selection_metric(spec, {})
    assert missing != missing  # no validation rows: NaN, never "better"
