"""The forecasters' MAPE-optimal level: the ``entity_median`` baseline (an entity's 1/y-weighted
median of the labels known at d), its ``hist_<target>_median`` feature column, and the
``RelativeRegressor`` inputs measured against a reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthmon.ml.features.label_history import history_column, label_history
from healthmon.ml.models import MODELS, baselines as bl, frames as fr
from healthmon.ml.models.estimators import relative_gradient_boosting
from healthmon.ml.models.metrics import mape
from tests.ml_models.synthetic_features import feature_frame

FORECASTERS = [s for s in MODELS.values() if s.kind == "regression"]


def _best_constant(y: np.ndarray) -> float:
    """Brute force: the candidate constant (one of the labels) with the least MAPE."""
    y = y[y > 0]
    return float(min(y, key=lambda c: np.mean(np.abs(y - c) / y)))


def test_mape_optimal_level_is_the_constant_with_the_least_mape_over_every_prefix():
    rng = np.random.default_rng(3)
    y = np.concatenate([rng.lognormal(3, 0.8, 40), [0.0, 0.0]])
    rng.shuffle(y)
    levels = bl.mape_optimal_levels(y)
    for k in range(len(y)):
        prefix = y[: k + 1]
        if not (prefix > 0).any():
            assert np.isnan(levels[k])
            continue
        best = _best_constant(prefix)
        positive = prefix[prefix > 0]
        assert mape(positive, np.full(len(positive), levels[k]), floor_fraction=0.0) == pytest.approx(
            mape(positive, np.full(len(positive), best), floor_fraction=0.0))


def test_a_spike_moves_the_mean_but_not_the_mape_optimal_level():
    y = np.array([100.0] * 9 + [5000.0])
    assert bl.mape_optimal_levels(y)[-1] == 100.0
    assert np.mean(y) > 500


@pytest.mark.parametrize("spec", FORECASTERS, ids=lambda s: s.name)
def test_every_forecaster_has_the_entity_median_baseline_and_its_servable_twin_where_it_reads_history(spec):
    names = {b.name for b in spec.baselines}
    assert "entity_median" in names
    if spec.features is not None and not any(c.startswith("hist_") for c in spec.features):
        assert "entity_median_feature" not in names  # an explicit list without its history: not servable
        return
    features = spec.select_features(
        [*(spec.features or ()), *(history_column(spec.target.name, s) for s in ("mean", "last", "count", "median"))])
    served = {b.name for b in bl.servable(spec.baselines, features)}
    assert "entity_median_feature" in served, spec.name


def test_median_column_is_the_entity_median_baseline_and_knows_only_resolved_labels():
    spec = MODELS["job_duration_forecaster"]
    frame = feature_frame(spec.feature_table, seed=4)
    labels = fr.derive_labels(spec, frame).to_numpy(float)
    column = label_history(frame, spec)[history_column(spec.target.name, "median")].to_numpy()
    periods = np.where(pd.to_datetime(frame[spec.date_key]) < pd.Timestamp("2025-03-01"), "train", "validation")
    baseline = bl.EntityHistory("entity_median", "median").fit(bl.Context(spec, frame, labels, periods, []))
    scored = baseline.score(frame)
    dates = pd.to_datetime(frame[spec.date_key])
    horizon = pd.Timedelta(days=spec.target.horizon_days)
    row = frame.index[(dates == dates.min() + pd.Timedelta(days=60)).to_numpy()][0]
    same = (frame[spec.entity_key] == frame.loc[row, spec.entity_key]).to_numpy()
    resolved = same & ((dates + horizon) <= dates[row]).to_numpy() & ~np.isnan(labels)
    assert column[row] == scored[row] == pytest.approx(bl.mape_optimal_levels(labels[resolved])[-1])


def test_a_binary_model_gets_no_median_column():
    spec = MODELS["job_failure_predictor"]
    hist = label_history(feature_frame(spec.feature_table, seed=1), spec)
    assert history_column(spec.target.name, "median") not in hist.columns and len(hist.columns) == 3


def test_relative_inputs_let_the_trees_see_how_far_the_recent_level_is_from_the_reference():
    """y = recent^0.7 · level^0.3 with levels over three orders of magnitude: relative to the
    level, the forecast depends only on log(recent / level), a quantity a tree can split on only
    when it is given as an input."""
    rng = np.random.default_rng(0)
    n = 3000
    level = 10 ** rng.uniform(0, 3, n)
    recent = level * rng.lognormal(0, 0.5, n)
    y = recent**0.7 * level**0.3 * rng.lognormal(0, 0.05, n)
    X = np.column_stack([level, recent])
    cols = ("level", "recent")
    plain = relative_gradient_boosting(cols, (1.0, ("level",), ())).fit(X[:2000], y[:2000])
    relative = relative_gradient_boosting(cols, (1.0, ("level",), ()), relative_inputs=("recent",)).fit(
        X[:2000], y[:2000])
    plain_mape, relative_mape = (mape(y[2000:], m.predict(X[2000:])) for m in (plain, relative))
    assert relative_mape < 0.5 * plain_mape
    assert relative_mape < mape(y[2000:], level[2000:])


def test_a_relative_regressor_pickled_before_relative_inputs_still_predicts():
    X = np.column_stack([np.linspace(1, 100, 200), np.linspace(2, 90, 200)])
    model = relative_gradient_boosting(("a", "b"), (1.0, ("a",), ()), n_estimators=5).fit(X, X[:, 1])
    del model.__dict__["relative_inputs"]  # what unpickling an older version gives
    assert np.isfinite(model.predict(X)).all()
