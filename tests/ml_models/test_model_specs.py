"""The contract of the model specs: shape, feature selection and future-shifted targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthmon.ml.models import DOMAINS, MODELS, TABLE_KEYS
from healthmon.ml.models import frames as fr
from healthmon.ml.models.spec import NON_FEATURE_COLUMNS
from tests.ml_models.synthetic_features import feature_columns, feature_frame

SUPERVISED = [s for s in MODELS.values() if s.target is not None]

# The 25 models of ml-layer.md §3 by domain, and the notebook stems / task keys it names
# irregularly; every other model's are train_<model>. The names are the point here: every other
# test reads the model list from the specs.
DOCUMENTED = {
    "cost": ["cost_anomaly_detector", "budget_forecaster", "job_cost_optimizer", "chargeback_attribution",
             "commitment_recommender", "tag_recommender"],
    "security": ["security_threat_detector", "exfiltration_detector", "privilege_escalation_detector",
                 "user_behavior_baseline"],
    "performance": ["query_performance_forecaster", "warehouse_optimizer", "cluster_capacity_planner",
                    "performance_regression_detector", "dbr_migration_risk_scorer", "cache_hit_predictor",
                    "query_optimization_recommender"],
    "reliability": ["job_failure_predictor", "job_duration_forecaster", "sla_breach_predictor",
                    "retry_success_predictor", "pipeline_health_scorer"],
    "quality": ["data_drift_detector", "data_freshness_predictor", "schema_change_predictor"],
}
IRREGULAR = {  # model -> (notebook stem, task key)
    "privilege_escalation_detector": ("train_privilege_escalation", "train_privilege_escalation_detector"),
    "query_performance_forecaster": ("train_query_forecaster", "train_query_forecaster"),
    "performance_regression_detector": ("train_regression_detector", "train_performance_regression_detector"),
    "job_failure_predictor": ("train_job_failure_predictor", "train_failure_predictor"),
    "job_duration_forecaster": ("train_job_duration_forecaster", "train_duration_forecaster"),
    "data_drift_detector": ("train_drift_detector", "train_drift_detector"),
    "data_freshness_predictor": ("train_freshness_predictor", "train_freshness_predictor"),
}


def test_the_documented_25_models_are_specs_with_their_domains_notebooks_and_tasks():
    for domain, names in DOCUMENTED.items():
        for name in names:
            stem, task_key = IRREGULAR.get(name, (f"train_{name}", f"train_{name}"))
            spec = MODELS[name]
            assert (spec.domain, spec.notebook, spec.task_key) == (domain, f"{domain}/{stem}", task_key), name


def test_specs_have_unique_tasks_notebooks_and_tables():
    specs = list(MODELS.values())
    assert len({s.task_key for s in specs}) == len(specs)
    assert len({s.notebook for s in specs}) == len(specs)
    assert len({s.prediction_table for s in specs}) == len(specs)
    assert {s.domain for s in specs} <= set(DOMAINS)
    for s in specs:
        assert s.kind in ("anomaly", "regression", "binary", "multiclass")
        assert (s.target is None) == (s.kind == "anomaly" or s.custom), s.name
        assert s.feature_table in TABLE_KEYS


def test_algorithms_are_the_real_ones():
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
    from xgboost import XGBClassifier

    from healthmon.ml.models.calibrated import CalibratedDetector

    expected = {"anomaly": CalibratedDetector, "regression": GradientBoostingRegressor, "binary": XGBClassifier}
    for s in MODELS.values():
        cols = list(s.features or feature_columns(s.feature_table))
        model = s.build(cols if not s.custom else [*cols, "job_name"])
        params = model.get_params(deep=True)
        kinds = {type(v) for v in params.values()} | {type(model)}
        want = RandomForestClassifier if s.custom else expected.get(s.kind, XGBClassifier)
        assert want in kinds, (s.name, kinds)
        # Two cores are shared by 25 training tasks: nothing may fan out.
        for key, value in params.items():
            if key.endswith("n_jobs"):
                assert value == 1, (s.name, key, value)


@pytest.mark.parametrize("spec", list(MODELS.values()), ids=lambda s: s.name)
def test_feature_selection_excludes_keys_label_and_non_features(spec):
    from healthmon.ml.features.label_history import history_column, history_specs
    from healthmon.ml.models.spec import HISTORY_STATS

    history = [history_column(s.target.name, stat) for s in history_specs(spec.feature_table)
               for stat in HISTORY_STATS]
    columns = [*TABLE_KEYS[spec.feature_table], *feature_columns(spec.feature_table), *history, "feature_timestamp",
               "user_type"]
    selected = spec.select_features(columns)
    assert selected, spec.name
    assert not set(selected) & set(spec.keys)
    assert not set(selected) & NON_FEATURE_COLUMNS
    if spec.target is not None:
        assert spec.target.name not in selected
        assert fr.LABEL not in selected
    assert set(selected) <= set(columns) or spec.custom


@pytest.mark.parametrize("spec", SUPERVISED, ids=lambda s: s.name)
def test_targets_depend_only_on_later_rows(spec):
    """Scrambling every row dated <= d (except the declared thresholds known at d) leaves the
    label of the rows dated d unchanged; changing the rows after d changes some labels."""
    frame = feature_frame(spec.feature_table, seed=3)
    if spec.enrich is not None:
        rng = np.random.default_rng(1)
        frame["failed_after_upgrade"] = (rng.random(len(frame)) < 0.4).astype(float)
        frame["upgrade_before_next"] = (rng.random(len(frame)) < 0.5).astype(float)
    entity, date = spec.keys
    labels = fr.derive_labels(spec, frame)
    assert labels.notna().sum() > 20, "the synthetic frame must yield labels"
    dates = pd.to_datetime(frame[date])
    d0 = dates.min() + pd.Timedelta(days=60)
    past = dates <= d0
    protected = set(spec.keys) | set(spec.target.reference_columns)
    scrambled = frame.copy()
    rng = np.random.default_rng(7)
    for col in frame.columns:
        if col not in protected and pd.api.types.is_numeric_dtype(frame[col]):
            scrambled.loc[past, col] = rng.permutation(frame.loc[past, col].to_numpy())
    at_d0 = (dates == d0).to_numpy()
    before = labels[at_d0].to_numpy()
    after = fr.derive_labels(spec, scrambled)[at_d0].to_numpy()
    np.testing.assert_array_equal(np.isnan(before), np.isnan(after))
    np.testing.assert_allclose(before[~np.isnan(before)], after[~np.isnan(after)])

    # Pushing one future source column to 0 or to a huge value must move some label at d.
    future = (dates > d0).to_numpy()
    moved = False
    for col in spec.target.source_columns:
        variants = []
        for value in (0.0, 1e9):
            changed = frame.copy()
            changed.loc[future, col] = value
            variants.append(fr.derive_labels(spec, changed)[at_d0].to_numpy())
        low, high = variants
        both = ~np.isnan(low) & ~np.isnan(high)
        moved |= bool((np.isnan(low) != np.isnan(high)).any() or not np.allclose(low[both], high[both]))
    assert moved, f"{spec.name}: label at d does not depend on the future"


@pytest.mark.parametrize("spec", SUPERVISED, ids=lambda s: s.name)
def test_target_source_columns_are_not_the_label_itself(spec):
    # The label is a new column; the feature table never holds a column of that name.
    assert spec.target.name not in feature_columns(spec.feature_table)
    assert spec.target.horizon_days >= 1
    assert spec.target.description


def test_forward_window_uses_only_the_next_days():
    from healthmon.ml.models.targets import forward_window

    frame = pd.DataFrame({"e": ["a"] * 10, "d": pd.date_range("2025-01-01", periods=10).date, "v": np.arange(10.0)})
    out = forward_window(frame, ("e", "d"), frame["v"], 3, "sum")
    assert out.iloc[0] == 1 + 2 + 3
    assert out.iloc[6] == 7 + 8 + 9
    assert np.isnan(out.iloc[7])  # the window would run past the data


def test_next_row_respects_the_gap():
    from healthmon.ml.models.targets import next_row

    frame = pd.DataFrame({"e": ["a", "a", "a", "b"], "d": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-20", "2025-01-01"]).date,
                          "v": [1.0, 2.0, 3.0, 4.0]})
    out = next_row(frame, ("e", "d"), frame["v"], max_gap_days=7)
    assert out.iloc[0] == 2.0
    assert np.isnan(out.iloc[1])  # next observation 18 days later: no label
    assert np.isnan(out.iloc[3])


def test_time_split_is_ordered_and_purged():
    dates = pd.Series(pd.date_range("2025-01-01", periods=100, freq="D"))
    split = fr.time_split(dates, gap_days=7)
    period = split.period(dates)
    train, val, test = (dates[period == p] for p in ("train", "validation", "test"))
    assert train.max() + pd.Timedelta(days=7) < val.min()
    assert val.max() + pd.Timedelta(days=7) < test.min()
    assert test.max() == dates.max()
    assert 50 <= len(train) + 7 <= 62 and len(test) == 20


def test_reading_the_specs_does_not_import_the_algorithms():
    """The server reads the specs for every page (ml.predictions): scikit-learn, SciPy and
    XGBoost are imported when a model is built or loaded, not then."""
    import subprocess
    import sys

    code = ("import sys, healthmon.ml.predictions, healthmon.ml.models; "
            "print(','.join(m for m in ('sklearn', 'scipy', 'xgboost') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
