"""No label can be read off the features at d: on a small generated account, a depth-3 decision
tree fitted on the training period must not predict any supervised model's label on the
validation period near-perfectly (ROC-AUC, or for forecasters R² of the change from the
seasonal-naive value, >= 0.98) unless the spec says why
(``ModelSpec.leakage_note``). A label that shares its window with a feature (the schema-change
label that counted the last 7 days) fails here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthmon.ml.models import MODELS
from healthmon.ml.models import frames as fr

NEAR_PERFECT = 0.98
SUPERVISED = [s for s in MODELS.values() if s.target is not None and not s.custom]


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    from healthmon.demodata import generate
    from healthmon.ml.features import create_feature_tables

    home = tmp_path_factory.mktemp("leakage_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEALTHMON_HOME", str(home))
        generate("leak", "gold", workspaces=4, days=120, seed=11, scale="small")
        create_feature_tables("leak", "gold", "ml")
        from healthmon.lakehouse import Lakehouse

        lh = Lakehouse.from_env()
        tables = {t: lh.read_table(f"leak.ml.{t}").to_pandas() for t in {s.feature_table for s in SUPERVISED}}
        gold = {}

        def read_gold(name):
            if name not in gold:
                gold[name] = lh.read_table(f"leak.gold.{name}").to_pandas()
            return gold[name]

        for name in ("dim_cluster", "fact_job_run_timeline", "fact_job_task_run_timeline"):
            read_gold(name)
    return tables, read_gold


def shallow_tree_score(spec, frame: pd.DataFrame, read_gold) -> tuple[float, int]:
    from sklearn.metrics import r2_score, roc_auc_score
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    frame = frame.sort_values(list(spec.keys)).reset_index(drop=True)
    labelled = spec.enrich(frame, read_gold) if spec.enrich else frame
    y = fr.derive_labels(spec, labelled).to_numpy(dtype=float)
    periods = fr.split_for(spec, frame).period(frame[spec.date_key]).to_numpy()
    X = fr.clean_features(frame, spec.select_features(list(frame.columns), fr.numeric_columns(frame)))
    train, val = (periods == "train") & ~np.isnan(y), (periods == "validation") & ~np.isnan(y)
    if spec.kind == "regression":
        # Forecast quantities persist (a 7-day sum is close to the last one), so the tree must
        # predict the CHANGE from the seasonal-naive value: that is what a leak would give away.
        y = y - spec.target.baseline(frame, spec.keys).to_numpy(dtype=float)
        train, val = train & ~np.isnan(y), val & ~np.isnan(y)
        if np.ptp(y[val]) == 0 if val.any() else True:
            return float("nan"), int(val.sum())  # a constant label: nothing to predict
        tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X[train], y[train])
        return float(r2_score(y[val], tree.predict(X[val]))), int(val.sum())
    yt, yv = y[train].astype(int), y[val].astype(int)
    if len(np.unique(yt)) < 2 or len(np.unique(yv)) < 2:
        return float("nan"), int(val.sum())
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X[train], yt)
    proba = tree.predict_proba(X[val])
    if spec.kind == "binary":
        return float(roc_auc_score(yv, proba[:, -1])), int(val.sum())
    present = [c for c in tree.classes_ if c in set(yv)]
    cols = [list(tree.classes_).index(c) for c in present]
    sub = proba[:, cols] / np.clip(proba[:, cols].sum(axis=1, keepdims=True), 1e-12, None)
    if len(present) == 2:
        return float(roc_auc_score((yv == present[1]).astype(int), sub[:, 1])), int(val.sum())
    return float(roc_auc_score(yv, sub, multi_class="ovr", labels=present)), int(val.sum())


@pytest.mark.slow
@pytest.mark.parametrize("spec", SUPERVISED, ids=lambda s: s.name)
def test_a_shallow_tree_cannot_read_the_label_off_the_features(spec, account):
    tables, read_gold = account
    score, rows = shallow_tree_score(spec, tables[spec.feature_table], read_gold)
    if score != score:
        pytest.skip(f"{spec.name}: a single class or a constant label in a period of the small account ({rows} validation rows)")
    if spec.leakage_note:
        return
    assert score < NEAR_PERFECT, f"{spec.name}: a depth-3 tree scores {score:.3f} on {rows} validation rows"


def test_schema_change_label_lies_strictly_after_d():
    """A breaking change on d itself or before never makes the label; one on d+1 does; a
    column added (not breaking) never does."""
    spec = MODELS["schema_change_predictor"]
    dates = pd.date_range("2025-01-01", periods=30, freq="D")
    breaking, changes = np.zeros(30), np.zeros(30)
    breaking[10] = 2  # two columns dropped on day 10
    changes[10], changes[20] = 2, 1  # and one column added on day 20
    frame = pd.DataFrame({"catalog_name": "c", "snapshot_date": dates.date, "schema_changes_1d": changes,
                          "breaking_schema_changes_1d": breaking,
                          "schema_changes_7d": pd.Series(changes).rolling(7, min_periods=1).sum()})
    y = fr.derive_labels(spec, frame).to_numpy()
    assert y[9] == 1  # the day before the change
    assert np.all(y[:9] == 0) and np.all(y[10:29] == 0)  # the change itself is the past; day 20's is not breaking
    assert np.isnan(y[29])  # the last day has no next day
