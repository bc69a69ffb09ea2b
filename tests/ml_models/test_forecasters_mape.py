"""The MAPE definition used for every forecaster: rows with a near-zero actual are left out,
identically for the model and its baseline."""

from __future__ import annotations

import math

import numpy as np

from healthmon.ml.models.metrics import MAPE_FLOOR_FRACTION, mae, mape, mape_rows


def test_a_near_zero_actual_does_not_dominate_mape():
    actual = np.array([300.0, 280.0, 320.0, 0.12])  # the last: an incomplete final day
    good = np.array([303.0, 277.2, 316.8, 290.0])
    # 1 % error on the real days; the partial day alone would add ~240,000 %
    assert math.isclose(mape(actual, good), 1.0, rel_tol=1e-9)
    # MAE still counts every row
    assert mae(actual, good) > 70


def test_floor_depends_on_actuals_only_so_model_and_baseline_share_rows():
    rng = np.random.default_rng(0)
    actual = np.concatenate([rng.uniform(50, 150, 200), [0.0, 0.05, 0.4]])
    keep = mape_rows(actual)
    assert keep.sum() == 200
    floor = MAPE_FLOOR_FRACTION * np.mean(np.abs(actual))
    assert (actual[keep] >= floor).all() and (actual[~keep] < floor).all()
    model, baseline = actual * 1.1, actual * 0.7
    assert math.isclose(mape(actual, model), 10.0, rel_tol=1e-9)
    assert math.isclose(mape(actual, baseline), 30.0, rel_tol=1e-9)


def test_floor_can_be_switched_off_and_all_zero_actuals_give_nan():
    actual = np.array([100.0, 0.5])
    pred = np.array([100.0, 1.0])
    assert math.isclose(mape(actual, pred), 0.0, abs_tol=1e-12)
    assert math.isclose(mape(actual, pred, floor_fraction=0.0), 50.0, rel_tol=1e-9)
    assert math.isnan(mape([0.0, 0.0], [1.0, 2.0]))
