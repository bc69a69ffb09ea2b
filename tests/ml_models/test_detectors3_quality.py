"""The data drift detector (second design): one evidence score per catalog-day, the columns touched
by the largest breaking schema change plus the days a daily table has gone unwritten while a daily
job of the workspace has had no run at all. Paused writers and multi-column breaks are flagged;
ordinary days (including a failing writer, whose idle-writer input stays 0) are not."""

from __future__ import annotations

import numpy as np

from healthmon.ml.models import MODELS
from healthmon.ml.models import estimators as est


def _ordinary(rng, n):
    # ~2 % of catalog-days see one dropped or retyped column (routine evolution); writers never idle
    broken = np.where(rng.random(n) < 0.02, 1.0, 0.0)
    return np.column_stack([broken, np.zeros(n)])


def _fitted():
    spec = MODELS["data_drift_detector"]
    assert spec.features == ("max_broken_table_changes_1d", "stale_days_with_idle_writer")
    model = spec.factory(spec.features)
    rng = np.random.default_rng(3)
    model.fit(_ordinary(rng, 2000))
    est.calibrate_threshold(model, _ordinary(rng, 700), spec.hyperparameters["threshold_quantile"])
    return model, rng


def test_paused_writer_and_multi_column_break_are_flagged_quiet_days_are_not():
    model, rng = _fitted()
    cases = np.array([
        [0.0, 0.0],  # quiet day, or a failing writer (it still has runs: no idle writer)
        [0.0, 1.0],  # first day of a paused writer
        [0.0, 3.0],  # third day
        [4.0, 0.0],  # 3 columns dropped + 1 retyped on one table
    ])
    assert list(model.predict(cases) == -1) == [False, True, True, True]
    ordinary = _ordinary(rng, 1000)
    flagged = model.predict(ordinary) == -1
    assert not flagged[ordinary[:, 0] == 0].any()  # a quiet day is never an event


def test_idle_writer_evidence_counts_even_though_it_never_varies_in_training():
    """Paused writers are rare enough to be absent from training; a forest fitted on the idle
    column alone could not isolate them. Summed with the schema evidence it can."""
    model, _ = _fitted()
    derive = model.steps[0][1]
    out = derive.transform(np.array([[1.0, 2.0], [0.0, 0.0]]))
    assert out.shape == (2, 1) and list(out[:, 0]) == [3.0, 0.0]
    scores = est.anomaly_scores(model, np.array([[0.0, 0.0], [0.0, 2.0]]))
    assert scores[1] > scores[0]
