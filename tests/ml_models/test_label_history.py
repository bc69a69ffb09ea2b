"""The label-history feature columns (healthmon.ml.features.label_history) know only the past,
reach only their own model, and the servable baselines built on them can be shipped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from healthmon.ml.features.label_history import append_label_history, history_column, history_specs, label_history
from healthmon.ml.models import MODELS
from healthmon.ml.models import baselines as bl
from healthmon.ml.models.baseline_estimator import MULTICLASS_CONFIDENCE, BaselineEstimator
from healthmon.ml.models import frames as fr
from healthmon.ml.models.estimators import ReferenceClassifier, xgb_reference_classifier
from tests.ml_models.synthetic_features import feature_frame

WITH_HISTORY = [s for t in ("cost_features", "performance_features", "reliability_features", "quality_features")
                for s in history_specs(t)]


def test_every_supervised_model_without_gold_labels_has_a_history():
    names = {s.name for s in WITH_HISTORY}
    expected = {n for n, s in MODELS.items() if s.target is not None and not s.custom and s.enrich is None}
    assert names == expected and "job_failure_predictor" in names


@pytest.mark.parametrize("spec", WITH_HISTORY, ids=lambda s: s.name)
def test_history_at_d_is_computed_from_rows_dated_up_to_d_only(spec):
    """The table cut at d gives the same history for the rows dated d: no label whose window
    is still open at d (and no later row) enters it."""
    frame = feature_frame(spec.feature_table, seed=5)
    dates = pd.to_datetime(frame[spec.date_key])
    d0 = dates.min() + pd.Timedelta(days=70)
    full = label_history(frame, spec)
    cut = frame[dates <= d0]
    part = label_history(cut, spec)
    at = (dates == d0).to_numpy()
    pd.testing.assert_frame_equal(full[at], part.loc[full.index[at]])
    assert (full[history_column(spec.target.name, "count")][at] > 0).all(), "the synthetic frame must give a history"


def test_history_is_the_entity_label_rate_of_resolved_labels():
    spec = MODELS["job_failure_predictor"]
    frame = feature_frame(spec.feature_table, seed=2)
    labels = fr.derive_labels(spec, frame).to_numpy(float)
    hist = label_history(frame, spec)
    dates = pd.to_datetime(frame[spec.date_key])
    horizon = pd.Timedelta(days=spec.target.horizon_days)
    row = frame.index[(dates == dates.min() + pd.Timedelta(days=50)).to_numpy()][0]
    same = (frame[spec.entity_key] == frame.loc[row, spec.entity_key]).to_numpy()
    resolved = same & ((dates + horizon) <= dates[row]).to_numpy() & ~np.isnan(labels)
    assert hist.loc[row, history_column(spec.target.name, "count")] == resolved.sum()
    assert hist.loc[row, history_column(spec.target.name, "mean")] == pytest.approx(labels[resolved].mean())
    last = np.flatnonzero(resolved)[np.argmax(dates[resolved].to_numpy())]
    assert hist.loc[row, history_column(spec.target.name, "last")] == labels[last]


def test_append_adds_the_columns_of_each_model_of_the_table_and_models_see_only_their_own():
    frame = feature_frame("reliability_features", seed=1)
    data = append_label_history(pa.Table.from_pandas(frame, preserve_index=False), "reliability_features")
    added = [c for c in data.column_names if c.startswith("hist_")]
    specs = history_specs("reliability_features")
    assert len(added) == sum(4 if s.kind == "regression" else 3 for s in specs)  # forecasters: + _median
    numeric = [c for c in data.column_names if c not in MODELS["job_failure_predictor"].keys]
    own = [c for c in MODELS["job_failure_predictor"].select_features(data.column_names, numeric) if c.startswith("hist_")]
    assert sorted(own) == sorted(history_column("fails_next_run_day", s) for s in ("mean", "last", "count"))


def test_history_baselines_are_servable_for_every_model_that_reads_its_history():
    for spec in WITH_HISTORY:
        features = spec.select_features(
            list(spec.features or ()) + [history_column(spec.target.name, s) for s in ("mean", "last", "count")])
        served = [b for b in bl.servable(spec.baselines, features) if b.name.endswith("_feature")]
        assert served or spec.features is not None, spec.name


def test_multiclass_baseline_estimator_puts_its_confidence_on_the_last_label():
    est = BaselineEstimator(bl.ReferenceInput("last_label_feature", "last"), ["last"], "multiclass", (0, 1, 2)).fit(
        np.array([[0.0], [1.0]]))
    proba = est.predict_proba(np.array([[2.0], [0.0], [np.nan]]))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(est.predict(np.array([[2.0], [0.0]]))) == [2, 0]
    assert proba[0, 2] == pytest.approx(MULTICLASS_CONFIDENCE)
    np.testing.assert_allclose(proba[2], 1 / 3)


def test_reference_classifier_starts_from_the_shrunk_entity_rate():
    """With a negligible booster the probability is the entity's rate shrunk towards the
    training rate; with real trees it learns a correction where a feature adds to the rate."""
    rng = np.random.default_rng(0)
    n = 4000
    rate = rng.uniform(0.05, 0.6, n)
    count = rng.integers(0, 40, n).astype(float)
    signal = rng.normal(size=n)
    y = (rng.random(n) < np.clip(rate + 0.3 * (signal > 1), 0, 1)).astype(int)
    X = np.column_stack([rate, count, signal])
    cols = ("rate", "count", "signal")
    tiny = ReferenceClassifier(xgb_reference_classifier(cols, "rate", "count", n_estimators=1).estimator.set_params(
        learning_rate=1e-6), columns=cols, reference="rate", count="count", prior_weight=5.0).fit(X, y)
    expected = (rate * count + y.mean() * 5.0) / (count + 5.0)
    np.testing.assert_allclose(tiny.predict_proba(X)[:, 1], expected, atol=1e-3)
    from sklearn.metrics import roc_auc_score

    model = xgb_reference_classifier(cols, "rate", "count").fit(X, y)
    assert roc_auc_score(y, model.predict_proba(X)[:, 1]) > roc_auc_score(y, expected) + 0.03


def test_tag_recommender_ships_the_nearest_job_name_rule_when_it_is_more_accurate_on_validation():
    from healthmon.ml.models import tags

    spec = MODELS["tag_recommender"]
    features = list(spec.features)
    rows = []
    for i, (name, tag) in enumerate([("ledger ingest", "finance"), ("ledger report", "finance"), ("click stream", "web"),
                                     ("click sessions", "web"), ("ledger close", "finance"), ("click funnel", "web")]):
        rows.append({"job_id": str(i), "workspace_id": f"w{i % 3}", "job_name": name, "tag_value": tag,
                     "period": "train" if i < 4 else "validation",
                     **{f: float(i % 2) for f in features}})
    data = pd.DataFrame(rows)
    inputs = [*features, "job_name"]

    class Wrong:  # a model that always recommends the other team
        def predict(self, X):
            return np.where(X["job_name"].str.contains("ledger"), "web", "finance")

    scorer, algorithm, contest = tags._choose_scorer(spec, Wrong(), data, inputs)
    assert algorithm == "baseline:nearest_job_name"
    assert list(scorer.predict(data[inputs])) == list(data["tag_value"])
    assert contest == {"candidate_ml_validation_accuracy": 0.0, "candidate_nearest_job_name_validation_accuracy": 1.0}

    class Same:  # as accurate as the rule: the rule ships (ties go to the simple rule)
        def predict(self, X):
            return np.where(X["job_name"].str.contains("ledger"), "finance", "web")

    assert tags._choose_scorer(spec, Same(), data, inputs)[1] == "baseline:nearest_job_name"
